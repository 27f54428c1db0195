/**
 * `cloudy sync down`: the library's plan (lib/sync/down-all.ts), previewed, asked, applied,
 * printed. Where a running service holds the unlocked vault, it plans and applies; the
 * printing is the same.
 */
import { EXIT, UsageError } from '../../errors.js'
import { applyDownAll, downAllReport, planDownAll, type DownAllReport } from '../../sync/down-all.js'
import { missingLines, planTable } from '../../text/plan-table.js'
import { openSession } from '../context.js'
import { confirm, printWarnings, type CliIo } from '../io.js'
import { progressFor } from '../progress.js'
import { serviceFor } from '../service-client.js'

/** What `sync down` applies without --yes and without a terminal to ask on. */
const UNATTENDED_OPS = new Set(['add', 'update'])

export interface SyncDownArgs {
  preview?: boolean
  only?: string[]
  yes?: boolean
  /** Apply the items of applications that are running too. */
  force?: boolean
  passwordFile?: string
  json?: boolean
}

/** The plan, and a way to apply it: in this process, or in the running service. */
interface Planner {
  report: DownAllReport
  apply(): Promise<DownAllReport>
  close(): Promise<void>
}

async function planHere(io: CliIo, args: SyncDownArgs): Promise<Planner> {
  const s = await openSession(io, args, { exclusive: !args.preview })
  try {
    const planned = await planDownAll(s, { only: args.only, force: args.force })
    return {
      report: downAllReport(planned),
      apply: async () => downAllReport(planned, await applyDownAll(s, planned, progressFor(io, args.json))),
      close: () => s.close(),
    }
  } catch (e) {
    await s.close()
    throw e
  }
}

async function planInService(
  io: CliIo,
  args: SyncDownArgs,
  service: NonNullable<Awaited<ReturnType<typeof serviceFor>>>,
): Promise<Planner> {
  const ask = (apply: boolean) => service.call<DownAllReport>({ op: 'sync-down', only: args.only, force: args.force, apply })
  // Straight to the apply where nothing is shown or checked first: the service plans and applies in one job.
  const direct = !args.preview && !!args.yes
  const report = direct ? await ask(true) : await ask(false)
  return { report, apply: () => (direct ? Promise.resolve(report) : ask(true)), close: async () => {} }
}

export async function syncDown(io: CliIo, args: SyncDownArgs): Promise<number> {
  const service = await serviceFor(io.env)
  const planner = service ? await planInService(io, args, service) : await planHere(io, args)
  try {
    const planned = planner.report
    const all = planned.spaces.flatMap((sp) => sp.items)
    const waitNotes = (r: DownAllReport) => {
      if (r.missing) io.stdout.write(missingLines(r.missing))
      for (const k of r.skipped) io.stdout.write(`${k.category}: skipped: ${k.why}\n`)
      for (const sp of r.spaces)
        if (sp.waiting)
          io.stdout.write(
            `waiting: ${sp.waiting}: its ${sp.items.length} items are applied once it exits (the next down-sync; --force applies them now)\n`,
          )
    }
    if (args.preview) {
      if (args.json) io.stdout.write(JSON.stringify({ spaces: planned.spaces, skipped: planned.skipped, missing: planned.missing }) + '\n')
      else {
        io.stdout.write(planTable(all))
        waitNotes(planned)
      }
      return EXIT.OK
    }
    // Unattended (no terminal to ask on, or --json) and without --yes: applied only when it
    // brings new files and new versions of files not changed here (the cases --help names).
    const unattended = !args.yes && (!io.stdin.isTTY || args.json)
    const risky = all.filter((it) => !UNATTENDED_OPS.has(it.op))
    if (unattended && risky.length) {
      if (!args.json) io.stdout.write(planTable(risky))
      throw new UsageError(
        `nothing was changed: ${risky.length} item${risky.length === 1 ? '' : 's'} would delete or conflict with files here, which happens only when asked: run "cloudy sync down" on a terminal, or add --yes`,
      )
    }
    if (all.length > 0 && !args.yes && !unattended) {
      io.stdout.write(planTable(all))
      if (!(await confirm(io, 'Apply these changes?'))) {
        io.stdout.write('Nothing was changed.\n')
        return EXIT.OK
      }
    }
    const done = await planner.apply()
    const results = done.applied ?? []
    if (args.json)
      io.stdout.write(
        JSON.stringify({
          spaces: done.spaces.map((sp, i) => ({ ...sp, applied: results[i]?.applied.map((it) => it.item) ?? [] })),
          skipped: done.skipped,
          missing: done.missing,
        }) + '\n',
      )
    else if (done.spaces.every((sp) => sp.items.length === 0)) {
      io.stdout.write(planTable([]))
      waitNotes(done)
    } else {
      for (const [i, r] of results.entries()) {
        if (!r) continue
        io.stdout.write(`${done.spaces[i]!.space}: applied ${r.applied.length} of ${r.planned} items\n`)
        for (const c of r.conflicts) io.stdout.write(`conflict: ${c.item}: ${c.reason}\n`)
      }
      waitNotes(done)
    }
    printWarnings(io, done.warnings)
    // Items whose data is damaged in the vault were listed and not applied; the rest was.
    if (done.warnings.some((w) => w.code === 'EINTEGRITY')) return EXIT.INTEGRITY
    const conflicts = results.some((r) => r?.conflicts.length)
    return done.warnings.length || conflicts || done.spaces.some((sp) => sp.waiting) ? EXIT.PARTIAL : EXIT.OK
  } finally {
    await planner.close()
  }
}
