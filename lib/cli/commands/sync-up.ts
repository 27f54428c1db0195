/** `cloudy sync up`. */
import { providerFolder } from '../../../providers/index.js'
import { EXIT, UsageError } from '../../errors.js'
import { assertInChain, touchDevice } from '../../sync/chain.js'
import { upSync } from '../../sync/up.js'
import { openSession } from '../context.js'
import { formatBytes, printWarnings, Progress, type CliIo } from '../io.js'
import { settingsSource } from '../spaces.js'

export interface SyncUpArgs {
  only?: string[]
  passwordFile?: string
  json?: boolean
}

export async function syncUp(io: CliIo, args: SyncUpArgs): Promise<number> {
  const s = await openSession(io, args)
  try {
    await assertInChain(s.vault, s.device)
    const source = settingsSource(s.config, s.paths, providerFolder(s.config.vault.provider!, s.config.vault.root))
    if (args.only?.length && !args.only.includes(source.space))
      throw new UsageError(`--only: unknown space "${args.only.join(', ')}"; spaces: settings`)
    const progress = new Progress(io, `up-sync ${source.space}`)
    const r = await upSync({
      vault: s.vault,
      db: s.db,
      device: s.device,
      space: source.space,
      include: source.include,
      excluded: source.excluded,
      onBytes: progress.add,
    })
    progress.done()
    await touchDevice(s.vault, s.device, r.commit ? 'up' : 'seen')
    if (args.json) io.stdout.write(JSON.stringify({ spaces: [r] }) + '\n')
    else {
      const what = r.commit ? `published ${r.commit.slice(0, 12)}` : 'no change'
      io.stdout.write(
        `${r.space}: ${what}; ${r.stats.blobsAdded} new blobs (${formatBytes(r.stats.plainBytes)}), ${r.stats.packsWritten} packs (${formatBytes(r.stats.packBytes)}) uploaded\n`,
      )
    }
    printWarnings(io, r.warnings)
    return r.warnings.length ? EXIT.PARTIAL : EXIT.OK
  } finally {
    await s.close()
  }
}
