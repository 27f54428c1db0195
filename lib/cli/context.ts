/**
 * Shared set-up of the commands: where local state lives, the config, the provider, the
 * password and the unlocked vault. Each step fails with the error of its kind (exit code).
 */
import { hostname, userInfo } from 'node:os'
import { join } from 'node:path'
import { openProvider } from '../../providers/index.js'
import { CredentialStore } from '../credentials.js'
import type { Provider } from '../../providers/provider.js'
import { loadConfig, type Config } from '../config.js'
import { NoVaultError } from '../errors.js'
import { cloudyPaths, type CloudyPaths } from '../paths.js'
import { StateDb } from '../state/db.js'
import { acquireSyncLock } from '../state/lock.js'
import { privateDir } from '../state/private-file.js'
import type { DeviceIdentity } from '../sync/up.js'
import { Vault } from '../vault/vault.js'
import { readPassword } from './password.js'
import type { CliIo } from './io.js'

export interface Session {
  paths: CloudyPaths
  /** The environment the command runs in (XDG variables, PATH: what the catalog looks at). */
  env: NodeJS.ProcessEnv
  config: Config
  provider: Provider
  vault: Vault
  db: StateDb
  device: DeviceIdentity
  close(): Promise<void>
}

/** Config of an initialised computer, or exit 4 telling how to set one up. */
export async function requireConfig(paths: CloudyPaths): Promise<Config> {
  for (const dir of new Set([paths.configDir, paths.stateDir, paths.cacheDir])) privateDir(dir)
  const config = await loadConfig(paths.configFile)
  if (!config?.vault.provider || !config.device.id) {
    throw new NoVaultError(
      `this computer is not set up for Cloudy (no vault in ${paths.configFile}): run "cloudy init" to create a vault or "cloudy join" to join one`,
    )
  }
  return config
}

export function deviceIdentity(config: Config, paths: CloudyPaths): DeviceIdentity {
  return {
    id: config.device.id!,
    name: config.device.name ?? hostname(),
    username: userInfo().username,
    hostname: hostname(),
    home: paths.home,
  }
}

/** The provider at `url`, with this computer's credentials. */
export function connect(io: CliIo, paths: CloudyPaths, url: string, root: string | undefined): Promise<Provider> {
  return openProvider(url, { root, credentials: new CredentialStore(paths.credentialsFile), env: io.env })
}

/**
 * Open everything a vault command needs. The caller must `close()` it. `exclusive`: the command
 * changes this computer's files or sync state (sync, restore) and runs alone on this computer.
 */
export async function openSession(io: CliIo, argv: { passwordFile?: string }, options: { exclusive?: boolean } = {}): Promise<Session> {
  const paths = cloudyPaths(io.env)
  const config = await requireConfig(paths)
  const provider = await connect(io, paths, config.vault.provider!, config.vault.root)
  try {
    const password = await readPassword({
      passwordFile: argv.passwordFile,
      env: io.env,
      prompt: 'Master password: ',
      stdin: io.stdin,
      stderr: io.stderr as NodeJS.WriteStream,
    })
    const vault = await Vault.unlock(provider, password)
    const lock = options.exclusive
      ? await acquireSyncLock(join(paths.stateDir, 'sync.lock'), () =>
          io.stderr.write('Waiting for another sync or restore on this computer to finish...\n'),
        )
      : undefined
    // A damaged state database is rebuilt from the vault, like a lost one, and the user told.
    const db = StateDb.open(paths.stateDb, (aside, why) =>
      io.stderr.write(
        `cloudy: warning: the state database was damaged (${why}); it was moved aside to ${aside} and is rebuilt from the vault\n`,
      ),
    )
    return {
      paths,
      env: io.env,
      config,
      provider,
      vault,
      db,
      device: deviceIdentity(config, paths),
      async close() {
        vault.close()
        db.close()
        lock?.release()
        await provider.close()
      },
    }
  } catch (e) {
    await provider.close()
    throw e
  }
}
