/**
 * The two records retention adds to a space (docs/FORMAT.md, "Retention and prune"):
 *
 * - a forget record (`s/<tag>/forgotten/<id>`) names commits `forget` let go, each with its
 *   whole commit, so the history graph stays whole (parents, times, authors) once prune has
 *   deleted the commit objects and the data only they used;
 * - a prune mark (`s/<tag>/prune/<id>`) names the packs a prune condemned and the commit
 *   objects it will delete. Nothing it names is deleted before the mark has been seen for its
 *   grace period: an up-sync that started before it finds the mark before moving its head and
 *   copies out what it still uses.
 *
 * Both are sealed with the space's blob key, bound to their kind and their random id.
 */
import { isCommit, type Commit } from './objects.js'

export interface ForgetRecord {
  format: 1
  /** Tag and name of the device that ran `forget`. */
  by: string
  byName: string
  /** ISO time. */
  time: string
  /** The forgotten commits by id, whole. */
  commits: Record<string, Commit>
  /**
   * In the list of applications only: the applications the forgotten commits listed, so the
   * vault's spaces can still all be named once their trees are pruned.
   */
  apps?: string[]
}

export interface PruneMark {
  format: 1
  by: string
  byName: string
  time: string
  /** Milliseconds the mark must have been seen before what it names is deleted. */
  graceMs: number
  /** Pack ids condemned: deleted, with the index files listing them, once the grace is over. */
  packs: string[]
  /** Forgotten commits whose objects go with them. */
  commits: string[]
}

const hex64 = (v: unknown) => typeof v === 'string' && /^[0-9a-f]{64}$/.test(v)

export function isForgetRecord(v: unknown): v is ForgetRecord {
  const r = v as ForgetRecord
  return (
    typeof r === 'object' &&
    r !== null &&
    r.format === 1 &&
    typeof r.commits === 'object' &&
    r.commits !== null &&
    Object.entries(r.commits).every(([id, c]) => hex64(id) && isCommit(c))
  )
}

export function isPruneMark(v: unknown): v is PruneMark {
  const m = v as PruneMark
  return (
    typeof m === 'object' &&
    m !== null &&
    m.format === 1 &&
    typeof m.graceMs === 'number' &&
    m.graceMs >= 0 &&
    Array.isArray(m.packs) &&
    m.packs.every(hex64) &&
    Array.isArray(m.commits) &&
    m.commits.every(hex64)
  )
}
