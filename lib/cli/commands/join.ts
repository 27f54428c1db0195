/** `cloudy join`: make this computer (and OS user) a device of an existing vault's chain. */
import { describeProvider } from '../../../providers/index.js'
import { writeConfig } from '../../config.js'
import { EXIT } from '../../errors.js'
import { cloudyPaths } from '../../paths.js'
import { listChain, touchDevice } from '../../sync/chain.js'
import { Vault } from '../../vault/vault.js'
import { connect, deviceIdentity, masterPassword } from '../context.js'
import type { CliIo } from '../io.js'
import { deviceConfig, refuseIfSetUp } from './init.js'

export interface JoinArgs {
  provider?: string
  root?: string
  name?: string
  passwordFile?: string
  json?: boolean
}

export async function join(io: CliIo, args: JoinArgs): Promise<number> {
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
