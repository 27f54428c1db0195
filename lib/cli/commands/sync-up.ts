/**
 * `cloudy sync up`: the library's up-sync of everything (lib/sync/up-all.ts), printed. Where a
 * running service holds the unlocked vault, it runs the up-sync; the printing is the same.
 */
import { EXIT } from '../../errors.js'
import { countChanges } from '../../sync/tree-changes.js'
import { changeWord } from '../../text/format.js'
import { syncUpAll, type UpAllResult } from '../../sync/up-all.js'
import { openSession } from '../context.js'
import { formatBytes, printWarnings, type CliIo } from '../io.js'
import { progressFor } from '../progress.js'
import { serviceFor } from '../service-client.js'

export interface SyncUpArgs {
  only?: string[]
  /** List the files behind the counts. */
  verbose?: boolean
  passwordFile?: string
  json?: boolean
}

/** The up-sync, in the running service where one holds the keys, else here. */
async function upAll(io: CliIo, args: SyncUpArgs): Promise<UpAllResult> {
  const service = await serviceFor(io.env)
  if (service) return service.call<UpAllResult>({ op: 'sync-up', only: args.only })
  const s = await openSession(io, args, { exclusive: true })
  try {
    return await syncUpAll(s, { only: args.only, progress: progressFor(io, args.json) })
  } finally {
    await s.close()
  }
}

export async function syncUp(io: CliIo, args: SyncUpArgs): Promise<number> {
  const { spaces: results, written, skipped, warnings } = await upAll(io, args)
  if (args.json) io.stdout.write(JSON.stringify({ spaces: results, written, skipped }) + '\n')
  else {
    for (const k of skipped) io.stdout.write(`${k.category}: skipped: ${k.why}\n`)
    for (const w of written)
      io.stdout.write(`${w.by}: ${w.commits.length ? `published ${w.commits.map((c) => c.slice(0, 12)).join(', ')}` : 'no change'}\n`)
    for (const r of results) {
      const n = countChanges(r.files)
      const what = r.commit ? `published ${r.commit.slice(0, 12)}: ${n.added} new, ${n.changed} changed, ${n.deleted} deleted` : 'no change'
      io.stdout.write(
        `${r.space}: ${what}; ${r.stats.blobsAdded} new blobs (${formatBytes(r.stats.plainBytes)}), ${r.stats.packsWritten} packs (${formatBytes(r.stats.packBytes)}) uploaded\n`,
      )
      if (args.verbose) for (const f of r.files) io.stdout.write(`  ${changeWord(f.change)}  ${f.path}${f.type === 'dir' ? '/' : ''}\n`)
    }
  }
  printWarnings(io, warnings)
  return warnings.length ? EXIT.PARTIAL : EXIT.OK
}
