/** `cloudy init`: create a vault on the chosen provider and set this computer up as its first device. */
import { hostname } from 'node:os'
import { join } from 'node:path'
import { describeProvider } from '../../../providers/index.js'
import type { Provider } from '../../../providers/provider.js'
import { defaultConfig, loadConfig, writeConfig, type Config } from '../../config.js'
import { CloudyError, EXIT } from '../../errors.js'
import { cloudyPaths, type CloudyPaths } from '../../paths.js'
import { touchDevice } from '../../sync/chain.js'
import { changeSelection } from '../../selection/records.js'
import { CATEGORIES } from '../../catalog/entry.js'
import { connect, deviceIdentity } from '../context.js'
import { randomBytes } from '../../vault/sodium.js'
import { Vault } from '../../vault/vault.js'
import type { CliIo } from '../io.js'
import { readPassword } from '../password.js'

export interface InitArgs {
  provider?: string
  root?: string
  kdf?: string
  /** This device's name in the chain (default: the host name). */
  name?: string
  /** Whether catalog applications found on a computer join the chain's selection (default true). */
  autoApps?: boolean
  /** The categories collected from the start (default: all). */
  collect?: string[]
  passwordFile?: string
  json?: boolean
}

/** The local folder a vault goes to when no provider is named. */
export function defaultProvider(env: NodeJS.ProcessEnv, home: string): string {
  const data = env.XDG_DATA_HOME || join(home, '.local', 'share')
  return `local:${join(data, 'cloudy', 'vault')}`
}

/** A computer is set up once: init and join refuse to overwrite an existing set-up. */
export async function refuseIfSetUp(paths: CloudyPaths): Promise<Config | undefined> {
  const existing = await loadConfig(paths.configFile)
  if (existing?.vault.provider) {
    throw new CloudyError(
      'EALREADY',
      EXIT.USAGE,
      `this computer is already set up with the vault at ${describeProvider(existing.vault.provider)} (${paths.configFile}); nothing was changed`,
    )
  }
  return existing
}

/** The config of a computer that just became a device of the vault at `url`. */
export function deviceConfig(existing: Config | undefined, url: string, root: string, name?: string): Config {
  return {
    ...existing,
    vault: { provider: url, root },
    device: { id: randomBytes(16).toString('hex'), name: name ?? existing?.device.name ?? hostname() },
    here: existing?.here ?? { include: [], skip: [] },
    sync: existing?.sync ?? defaultConfig().sync,
    mount: existing?.mount ?? defaultConfig().mount,
  }
}

export interface NewVaultChoices {
  url: string
  root: string
  kdf?: string
  name?: string
  autoApps?: boolean
  collect?: string[]
  /** Paths the chain collects from the start, as the selection keeps them (`~/…`). */
  include?: string[]
}

/**
 * Create the vault on `provider` and make this computer its first device: the vault, this
 * device's record, the chain's first selection, then config.toml last (until it is written,
 * this computer is not set up). The caller closes the vault.
 */
export async function createVault(
  paths: CloudyPaths,
  existing: Config | undefined,
  provider: Provider,
  password: string,
  c: NewVaultChoices,
): Promise<{ vault: Vault; config: Config }> {
  const vault = await Vault.create(provider, password, { kdf: c.kdf })
  try {
    const config = deviceConfig(existing, c.url, c.root, c.name)
    await touchDevice(vault, deviceIdentity(config, paths), 'join')
    // The first choices of the chain's selection (lib/selection/): only what differs from the defaults.
    const first: Record<string, boolean> = {}
    if (c.autoApps === false) first['apps:auto'] = false
    for (const cat of CATEGORIES) if (c.collect && !c.collect.includes(cat)) first[`category:${cat}`] = false
    for (const p of c.include ?? []) first[`include:${p}`] = true
    if (Object.keys(first).length) await changeSelection(vault, undefined, config.device.id!, first)
    await writeConfig(paths.configFile, config)
    return { vault, config }
  } catch (e) {
    vault.close()
    throw e
  }
}

export async function init(io: CliIo, args: InitArgs): Promise<number> {
  const paths = cloudyPaths(io.env)
  const existing = await refuseIfSetUp(paths)
  const url = args.provider ?? defaultProvider(io.env, paths.home)
  const root = args.root ?? 'Cloudy'
  const provider = await connect(io, paths, url, root, true)
  try {
    const password = await readPassword({
      passwordFile: args.passwordFile,
      env: io.env,
      prompt: 'New master password: ',
      confirm: true,
      stdin: io.stdin,
      stderr: io.stderr as NodeJS.WriteStream,
    })
    const { vault } = await createVault(paths, existing, provider, password, { ...args, url, root })
    try {
      if (args.json)
        io.stdout.write(
          JSON.stringify({ vaultId: vault.info.vaultId, provider: describeProvider(url), root, config: paths.configFile }) + '\n',
        )
      else {
        io.stdout.write(`Created vault ${vault.info.vaultId} at ${describeProvider(url)} (folder ${root}).\n`)
        io.stdout.write(`What is collected is chosen for the whole chain ("cloudy selection"); run "cloudy sync up" to send it.\n`)
      }
    } finally {
      vault.close()
    }
    return EXIT.OK
  } finally {
    await provider.close()
  }
}
