/**
 * Conflict copies a down-sync (or a restore) made here, until the next up-sync sends them: a copy
 * of a top-level file (`~/.gitconfig.conflict-…`) is under no `include` and not in the last
 * synced tree, yet both versions must reach the chain (README, "How computers stay in step").
 * Kept by path in the state database, not recognised by name: a copy's name may be shortened.
 */
import type { StateDb } from '../state/db.js'
import type { TreeEntry } from '../store/objects.js'
import type { PlanItem } from './plan.js'

function copiesMetaKey(space: string): string {
  return `copies:${space}`
}

function madeMetaKey(space: string): string {
  return `copies-made:${space}`
}

/**
 * The copies holding a version of the chain (the incoming one kept beside the local one, or one
 * the chain's merge made) that a down-sync wrote since the last up-sync, as written, by
 * HOME-relative path. Another computer may hold the same copy: up.ts publishes one deleted or
 * changed here before it was sent as made first, so the merge sees this computer held it
 * (merge.ts `held`) and its deletion or change wins.
 */
export function madeCopies(db: StateDb, space: string): Map<string, TreeEntry> {
  const value = db.getMeta(madeMetaKey(space))
  return new Map(value ? Object.entries(JSON.parse(value) as Record<string, TreeEntry>) : [])
}

/** HOME-relative paths of the conflict copies made here and not yet up-synced. */
export function pendingCopies(db: StateDb, space: string): string[] {
  const value = db.getMeta(copiesMetaKey(space))
  return value ? (JSON.parse(value) as string[]) : []
}

/**
 * Remember the copies that applying `items` makes (a copy the chain's merge made is in the chain
 * already). Called before the apply: a copy noted but never made costs the up-sync one lookup.
 */
export function recordCopies(db: StateDb, space: string, items: readonly PlanItem[]): void {
  const made = items
    .filter((it) => it.op === 'conflict' && it.resolution && it.resolution.keep !== 'merged')
    .map((it) => it.resolution!.copy)
  if (made.length) db.setMeta(copiesMetaKey(space), JSON.stringify([...new Set([...pendingCopies(db, space), ...made])].sort()))
}

/**
 * After applying `items`: `written` are the copies holding a chain version that are on disk as
 * the entries say (see `madeCopies`); a copy this run changed (or deleted) is no longer as
 * written before, and the chain's version stands.
 */
export function recordWrittenCopies(db: StateDb, space: string, items: readonly PlanItem[], written: ReadonlyMap<string, TreeEntry>): void {
  const touched = (p: string) => items.some((it) => it.path === p || it.path.startsWith(p + '/') || p.startsWith(it.path + '/'))
  const before = [...madeCopies(db, space)]
  const kept = before.filter(([p]) => !touched(p))
  if (kept.length === before.length && !written.size) return
  const all = [...kept, ...written]
  if (all.length) db.setMeta(madeMetaKey(space), JSON.stringify(Object.fromEntries(all)))
  else db.deleteMeta(madeMetaKey(space))
}

/**
 * After an up-sync: the copies it collected (`sent`) are in the last synced tree now, tracked
 * like any received path. The copies of chain versions (`madeCopies`) are settled only if it
 * `published` a commit: that commit (or the one of them as written before it) tells the chain
 * this computer held them. A merge's copy is in the merged tree this computer last synced, so an
 * up-sync that finds nothing else changed publishes nothing; settled then, a later deletion of
 * the copy here would reach the chain as the deletion of a version no commit of this computer
 * held, and an identical copy another computer sends as its own add would bring it back.
 */
export function settleCopies(db: StateDb, space: string, sent: readonly string[], published: boolean): void {
  const left = pendingCopies(db, space).filter((p) => !sent.includes(p))
  if (left.length) db.setMeta(copiesMetaKey(space), JSON.stringify(left))
  else db.deleteMeta(copiesMetaKey(space))
  if (!published) return
  // The merge's copies are not pending (they are in the chain): what a published up-sync looked at is settled.
  const made = [...madeCopies(db, space)].filter(([p]) => left.includes(p))
  if (made.length) db.setMeta(madeMetaKey(space), JSON.stringify(Object.fromEntries(made)))
  else db.deleteMeta(madeMetaKey(space))
}
