/**
 * `cloudy join`: make this computer (and OS user) a device of an existing vault's chain;
 * `cloudy join --again`: the same for a computer that was removed from the chain.
 */
import { existsSync, renameSync } from 'node:fs'
import { describeProvider } from '../../../providers/index.js'
import { writeConfig } from '../../config.js'
import { CloudyError, EXIT, UsageError } from '../../errors.js'
import { cloudyPaths } from '../../paths.js'
import { listChain, readChain, touchDevice } from '../../sync/chain.js'
import { randomBytes } from '../../vault/sodium.js'
import { readMoved } from '../../vault/moved.js'
import { Vault } from '../../vault/vault.js'
import { connect, deviceIdentity, masterPassword, openSession } from '../context.js'
import type { CliIo } from '../io.js'
import { serviceFor } from '../service-client.js'
import { deviceConfig, refuseIfSetUp } from './init.js'

export interface JoinArgs {
  /** Rejoin the chain this computer was removed from, as a new device. */
  again?: boolean
  provider?: string
  root?: string
  name?: string
  passwordFile?: string
  json?: boolean
}

export async function join(io: CliIo, args: JoinArgs): Promise<number> {
  if (args.again) return joinAgain(io, args)
  const paths = cloudyPaths(io.env)
  const existing = await refuseIfSetUp(paths)
  const url = args.provider!
  const root = args.root ?? 'Cloudy'
  const provider = await connect(io, paths, url, root)
  try {
    // Unlocking proves the password (exit 3) and that a vault is there (exit 4) before anything is written.
    const password = await masterPassword(io, args.passwordFile)
    const vault = await Vault.unlock(provider, password)
    try {
      const moved = await readMoved(vault)
      if (moved)
        throw new UsageError(
          `the vault moved to ${describeProvider(moved.provider)} (by ${moved.byName}); join it there: cloudy join --provider '${moved.provider}' --root '${moved.root}'`,
        )
      const config = deviceConfig(existing, url, root, args.name)
      const device = deviceIdentity(config, paths)
      const record = await touchDevice(vault, device, 'join')
      await writeConfig(paths.configFile, config)
      const devices = await listChain(vault)
      if (args.json) io.stdout.write(JSON.stringify({ vaultId: vault.info.vaultId, device: record, devices: devices.length }) + '\n')
      else {
        io.stdout.write(
          `Joined vault ${vault.info.vaultId} at ${describeProvider(url)} as "${record.name}" (${devices.length} devices in the chain).\n`,
        )
        io.stdout.write(`Run "cloudy sync down --preview" to see what the chain would bring here.\n`)
      }
    } finally {
      vault.close()
    }
    return EXIT.OK
  } finally {
    await provider.close()
  }
}

/**
 * A removed device stays removed (its tag's marker is permanent: what it up-syncs is ignored),
 * so a computer comes back as a new device of the same vault. Its state database goes aside
 * (kept, never deleted) and the first down-sync treats it as a computer that joins with files
 * of its own: where they differ from the chain's, both versions are kept. HOME, the mount's
 * journals and credentials stay as they are.
 */
async function joinAgain(io: CliIo, args: JoinArgs): Promise<number> {
  if (args.provider) throw new UsageError('"join --again" rejoins the vault this computer was set up with: leave out --provider')
  if (await serviceFor(io.env, { unlocked: false }))
    throw new UsageError(
      'the Cloudy service runs on this computer: stop it first ("systemctl --user stop cloudy"), then run "cloudy join --again"',
    )
  const s = await openSession(io, args, { exclusive: true })
  let aside: string | undefined
  let name: string
  try {
    const tag = s.vault.deviceTag(s.device.id)
    const removed = (await readChain(s.vault, s.db)).removals.get(tag)?.removal
    if (!removed)
      throw new CloudyError(
        'ENOTREMOVED',
        EXIT.USAGE,
        `this computer (${s.device.name}) is in the chain; "join --again" is for a computer that was removed`,
      )
    const config = { ...s.config, device: { ...s.config.device, id: randomBytes(16).toString('hex'), name: args.name ?? s.device.name } }
    await touchDevice(s.vault, deviceIdentity(config, s.paths), 'join')
    await writeConfig(s.paths.configFile, config)
    name = config.device.name
    // Moved while the sync lock is held, so no other command of this computer opens it meanwhile.
    s.db.close()
    aside = `${s.paths.stateDb}.before-rejoin-${new Date().toISOString().replace(/[:.]/g, '-')}`
    for (const ext of ['', '-wal', '-shm']) if (existsSync(s.paths.stateDb + ext)) renameSync(s.paths.stateDb + ext, aside + ext)
  } finally {
    await s.close()
  }
  if (args.json) io.stdout.write(JSON.stringify({ rejoined: true, name, stateAside: aside }) + '\n')
  else {
    io.stdout.write(`Rejoined the chain as a new device "${name}". The earlier state database is kept at ${aside}.\n`)
    io.stdout.write(
      `Run "cloudy sync down --preview" to see what the chain would bring here; where files differ, both versions are kept.\n`,
    )
  }
  return EXIT.OK
}
