/**
 * Down-sync of one space: pick the incoming state, plan it against this computer, and apply
 * the plan (or only the items asked for). Conflicts are never applied over local data.
 */
import type { StateDb } from '../state/db.js'
import { SpaceStore } from '../store/space-store.js'
import type { Commit, TreeEntry } from '../store/objects.js'
import type { Vault } from '../vault/vault.js'
import { applyItems } from './apply.js'
import { planTree, type PlanItem } from './plan.js'
import { treeMetaKey } from './up.js'
import { Warnings, type SyncWarning } from './warnings.js'

export interface PlanDownOptions {
  vault: Vault
  db: StateDb
  space: string
  home: string
}

/** What a down-sync would do: the preview, and the exact list `applyDown` works from. */
export interface DownPlan {
  space: string
  /** The commit planned against (absent when the chain has none yet). */
  commit?: { id: string; commit: Commit }
  items: PlanItem[]
  /** Every incoming folder by HOME-relative path. */
  dirs: Map<string, TreeEntry>
  store: SpaceStore
}

export interface DownSyncResult {
  space: string
  commit?: string
  plan: PlanItem[]
  /** Items applied. */
  applied: PlanItem[]
  warnings: SyncWarning[]
}

export function selects(only: readonly string[] | undefined, item: string): boolean {
  if (!only || only.length === 0) return true
  return only.some((o) => {
    const p = o.replace(/\/+$/, '')
    return item === p || item.startsWith(p + '/')
  })
}

/**
 * The items `only` selects, with the folders they need: a new folder above a selected item is
 * applied too (made, with its mode and time), or it would appear here with made-up metadata.
 */
export function chooseItems(items: readonly PlanItem[], only: readonly string[] | undefined): PlanItem[] {
  if (!only || only.length === 0) return [...items]
  const chosen = items.filter((it) => selects(only, it.item))
  const needed = new Set<string>()
  for (const it of chosen) for (let p = it.item; p.includes('/');) needed.add((p = p.slice(0, p.lastIndexOf('/'))))
  return items.filter((it) => selects(only, it.item) || (it.op === 'add' && it.entry?.type === 'dir' && needed.has(it.item)))
}

/** Plan a down-sync of one space. Changes nothing, here or in the vault. */
export async function planDown(o: PlanDownOptions): Promise<DownPlan> {
  const store = new SpaceStore(o.vault.provider, o.vault.space(o.space), o.db)
  await store.open()
  const heads = await store.readHeads()
  // The newest commit of the chain. (Merging several devices' heads comes with the sync engine.)
  let best: { id: string; commit: Commit } | undefined
  for (const head of heads.values()) {
    const commit = await store.readCommit(head.commit)
    if (!best || commit.time > best.commit.time) best = { id: head.commit, commit }
  }
  const items: PlanItem[] = []
  const dirs = new Map<string, TreeEntry>()
  if (best) {
    const cache = o.db.files(o.space)
    for await (const item of planTree({ store, home: o.home, cache, device: best.commit.deviceName, dirs }, best.commit.tree))
      items.push(item)
  }
  return { space: o.space, commit: best, items, dirs, store }
}

/** Apply a plan, or only the items under `only` (plan names). Conflicts are never applied. */
export async function applyDown(
  o: { db: StateDb; home: string; only?: readonly string[]; onBytes?: (n: number) => void },
  plan: DownPlan,
): Promise<DownSyncResult> {
  const warnings = new Warnings()
  const chosen = chooseItems(plan.items, o.only)
  const changes = await applyItems({ store: plan.store, home: o.home, warnings, dirs: plan.dirs, onBytes: o.onBytes }, chosen)
  o.db.updateFiles(plan.space, changes)
  if (plan.commit && chosen.length === plan.items.length && warnings.size === 0) {
    o.db.setApplied(plan.space, plan.commit.id)
    o.db.setMeta(treeMetaKey(plan.space), plan.commit.commit.tree)
  }
  return {
    space: plan.space,
    commit: plan.commit?.id,
    plan: plan.items,
    applied: chosen.filter((it) => it.op !== 'conflict'),
    warnings: warnings.list,
  }
}
