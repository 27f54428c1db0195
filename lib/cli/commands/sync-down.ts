/** `cloudy sync down`: plan, preview, ask, apply. */
import { createInterface } from 'node:readline/promises'
import { EXIT } from '../../errors.js'
import { assertInChain, touchDevice } from '../../sync/chain.js'
import { applyDown, chooseItems, type DownPlan, type DownSyncResult } from '../../sync/down.js'
import type { PlanItem } from '../../sync/plan.js'
import { planTable } from '../plan-table.js'
import { openSession } from '../context.js'
import { printWarnings, Progress, type CliIo } from '../io.js'
import { planName } from '../items.js'
import { spaceSources } from '../spaces.js'
import { planSpace } from '../plan-space.js'
import { providerFolder } from '../../../providers/index.js'

export interface SyncDownArgs {
  preview?: boolean
  only?: string[]
  yes?: boolean
  passwordFile?: string
  json?: boolean
}

/** A plan item as `--json` prints it. */
function itemJson({ entry: _entry, ...rest }: PlanItem) {
  return rest
}

export async function syncDown(io: CliIo, args: SyncDownArgs): Promise<number> {
  const s = await openSession(io, args, { exclusive: !args.preview })
  try {
    await assertInChain(s.vault, s.device, s.db)
    const sources = spaceSources(s.config, s.paths, providerFolder(s.config.vault.provider!, s.config.vault.root))
    const plans: DownPlan[] = []
    for (const source of sources) {
      plans.push(await planSpace(s, source))
    }
    const only = args.only?.map((p) => planName(p, s.paths.home))
    const chosen = plans.map((plan) => chooseItems(plan.items, only))
    const all = chosen.flat()
    const summary = plans.map((plan, i) => ({ space: plan.space, commit: plan.commit?.id, items: chosen[i]!.map(itemJson) }))
    if (args.preview) {
      io.stdout.write(args.json ? JSON.stringify({ spaces: summary }) + '\n' : planTable(all))
      return EXIT.OK
    }
    if (all.length > 0 && !args.yes && io.stdin.isTTY && !args.json) {
      io.stdout.write(planTable(all))
      const rl = createInterface({ input: io.stdin, output: io.stderr })
      const answer = await rl.question('Apply these changes? [y/N] ')
      rl.close()
      if (!/^y(es)?$/i.test(answer.trim())) {
        io.stdout.write('Nothing was changed.\n')
        return EXIT.OK
      }
    }
    const results: DownSyncResult[] = []
    for (const [i, plan] of plans.entries()) {
      const progress = new Progress(io, `down-sync ${plan.space}`)
      results.push(await applyDown({ db: s.db, home: sources[i]!.root, only, onBytes: progress.add }, plan))
      progress.done()
    }
    if (all.length > 0) await touchDevice(s.vault, s.device, 'seen')
    if (args.json)
      io.stdout.write(
        JSON.stringify({ spaces: summary.map((sp, i) => ({ ...sp, applied: results[i]!.applied.map((it) => it.item) })) }) + '\n',
      )
    else if (all.length === 0) io.stdout.write(planTable(all))
    else
      for (const r of results) {
        io.stdout.write(`${r.space}: applied ${r.applied.length} of ${r.plan.length} items\n`)
        for (const c of r.conflicts) io.stdout.write(`conflict: ${c.item}: ${c.reason}\n`)
      }
    const warnings = results.flatMap((r) => r.warnings)
    printWarnings(io, warnings)
    // Items whose data is damaged in the vault were listed and not applied; the rest was.
    if (warnings.some((w) => w.code === 'EINTEGRITY')) return EXIT.INTEGRITY
    return warnings.length || results.some((r) => r.conflicts.length) ? EXIT.PARTIAL : EXIT.OK
  } finally {
    await s.close()
  }
}
