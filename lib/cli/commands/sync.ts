/** `cloudy sync up` and `cloudy sync down`. */
import { createInterface } from 'node:readline/promises'
import { providerFolder } from '../../../providers/index.js'
import { EXIT, UsageError } from '../../errors.js'
import { applyDown, chooseItems, planDown } from '../../sync/down.js'
import type { PlanItem } from '../../sync/plan.js'
import { upSync } from '../../sync/up.js'
import { assertInChain, touchDevice } from '../../sync/chain.js'
import type { SyncWarning } from '../../sync/warnings.js'
import { openSession } from '../context.js'
import { formatBytes, Progress, type CliIo } from '../io.js'
import { settingsSource } from '../spaces.js'
import { planName } from '../items.js'
import { table } from '../table.js'

export interface SyncUpArgs {
  only?: string[]
  passwordFile?: string
  json?: boolean
}

export interface SyncDownArgs {
  preview?: boolean
  only?: string[]
  yes?: boolean
  passwordFile?: string
  json?: boolean
}

function printWarnings(io: CliIo, warnings: readonly SyncWarning[]): void {
  for (const w of warnings) io.stderr.write(`warning: ${w.message}\n`)
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

const time = (ms: number) => new Date(ms).toISOString().slice(0, 19).replace('T', ' ')

export function planTable(items: readonly PlanItem[]): string {
  if (items.length === 0) return 'Nothing to do: this computer is up to date.\n'
  const rows = items.map((it) => [
    it.op,
    it.item,
    it.local ? `${formatBytes(it.local.size)} ${time(it.local.mtimeMs)}` : '-',
    it.incoming ? `${formatBytes(it.incoming.size)} ${time(it.incoming.mtimeMs)} ${it.incoming.device}` : '-',
  ])
  const notes = items.filter((it) => it.op === 'conflict').map((it) => `conflict: ${it.item}: ${it.reason}\n`)
  const count = (op: string) => items.filter((it) => it.op === op).length
  const summary = `${items.length} items: ${count('add')} to add, ${count('update')} to update, ${count('delete')} to delete, ${count('conflict')} in conflict\n`
  return table(['ACTION', 'ITEM', 'LOCAL', 'INCOMING'], rows) + notes.join('') + summary
}

/** A plan item as `--json` prints it. */
function itemJson({ entry: _entry, ...rest }: PlanItem) {
  return rest
}

export async function syncDown(io: CliIo, args: SyncDownArgs): Promise<number> {
  const s = await openSession(io, args)
  try {
    await assertInChain(s.vault, s.device)
    const plan = await planDown({
      vault: s.vault,
      db: s.db,
      space: 'settings',
      device: s.device,
      allowUsernameMismatch: s.config.sync.allow_username_mismatch,
      configFile: s.paths.configFile,
    })
    const only = args.only?.map((p) => planName(p, s.paths.home))
    const chosen = chooseItems(plan.items, only)
    const summary = { space: plan.space, commit: plan.commit?.id, items: chosen.map(itemJson) }
    if (args.preview) {
      io.stdout.write(args.json ? JSON.stringify({ spaces: [summary] }) + '\n' : planTable(chosen))
      return EXIT.OK
    }
    if (chosen.length > 0 && !args.yes && io.stdin.isTTY && !args.json) {
      io.stdout.write(planTable(chosen))
      const rl = createInterface({ input: io.stdin, output: io.stderr })
      const answer = await rl.question('Apply these changes? [y/N] ')
      rl.close()
      if (!/^y(es)?$/i.test(answer.trim())) {
        io.stdout.write('Nothing was changed.\n')
        return EXIT.OK
      }
    }
    const progress = new Progress(io, 'down-sync settings')
    const r = await applyDown({ db: s.db, home: s.paths.home, only, onBytes: progress.add }, plan)
    progress.done()
    if (chosen.length > 0) await touchDevice(s.vault, s.device, 'seen')
    if (args.json) io.stdout.write(JSON.stringify({ spaces: [{ ...summary, applied: r.applied.map((it) => it.item) }] }) + '\n')
    else if (chosen.length === 0) io.stdout.write(planTable(chosen))
    else {
      io.stdout.write(`settings: applied ${r.applied.length} of ${r.plan.length} items\n`)
      for (const c of r.conflicts) io.stdout.write(`conflict: ${c.item}: ${c.reason}\n`)
    }
    printWarnings(io, r.warnings)
    return r.warnings.length || r.conflicts.length ? EXIT.PARTIAL : EXIT.OK
  } finally {
    await s.close()
  }
}
