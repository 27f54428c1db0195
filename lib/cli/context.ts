/**
 * The commands' way into the library's session (lib/session.ts): the password from the
 * terminal, a password file or CLOUDY_PASSWORD, and notices on stderr.
 */
import type { Provider } from '../../providers/provider.js'
import type { CloudyPaths } from '../paths.js'
import { connect as connectWith, openSession as openWith, type Session } from '../session.js'
import { readPassword } from './password.js'
import { serviceFor } from './service-client.js'
import type { CliIo } from './io.js'

export { deviceIdentity, requireConfig, type Session } from '../session.js'

/** The provider at `url`, with this computer's credentials. */
export function connect(io: CliIo, paths: CloudyPaths, url: string, root: string | undefined, create?: boolean): Promise<Provider> {
  return connectWith(io.env, paths, url, root, (line) => io.stderr.write(line + '\n'), create)
}

/** The master password of an existing vault, from where the command was told (or the terminal). */
export function masterPassword(io: CliIo, passwordFile: string | undefined): Promise<string> {
  return readPassword({
    passwordFile,
    env: io.env,
    prompt: 'Master password: ',
    stdin: io.stdin,
    stderr: io.stderr as NodeJS.WriteStream,
  })
}

/**
 * Open everything a vault command needs. The caller must `close()` it. `exclusive`: the command
 * changes this computer's files or sync state (sync, restore) and runs alone on this computer.
 * `masterKey` is wiped once the vault is open.
 */
export function openSession(
  io: CliIo,
  argv: { passwordFile?: string },
  options: { exclusive?: boolean; masterKey?: { vaultId: string; key: Uint8Array } } = {},
): Promise<Session> {
  return openWith({
    env: io.env,
    exclusive: options.exclusive,
    password: () => masterPassword(io, argv.passwordFile),
    // The key this command already holds (setup, which just made the vault), or else an unlocked
    // service of this user gives it, unless a password was named for this command.
    masterKey: async () => {
      if (options.masterKey) return options.masterKey
      if (argv.passwordFile) return undefined
      const service = await serviceFor(io.env)
      if (!service) return undefined
      const r = await service.call<{ vaultId: string; key: string }>({ op: 'master-key' })
      return { vaultId: r.vaultId, key: Buffer.from(r.key, 'base64') }
    },
    notice: (line) => io.stderr.write(line + '\n'),
    onWait: () => io.stderr.write('Waiting for another sync or restore on this computer to finish...\n'),
    // A damaged state database is rebuilt from the vault, like a lost one, and the user told.
    onDamagedState: (aside, why) =>
      io.stderr.write(
        `cloudy: warning: the state database was damaged (${why}); it was moved aside to ${aside} and is rebuilt from the vault\n`,
      ),
  })
}
