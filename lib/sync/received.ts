/**
 * What `cloudy status` counts beyond the include list: received paths (in the last synced tree,
 * under no include) changed or gone here, and conflict copies not yet sent. By `stat`, as
 * `pending.ts` does for the included paths; the next up-sync sends exactly these.
 */
import { linkFollower, localStat } from '../sources/settings.js'
import type { CachedFile } from '../state/db.js'
import type { TreeEntry } from '../store/objects.js'
import { join } from 'node:path'
import { changedSince, type Pending } from './pending.js'
import type { SpaceKeys } from '../vault/keys.js'
import { chunkIdsOf } from './plan.js'

export async function pendingReceived(
  home: string,
  include: readonly string[],
  excluded: (rel: string) => boolean,
  cache: Map<string, CachedFile>,
  synced: Map<string, TreeEntry>,
  copies: readonly string[],
  keys: SpaceKeys,
): Promise<Pending> {
  const out: Pending = { added: [], changed: [], deleted: [] }
  if (include.includes('')) return out
  const roots = new Set(include)
  const follow = linkFollower(include)
  const idsOf = chunkIdsOf(keys)
  // Under an include (counted by pending.ts) or excluded here (not collected): not counted.
  const skipped = (rel: string) => {
    for (let p = rel; ; p = p.slice(0, p.lastIndexOf('/'))) {
      if (roots.has(p) || excluded(p)) return true
      if (!p.includes('/')) return false
    }
  }
  for (const [rel, was] of synced) {
    if (skipped(rel)) continue
    let st
    try {
      st = localStat(join(home, rel), follow(rel, was))
    } catch {
      continue
    }
    if (!st) out.deleted.push(rel)
    else if (await changedSince(home, rel, st, was, cache, idsOf)) out.changed.push(rel)
  }
  for (const rel of copies) {
    if (synced.has(rel) || skipped(rel)) continue
    try {
      if (localStat(join(home, rel), false)) out.added.push(rel)
    } catch {
      // Unreadable now: the up-sync says so.
    }
  }
  return out
}
