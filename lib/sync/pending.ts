/**
 * What an up-sync would send, by `stat` against the last synced tree (no file is read): files
 * new since the last sync, files changed, and files gone. `cloudy status` shows it.
 */
import { lstatSync, type BigIntStats } from 'node:fs'
import { join } from 'node:path'
import { cacheKey, fsPath, listNamesSync } from '../fs/raw-name.js'
import { isTempName } from '../fs/temp-name.js'
import type { CachedFile } from '../state/db.js'
import type { Tree, TreeEntry } from '../store/objects.js'
import type { SpaceKeys } from '../vault/keys.js'
import { chunkIdsOf, fileIs, type ChunkIdsOf } from './plan.js'
import { localStat } from '../sources/settings.js'

/** Every file of a tree by HOME-relative path. */
export async function treeFiles(readTree: (id: string) => Promise<Tree>, tree: string | undefined): Promise<Map<string, TreeEntry>> {
  const out = new Map<string, TreeEntry>()
  const walk = async (id: string, rel: string): Promise<void> => {
    const subtrees: Promise<void>[] = []
    for (const e of (await readTree(id)).entries) {
      const p = rel ? `${rel}/${e.name}` : e.name
      if (e.type === 'dir' && e.subtree) subtrees.push(walk(e.subtree, p))
      else out.set(p, e)
    }
    await Promise.all(subtrees)
  }
  if (tree) await walk(tree, '')
  return out
}

export interface Pending {
  added: string[]
  changed: string[]
  deleted: string[]
}

/** What changed here since the last sync; a file whose cached stat is stale is compared by content (`fileIs`). */
export async function pendingChanges(
  home: string,
  include: readonly string[],
  excluded: (rel: string) => boolean,
  cache: Map<string, CachedFile>,
  synced: Map<string, TreeEntry>,
  keys: SpaceKeys,
): Promise<Pending> {
  const out: Pending = { added: [], changed: [], deleted: [] }
  const seen = new Set<string>()
  const idsOf = chunkIdsOf(keys)
  const visit = async (rel: string, root = false): Promise<void> => {
    let st: BigIntStats | undefined
    try {
      // An include that is a symlink is collected as what it points to.
      st = root ? localStat(join(home, rel), true) : lstatSync(fsPath(home, rel), { bigint: true })
    } catch {
      return
    }
    if (!st) return
    if (st.isDirectory()) {
      let names: string[]
      try {
        names = listNamesSync(join(home, rel))
      } catch {
        return
      }
      for (const name of names) {
        const child = rel ? `${rel}/${name}` : name
        if (!isTempName(name) && !excluded(child)) await visit(child)
      }
      return
    }
    if (!st.isFile() && !st.isSymbolicLink()) return
    seen.add(rel)
    const was = synced.get(rel)
    if (!was) out.added.push(rel)
    else if (await changedSince(home, rel, st, was, cache, idsOf)) out.changed.push(rel)
  }
  for (const rel of include) await visit(rel, true)
  const under = (p: string) => include.some((i) => i === '' || p === i || p.startsWith(i + '/'))
  for (const p of synced.keys()) if (!seen.has(p) && under(p)) out.deleted.push(p)
  return out
}

/** Whether the local `st` at `rel` differs from the synced entry `was` (content read only when the cached stat is stale). */
export async function changedSince(
  home: string,
  rel: string,
  st: BigIntStats,
  was: TreeEntry,
  cache: Map<string, CachedFile>,
  idsOf: ChunkIdsOf,
): Promise<boolean> {
  if (st.isSymbolicLink()) return was.type !== 'symlink'
  return was.type !== 'file' || !(await fileIs(join(home, rel), st, cache.get(cacheKey(rel)), was, idsOf))
}
