/**
 * Down-sync of one space: pick the incoming state, plan it against this computer, and apply
 * the plan (or only the items asked for). Conflicts are never applied over local data.
 */
import type { StateDb } from '../state/db.js'
import { SpaceStore } from '../store/space-store.js'
import type { Commit } from '../store/objects.js'
import type { Vault } from '../vault/vault.js'
import { applyItems } from './apply.js'
import { planTree, type PlanItem } from './plan.js'
import { treeMetaKey } from './up.js'
import { Warnings, type SyncWarning } from './warnings.js'

export interface DownSyncOptions {
  vault: Vault
  db: StateDb
  space: string
  home: string
  /** This device's id: its own head is not "incoming". */
  deviceId: string
  /** Only plan, change nothing. */
  preview?: boolean
  /** Apply only items equal to or under one of these (plan names, e.g. `settings/.config`). */
  only?: readonly string[]
  onBytes?: (n: number) => void
}

export interface DownSyncResult {
  space: string
  /** The commit planned against, if the chain has any. */
  commit?: string
  plan: PlanItem[]
  /** Items applied (empty on preview). */
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

export async function downSync(o: DownSyncOptions): Promise<DownSyncResult> {
  const store = new SpaceStore(o.vault.provider, o.vault.space(o.space), o.db)
  await store.open()
  const heads = await store.readHeads()
  // The newest commit of the chain. (Merging several devices' heads comes with the sync engine.)
  let best: { id: string; commit: Commit } | undefined
  for (const head of heads.values()) {
    const commit = await store.readCommit(head.commit)
    if (!best || commit.time > best.commit.time) best = { id: head.commit, commit }
  }
  if (!best) return { space: o.space, plan: [], applied: [], warnings: [] }
  const cache = o.db.files(o.space)
  const plan: PlanItem[] = []
  for await (const item of planTree({ store, home: o.home, cache, device: best.commit.deviceName }, best.commit.tree)) plan.push(item)
  const warnings = new Warnings()
  if (o.preview) return { space: o.space, commit: best.id, plan, applied: [], warnings: warnings.list }
  const chosen = plan.filter((it) => selects(o.only, it.item))
  const changes = await applyItems({ store, home: o.home, warnings, onBytes: o.onBytes }, chosen)
  o.db.updateFiles(o.space, changes)
  const complete = chosen.length === plan.length && warnings.size === 0
  if (complete) {
    o.db.setApplied(o.space, best.id)
    o.db.setMeta(treeMetaKey(o.space), best.commit.tree)
  }
  return { space: o.space, commit: best.id, plan, applied: chosen.filter((it) => it.op !== 'conflict'), warnings: warnings.list }
}
