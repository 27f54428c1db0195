/**
 * Down-sync of everything this computer collects, in two steps a caller can put a question
 * between: `planDownAll` (what the chain changed, space by space, with what waits for a running
 * application and what other computers installed that this one lacks) and `applyDownAll`. The
 * command line, the mount's preview and the service all call these.
 */
import { runningProcess, runningProcessNames } from '../catalog/running.js'
import type { Session } from '../session.js'
import { applyStaged, stageSource } from '../sources/staged.js'
import type { SpaceSource } from '../sources/sources.js'
import { touchDevice, assertInChain } from './chain.js'
import { applyDown, chooseItems, type DownPlan, type DownSyncResult } from './down.js'
import { onlyItems } from './items.js'
import { missingApps, type Missing } from './missing.js'
import { shownItems, type PlanItem } from './plan.js'
import { planSpace } from './plan-space.js'
import { noProgress, type ProgressFor } from './progress.js'
import { sessionPlan } from './spaces.js'
import type { SyncWarning } from './warnings.js'

export interface DownAllOptions {
  /** `--only` arguments: categories, application ids, plan names, local paths. */
  only?: readonly string[]
  /** Apply the items of running applications too. */
  force?: boolean
}

export interface SpaceDownPlan {
  source: SpaceSource
  plan: DownPlan
  /** The plan's items `only` chose. */
  items: PlanItem[]
  /** Why these items wait (`vim is running (process vim)`), when they do. */
  waiting?: string
}

export interface DownAllPlan {
  spaces: SpaceDownPlan[]
  only: string[] | undefined
  skipped: { category: string; why: string }[]
  /** Applications other computers have and this one lacks (undefined: inventory not collected here). */
  missing: Missing[] | undefined
  /** Staged files that could not be refreshed. */
  warnings: SyncWarning[]
}

/** What the chain changed that this computer would apply, space by space. Changes nothing but staged files. */
export async function planDownAll(s: Session, o: DownAllOptions = {}): Promise<DownAllPlan> {
  await assertInChain(s.vault, s.device, s.db)
  const { sources, skipped } = await sessionPlan(s)
  const plans: DownPlan[] = []
  const warnings: SyncWarning[] = []
  for (const source of sources) {
    // Staged files mirror what they stand for now (dconf, /etc/hosts), so that a setting changed
    // here and not sent is a local change the plan keeps, not something the chain overwrites.
    warnings.push(...(await stageSource(source, s.env, s.db)))
    plans.push(await planSpace(s, source))
  }
  const only = onlyItems(o.only, sources, s.paths.home)
  // An application that is running is not written under: its items wait for it to exit.
  const names = runningProcessNames()
  const spaces = sources.map((source, i): SpaceDownPlan => {
    const items = chooseItems(plans[i]!.items, only)
    const proc = source.app && !o.force && items.length ? runningProcess(source.app, names) : undefined
    return { source, plan: plans[i]!, items, ...(proc ? { waiting: `${source.app!.id} is running (process ${proc})` } : {}) }
  })
  return { spaces, only, skipped, missing: await missingApps(s, sources, plans), warnings }
}

/** The result of each space's apply; undefined for a space whose items wait. */
export type DownAllResult = (DownSyncResult | undefined)[]

/** Apply `planned`: every space whose items do not wait, then what its staged files stand for. */
export async function applyDownAll(s: Session, planned: DownAllPlan, progress: ProgressFor = noProgress): Promise<DownAllResult> {
  const results: DownAllResult = []
  for (const { source, plan, waiting } of planned.spaces) {
    // Not applied, so not recorded: the next down-sync plans it again.
    if (waiting) {
      results.push(undefined)
      continue
    }
    const bar = progress(`down-sync ${source.label}`)
    const files = chooseItems(plan.items, planned.only).filter((it) => it.op !== 'delete' && !it.timeOnly && it.entry?.type === 'file')
    bar.total?.(
      files.length,
      files.reduce((n, it) => n + (it.entry!.size ?? 0), 0),
    )
    const result = await applyDown(
      {
        db: s.db,
        home: source.root,
        only: planned.only,
        onBytes: (n) => bar.add(n),
        onFile: (path, size) => bar.file?.(path, size),
        // The new base is published in this device's record: prune keeps it (chain.ts `bases`).
        pin: async () => void (await touchDevice(s.vault, s.device, 'seen', s.db)),
      },
      plan,
    )
    bar.done()
    // Staged files the down-sync wrote are applied to what they stand for (sources/staged.ts).
    const written = new Set(result.applied.filter((it) => it.op !== 'delete').map((it) => it.path))
    result.warnings.push(...(await applyStaged(source, s.env, written)))
    results.push(result)
  }
  if (planned.spaces.some((sp) => sp.items.length)) await touchDevice(s.vault, s.device, 'seen', s.db)
  return results
}

/** A plan item as reports carry it (the tree entry stays in the process that applies it). */
export type ReportItem = Omit<PlanItem, 'entry'>

const reportItem = ({ entry: _entry, ...rest }: PlanItem): ReportItem => rest

/**
 * What a down-sync planned, and applied if it ran, as plain data: what the command line prints
 * (and `--json`), whether it planned here or a running service did.
 */
export interface DownAllReport {
  spaces: { space: string; commit?: string; items: ReportItem[]; waiting?: string }[]
  skipped: { category: string; why: string }[]
  missing: Missing[] | undefined
  /** Per space, what the apply did; null for a space whose items wait. Absent: not applied. */
  applied?: ({ applied: ReportItem[]; planned: number; conflicts: ReportItem[] } | null)[]
  warnings: SyncWarning[]
}

export function downAllReport(planned: DownAllPlan, results?: DownAllResult): DownAllReport {
  return {
    spaces: planned.spaces.map((sp) => ({
      space: sp.source.label,
      commit: sp.plan.commit?.id,
      items: shownItems(sp.items).map(reportItem),
      ...(sp.waiting ? { waiting: sp.waiting } : {}),
    })),
    skipped: planned.skipped,
    missing: planned.missing,
    ...(results
      ? {
          applied: results.map((r) =>
            r
              ? {
                  applied: shownItems(r.applied).map(reportItem),
                  planned: shownItems(r.plan).length,
                  conflicts: r.conflicts.map(reportItem),
                }
              : null,
          ),
        }
      : {}),
    warnings: [...planned.warnings, ...(results ?? []).flatMap((r) => r?.warnings ?? [])],
  }
}
