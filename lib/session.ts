/**
 * What every operation on the vault works with: where local state lives, the config, the
 * provider, the unlocked vault, the state database and this computer's identity. The command
 * line, the mount and the service open one the same way; only where the password comes from and
 * where notices go differ. Each step fails with the error of its kind (exit code).
 */
import { hostname, userInfo } from 'node:os'
import { join } from 'node:path'
import { describeProvider, openProvider } from '../providers/index.js'
import type { Provider } from '../providers/provider.js'
import { loadConfig, writeConfig, type Config } from './config.js'
import { CredentialStore } from './credentials.js'
import { CloudyError, EXIT, NoVaultError } from './errors.js'
import { cloudyPaths, type CloudyPaths } from './paths.js'
import { StateDb } from './state/db.js'
import { settleEpoch } from './state/epoch-change.js'
import { acquireSyncLock } from './state/lock.js'
import { privateDir } from './state/private-file.js'
import type { DeviceIdentity } from './sync/up.js'
import { formatTime } from './text/format.js'
import { catchUp } from './vault/move.js'
import { readMoved } from './vault/moved.js'
import { oauthKind, readClient, writeClient } from './vault/oauth-client.js'
import { Vault } from './vault/vault.js'

export interface Session {
  paths: CloudyPaths
  /** The environment the operation runs in (XDG variables, PATH: what the catalog looks at). */
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

/** The provider at `url`, with this computer's credentials; `notice` takes lines for the user. */
export function connect(
  env: NodeJS.ProcessEnv,
  paths: CloudyPaths,
  url: string,
  root: string | undefined,
  notice?: (line: string) => void,
  create?: boolean,
): Promise<Provider> {
  return openProvider(url, { root, credentials: new CredentialStore(paths.credentialsFile), env, notice, create })
}

export interface SessionOptions {
  env: NodeJS.ProcessEnv
  /** The master password, asked only once the provider is reached… */
  password: () => Promise<string>
  /** …unless this gives the master key (this user's unlocked service). */
  masterKey?: () => Promise<{ vaultId: string; key: Uint8Array } | undefined>
  /** The operation changes this computer's files or sync state (sync, restore): it runs alone on this computer. */
  exclusive?: boolean
  /** Said while another sync or restore on this computer holds the lock. */
  onWait?: () => void
  /** Said when a damaged state database was moved aside (it is rebuilt from the vault). */
  onDamagedState?: (aside: string, why: string) => void
  /** Lines for the user from below (the provider's). */
  notice?: (line: string) => void
}

/**
 * The vault at its current place: where it moved (`cloudy vault move`), this computer follows,
 * bringing along what it published at the old place unseen by the move, and remembers the new
 * place in config.toml. Moves of a move are followed too, a few at most.
 */
async function followMoves(
  o: SessionOptions,
  paths: CloudyPaths,
  config: Config,
  provider: Provider,
  vault: Vault,
): Promise<{ config: Config; provider: Provider; vault: Vault }> {
  for (let hops = 0; hops < 4; hops++) {
    const moved = await readMoved(vault)
    if (!moved) return { config, provider, vault }
    o.notice?.(
      `cloudy: the vault moved to ${describeProvider(moved.provider)} (by ${moved.byName}, ${formatTime(moved.time)}); this computer follows it`,
    )
    const next = await connect(o.env, paths, moved.provider, moved.root, o.notice)
    try {
      const key = vault.masterKeyCopy()
      const there = await Vault.withMasterKey(next, vault.info.vaultId, key)
      key.fill(0)
      await catchUp(provider, next, vault.deviceTag(config.device.id!))
      config = { ...config, vault: { ...config.vault, provider: moved.provider, root: moved.root } }
      await writeConfig(paths.configFile, config)
      vault.close()
      await provider.close()
      ;[provider, vault] = [next, there]
    } catch (e) {
      await next.close()
      throw e
    }
  }
  throw new CloudyError(
    'EMOVED',
    EXIT.USAGE,
    `the vault's "moved" pointers lead on and on from ${provider.name}: fix config.toml [vault] by hand`,
  )
}

/**
 * A vault on Dropbox or Drive remembers the OAuth client it is reached with (the first
 * computer's), so that `cloudy provider key` can tell another computer which one to log in
 * with; a computer using another is told. Looked at once per client on each computer.
 */
async function rememberClient(o: SessionOptions, paths: CloudyPaths, config: Config, vault: Vault, db: StateDb): Promise<void> {
  const kind = oauthKind(config.vault.provider!)
  if (!kind) return
  const table = await new CredentialStore(paths.credentialsFile).section(kind)
  const id = kind === 'dropbox' ? table?.app_key : table?.client_id
  if (!id || db.getMeta(`client:${kind}`) === id) return
  const known = await readClient(vault, kind)
  if (!known)
    await writeClient(vault, { format: 1, kind, id, ...(kind === 'gdrive' && table?.client_secret ? { secret: table.client_secret } : {}) })
  else if (known.id !== id) {
    o.notice?.(
      `cloudy: this computer reaches the vault with ${kind === 'dropbox' ? 'Dropbox app key' : 'Google client id'} ${id}, the chain with ${known.id}: ` +
        `log in with the chain's ("cloudy provider key ${kind}" shows it) so that every computer uses one`,
    )
    return
  }
  db.setMeta(`client:${kind}`, id)
}

/** Open everything an operation on the vault needs. The caller must `close()` it. */
export async function openSession(o: SessionOptions): Promise<Session> {
  const paths = cloudyPaths(o.env)
  let config = await requireConfig(paths)
  let provider = await connect(o.env, paths, config.vault.provider!, config.vault.root, o.notice)
  try {
    const given = await o.masterKey?.()
    let vault = given ? await Vault.withMasterKey(provider, given.vaultId, given.key) : await Vault.unlock(provider, await o.password())
    if (given) given.key.fill(0)
    ;({ config, provider, vault } = await followMoves(o, paths, config, provider, vault))
    const lock = o.exclusive ? await acquireSyncLock(join(paths.stateDir, 'sync.lock'), () => o.onWait?.()) : undefined
    const db = StateDb.open(paths.stateDb, (aside, why) => o.onDamagedState?.(aside, why))
    settleEpoch(vault, db)
    await rememberClient(o, paths, config, vault, db)
    return {
      paths,
      env: o.env,
      config,
      provider,
      vault,
      db,
      device: deviceIdentity(config, paths),
      async close() {
        // What a failed run still has on its way is stored (or fails) with the keys it began with.
        await vault.settle()
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
