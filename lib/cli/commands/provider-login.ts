/**
 * `cloudy provider login dropbox|gdrive`: OAuth in the browser, tokens into credentials.toml.
 * `--no-browser`: the address is opened on another device and the code pasted back here.
 * `cloudy provider key`: the OAuth client the chain uses, for another computer's login.
 */
import { createInterface } from 'node:readline/promises'
import { CredentialStore } from '../../credentials.js'
import { EXIT, UsageError } from '../../errors.js'
import { cloudyPaths } from '../../paths.js'
import { readClient, type OAuthKind } from '../../vault/oauth-client.js'
import { openSession } from '../context.js'
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

/** `cloudy provider key dropbox|gdrive`: the OAuth client the chain's vault is reached with, for another computer's login. */
export async function providerKey(io: CliIo, args: { kind: OAuthKind; passwordFile?: string; json?: boolean }): Promise<number> {
  const s = await openSession(io, args)
  try {
    const c = await readClient(s.vault, args.kind)
    if (!c) {
      throw new UsageError(
        `the vault remembers no ${args.kind === 'dropbox' ? 'Dropbox app key' : 'Google client'}: it is not on ${args.kind === 'dropbox' ? 'Dropbox' : 'Google Drive'}, or no computer reached it there yet`,
      )
    }
    if (args.json) io.stdout.write(JSON.stringify(c) + '\n')
    else if (c.kind === 'dropbox')
      io.stdout.write(`Dropbox app key: ${c.id}\nOn another computer: cloudy provider login dropbox --app-key ${c.id}\n`)
    else
      io.stdout.write(
        `Google client id: ${c.id}\n${c.secret ? `client secret: ${c.secret}\n` : ''}On another computer: cloudy provider login gdrive --client-id ${c.id}${c.secret ? ` --client-secret ${c.secret}` : ' --client-secret SECRET'}\n`,
      )
    return EXIT.OK
  } finally {
    await s.close()
  }
}
