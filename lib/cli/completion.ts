/**
 * Shell completion, by yargs (it knows every command, option and choice): each shell's script
 * passes the words typed so far to `cloudy --get-yargs-completions` and offers what comes back.
 * The script sets SHELL for that call, since yargs picks its answer's format (plain words,
 * zsh's `name:description`, fish's `name<TAB>description`) from it, and the user's login shell
 * need not be the one asking.
 */
export const SHELLS = ['bash', 'zsh', 'fish'] as const
export type Shell = (typeof SHELLS)[number]

export const COMPLETE_FLAG = '--get-yargs-completions'

const SCRIPTS: Record<Shell, string> = {
  bash: `# cloudy completion for bash: cloudy completion bash >> ~/.bashrc
_cloudy_completions() {
  local IFS=$'\\n' words
  words=$(SHELL=bash cloudy ${COMPLETE_FLAG} "\${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null) || return 0
  COMPREPLY=($(compgen -W "$words" -- "\${COMP_WORDS[COMP_CWORD]}"))
}
complete -o bashdefault -o default -F _cloudy_completions cloudy
`,
  zsh: `#compdef cloudy
# cloudy completion for zsh: cloudy completion zsh >> ~/.zshrc
_cloudy_completions() {
  local -a candidates
  candidates=("\${(@f)$(SHELL=zsh cloudy ${COMPLETE_FLAG} "\${(@)words[2,CURRENT]}" 2>/dev/null)}")
  if (( \${#candidates} )); then _describe 'cloudy' candidates; else _default; fi
}
compdef _cloudy_completions cloudy
`,
  fish: `# cloudy completion for fish: cloudy completion fish > ~/.config/fish/completions/cloudy.fish
complete -c cloudy -f -a '(SHELL=fish cloudy ${COMPLETE_FLAG} (commandline -opc)[2..-1] (commandline -ct) 2>/dev/null)'
`,
}

export function completionScript(shell: Shell): string {
  return SCRIPTS[shell]
}
