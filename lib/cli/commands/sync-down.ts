/** `cloudy sync down`: the library's plan (lib/sync/down-all.ts), previewed, asked, applied, printed. */
import { createInterface } from 'node:readline/promises'
import { EXIT } from '../../errors.js'
import { applyDownAll, planDownAll } from '../../sync/down-all.js'
import type { PlanItem } from '../../sync/plan.js'
import { missingLines, planTable } from '../../text/plan-table.js'
import { openSession } from '../context.js'
import { printWarnings, Progress, type CliIo } from '../io.js'

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
    const planned = await planDownAll(s, { only: args.only, force: args.force })
    const { spaces, skipped, missing } = planned
    const all = spaces.flatMap((sp) => sp.items)
    const summary = spaces.map((sp) => ({
      space: sp.source.label,
      commit: sp.plan.commit?.id,
      items: sp.items.map(itemJson),
      ...(sp.waiting ? { waiting: sp.waiting } : {}),
    }))
    const waitNotes = () => {
      if (missing) io.stdout.write(missingLines(missing))
      for (const k of skipped) io.stdout.write(`${k.category}: skipped: ${k.why}\n`)
      for (const sp of spaces)
        if (sp.waiting)
          io.stdout.write(
            `waiting: ${sp.waiting}: its ${sp.items.length} items are applied once it exits (the next down-sync; --force applies them now)\n`,
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
    const results = await applyDownAll(s, planned, (label) => new Progress(io, label))
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
        io.stdout.write(`${spaces[i]!.source.label}: applied ${r.applied.length} of ${r.plan.length} items\n`)
        for (const c of r.conflicts) io.stdout.write(`conflict: ${c.item}: ${c.reason}\n`)
      }
      waitNotes()
    }
    const warnings = [...planned.warnings, ...done.flatMap((r) => r.warnings)]
    printWarnings(io, warnings)
    // Items whose data is damaged in the vault were listed and not applied; the rest was.
    if (warnings.some((w) => w.code === 'EINTEGRITY')) return EXIT.INTEGRITY
    return warnings.length || done.some((r) => r.conflicts.length) || spaces.some((sp) => sp.waiting) ? EXIT.PARTIAL : EXIT.OK
  } finally {
    await s.close()
  }
}
