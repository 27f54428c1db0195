/**
 * `cloudy provider login dropbox|gdrive`: OAuth in the browser, tokens into credentials.toml.
 * `--no-browser`: the address is opened on another device and the code pasted back here.
 */
import { createInterface } from 'node:readline/promises'
import { CredentialStore } from '../../credentials.js'
import { EXIT, UsageError } from '../../errors.js'
import { cloudyPaths } from '../../paths.js'
import type { CliIo } from '../io.js'
import { TerminalInput } from '../terminal-input.js'

/** One line from the user: typed on a terminal, or the next line of a pipe (a script pastes it). */
function lineAsker(io: CliIo): { ask(question: string): Promise<string>; close(): void } {
  if (io.stdin.isTTY) {
    const input = new TerminalInput(io.stdin, io.stderr)
    return { ask: (q) => input.line(q), close: () => input.close() }
  }
  // Lines may arrive before they are asked for (a script writes its answer at once): queued.
  const rl = createInterface({ input: io.stdin, terminal: false })
  const lines: string[] = []
  let ended = false
  let wake: (() => void) | undefined
  rl.on('line', (l) => {
    lines.push(l)
    wake?.()
  })
  rl.on('close', () => {
    ended = true
    wake?.()
  })
  return {
    async ask(question) {
      io.stderr.write(question + '\n')
      while (!lines.length) {
        if (ended) throw new UsageError('the input ended before the code was pasted; nothing was changed')
        await new Promise<void>((resolve) => (wake = resolve))
      }
      return lines.shift()!
    },
    close: () => rl.close(),
  }
}

export async function providerLogin(
  io: CliIo,
  args: { kind: 'dropbox' | 'gdrive'; noBrowser?: boolean; options: Record<string, string | undefined> },
): Promise<number> {
  const paths = cloudyPaths(io.env)
  const asker = args.noBrowser ? lineAsker(io) : undefined
  const context = {
    credentials: new CredentialStore(paths.credentialsFile),
    env: io.env,
    say: (text: string) => void io.stderr.write(text.endsWith('\n') ? text : text + '\n'),
    options: args.options,
    noBrowser: args.noBrowser,
    ask: asker && ((question: string) => asker.ask(question)),
  }
  try {
    if (args.kind === 'dropbox') await (await import('../../../providers/dropbox.js')).loginDropbox(context)
    else await (await import('../../../providers/gdrive.js')).loginGdrive(context)
  } finally {
    asker?.close()
  }
  io.stdout.write(`Connected to ${args.kind === 'dropbox' ? 'Dropbox' : 'Google Drive'}; the tokens are in ${paths.credentialsFile}.\n`)
  return EXIT.OK
}
