/** `cloudy sync down`: plan, preview, ask, apply. */
import { createInterface } from 'node:readline/promises'
import { EXIT } from '../../errors.js'
import { assertInChain, touchDevice } from '../../sync/chain.js'
import { applyDown, chooseItems, type DownPlan, type DownSyncResult } from '../../sync/down.js'
import type { PlanItem } from '../../sync/plan.js'
import { planTable } from '../plan-table.js'
import { openSession } from '../context.js'
import { printWarnings, Progress, type CliIo } from '../io.js'
import { onlyItems } from '../items.js'
import { sessionPlan } from '../spaces.js'
import { missingApps, missingLines } from '../missing.js'
import { applyStaged, stageSource } from '../../sources/staged.js'
import type { SyncWarning } from '../../sync/warnings.js'
import { runningProcess, runningProcessNames } from '../../catalog/running.js'
import { planSpace } from '../plan-space.js'

export interface SyncDownArgs {
  preview?: boolean
  only?: string[]
  yes?: boolean
  /** Apply the items of applications that are running too. */
  force?: boolean
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
    const { sources, skipped } = await sessionPlan(s)
    const plans: DownPlan[] = []
    const stagedWarnings: SyncWarning[] = []
    for (const source of sources) {
      // Staged files mirror what they stand for now (dconf, /etc/hosts), so that a setting changed
      // here and not sent is a local change the plan keeps, not something the chain overwrites.
      stagedWarnings.push(...(await stageSource(source, s.env, s.db)))
      plans.push(await planSpace(s, source))
    }
    const only = onlyItems(args.only, sources, s.paths.home)
    const chosen = plans.map((plan) => chooseItems(plan.items, only))
    const all = chosen.flat()
    // An application that is running is not written under: its items wait for it to exit.
    const names = runningProcessNames()
    const waiting = sources.map((src, i) => {
      const proc = src.app && !args.force && chosen[i]!.length ? runningProcess(src.app, names) : undefined
      return proc && `${src.app!.id} is running (process ${proc})`
    })
    const summary = plans.map((plan, i) => ({
      space: sources[i]!.label,
      commit: plan.commit?.id,
      items: chosen[i]!.map(itemJson),
      ...(waiting[i] ? { waiting: waiting[i] } : {}),
    }))
    const missing = await missingApps(s, sources, plans)
    const waitNotes = () => {
      if (missing) io.stdout.write(missingLines(missing))
      for (const k of skipped) io.stdout.write(`${k.category}: skipped: ${k.why}\n`)
      for (const [i, why] of waiting.entries())
        if (why)
          io.stdout.write(
            `waiting: ${why}: its ${chosen[i]!.length} items are applied once it exits (the next down-sync; --force applies them now)\n`,
          )
    }
    if (args.preview) {
      if (args.json) io.stdout.write(JSON.stringify({ spaces: summary, skipped, missing }) + '\n')
      else {
        io.stdout.write(planTable(all))
        waitNotes()
      }
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
    const results: (DownSyncResult | undefined)[] = []
    for (const [i, plan] of plans.entries()) {
      // Not applied, so not recorded: the next down-sync plans it again.
      if (waiting[i]) {
        results.push(undefined)
        continue
      }
      const progress = new Progress(io, `down-sync ${sources[i]!.label}`)
      const result = await applyDown({ db: s.db, home: sources[i]!.root, only, onBytes: progress.add }, plan)
      progress.done()
      // Staged files the down-sync wrote are applied to what they stand for (sources/staged.ts).
      const written = new Set(result.applied.filter((it) => it.op !== 'delete').map((it) => it.path))
      result.warnings.push(...(await applyStaged(sources[i]!, s.env, written)))
      results.push(result)
    }
    if (all.length > 0) await touchDevice(s.vault, s.device, 'seen')
    const done = results.filter((r) => r !== undefined)
    if (args.json)
      io.stdout.write(
        JSON.stringify({
          spaces: summary.map((sp, i) => ({ ...sp, applied: results[i]?.applied.map((it) => it.item) ?? [] })),
          skipped,
          missing,
        }) + '\n',
      )
    else if (all.length === 0) {
      io.stdout.write(planTable(all))
      waitNotes()
    } else {
      for (const [i, r] of results.entries()) {
        if (!r) continue
        io.stdout.write(`${sources[i]!.label}: applied ${r.applied.length} of ${r.plan.length} items\n`)
        for (const c of r.conflicts) io.stdout.write(`conflict: ${c.item}: ${c.reason}\n`)
      }
      waitNotes()
    }
    const warnings = [...stagedWarnings, ...done.flatMap((r) => r.warnings)]
    printWarnings(io, warnings)
    // Items whose data is damaged in the vault were listed and not applied; the rest was.
    if (warnings.some((w) => w.code === 'EINTEGRITY')) return EXIT.INTEGRITY
    return warnings.length || done.some((r) => r.conflicts.length) || waiting.some(Boolean) ? EXIT.PARTIAL : EXIT.OK
  } finally {
    await s.close()
  }
}
