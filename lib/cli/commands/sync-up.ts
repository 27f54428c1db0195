/** `cloudy sync up`. */
import { providerFolder } from '../../../providers/index.js'
import { EXIT, UsageError } from '../../errors.js'
import { assertInChain, touchDevice } from '../../sync/chain.js'
import { upSync, type UpSyncResult } from '../../sync/up.js'
import { openSession } from '../context.js'
import { formatBytes, printWarnings, Progress, type CliIo } from '../io.js'
import { spaceSources } from '../spaces.js'

export interface SyncUpArgs {
  only?: string[]
  passwordFile?: string
  json?: boolean
}

export async function syncUp(io: CliIo, args: SyncUpArgs): Promise<number> {
  const s = await openSession(io, args, { exclusive: true })
  try {
    await assertInChain(s.vault, s.device)
    const sources = spaceSources(s.config, s.paths, providerFolder(s.config.vault.provider!, s.config.vault.root))
    const unknown = (args.only ?? []).filter((o) => !sources.some((src) => src.space === o))
    if (unknown.length)
      throw new UsageError(`--only: unknown space "${unknown.join(', ')}"; spaces: ${sources.map((src) => src.space).join(', ')}`)
    const results: UpSyncResult[] = []
    // One commit per changed space, each on its own: a failure in one leaves the others published.
    for (const source of sources.filter((src) => !args.only?.length || args.only.includes(src.space))) {
      const progress = new Progress(io, `up-sync ${source.space}`)
      results.push(
        await upSync({
          vault: s.vault,
          db: s.db,
          device: { ...s.device, home: source.root },
          space: source.space,
          include: source.include,
          excluded: source.excluded,
          onBytes: progress.add,
        }),
      )
      progress.done()
    }
    await touchDevice(s.vault, s.device, results.some((r) => r.commit) ? 'up' : 'seen')
    if (args.json) io.stdout.write(JSON.stringify({ spaces: results }) + '\n')
    else
      for (const r of results) {
        const what = r.commit ? `published ${r.commit.slice(0, 12)}` : 'no change'
        io.stdout.write(
          `${r.space}: ${what}; ${r.stats.blobsAdded} new blobs (${formatBytes(r.stats.plainBytes)}), ${r.stats.packsWritten} packs (${formatBytes(r.stats.packBytes)}) uploaded\n`,
        )
      }
    const warnings = results.flatMap((r) => r.warnings)
    printWarnings(io, warnings)
    return warnings.length ? EXIT.PARTIAL : EXIT.OK
  } finally {
    await s.close()
  }
}
