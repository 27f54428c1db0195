/** `cloudy vault move --to URL`: the vault to another place; every computer follows (lib/vault/move.ts). */
import { describeProvider } from '../../../providers/index.js'
import { writeConfig } from '../../config.js'
import { EXIT } from '../../errors.js'
import { moveVault } from '../../vault/move.js'
import { connect, openSession } from '../context.js'
import { formatBytes, type CliIo } from '../io.js'
import { progressFor } from '../progress.js'

export interface VaultMoveArgs {
  to: string
  root?: string
  passwordFile?: string
  json?: boolean
}

export async function vaultMove(io: CliIo, args: VaultMoveArgs): Promise<number> {
  // Alone on this computer: no sync of its own writes at the old place meanwhile.
  const s = await openSession(io, args, { exclusive: true })
  try {
    const root = args.root ?? s.config.vault.root ?? 'Cloudy'
    const to = await connect(io, s.paths, args.to, root, true)
    try {
      const bar = progressFor(io, args.json)('vault move')
      const r = await moveVault(s.vault, s.provider, { provider: to, url: args.to, root }, s.device.name, bar)
      await writeConfig(s.paths.configFile, { ...s.config, vault: { ...s.config.vault, provider: args.to, root } })
      if (args.json) io.stdout.write(JSON.stringify({ to: describeProvider(args.to), root, ...r }) + '\n')
      else {
        io.stdout.write(
          `Moved the vault to ${describeProvider(args.to)} (folder ${root}): ${r.objects} objects, ${formatBytes(r.bytes)} copied and read back.\n`,
        )
        io.stdout.write(
          `Every other computer of the chain follows at its next sync (each needs access to the new place: credentials.toml).\n` +
            `The old place keeps its objects and a sealed pointer to the new one; remove it once every computer has followed.\n`,
        )
      }
      return EXIT.OK
    } finally {
      await to.close()
    }
  } finally {
    await s.close()
  }
}
