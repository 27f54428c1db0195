/**
 * Conflict copies a down-sync (or a restore) made here, until the next up-sync sends them: a copy
 * of a top-level file (`~/.gitconfig.conflict-…`) is under no `include` and not in the last
 * synced tree, yet both versions must reach the chain (README, "How computers stay in step").
 * Kept by path in the state database, not recognised by name: a copy's name may be shortened.
 */
import type { StateDb } from '../state/db.js'
import type { PlanItem } from './plan.js'

function copiesMetaKey(space: string): string {
  return `copies:${space}`
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
  if (made.length === 0) return
  db.setMeta(copiesMetaKey(space), JSON.stringify([...new Set([...pendingCopies(db, space), ...made])].sort()))
}

/** After an up-sync: the copies it collected are in the last synced tree now, tracked like any received path. */
export function settleCopies(db: StateDb, space: string, sent: readonly string[]): void {
  const left = pendingCopies(db, space).filter((p) => !sent.includes(p))
  if (left.length) db.setMeta(copiesMetaKey(space), JSON.stringify(left))
  else db.deleteMeta(copiesMetaKey(space))
}
