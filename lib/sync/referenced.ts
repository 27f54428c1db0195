/**
 * What a state refers to: every blob reachable from some root trees (the trees, their subtrees
 * and the files' chunks). Prune's live set and an up-sync's keep-alive walk it.
 */
import type { SpaceStore } from '../store/space-store.js'

/**
 * Add to `into` the hex id of every blob the trees `roots` refer to. A subtree already in
 * `into` is not walked again: the walks of many commits share what they have in common.
 */
export async function referencedBlobs(
  store: SpaceStore,
  roots: Iterable<string | undefined>,
  into: Set<string> = new Set(),
): Promise<Set<string>> {
  const walk = async (tree: string): Promise<void> => {
    if (into.has(tree)) return
    into.add(tree)
    const subtrees: string[] = []
    for (const e of (await store.readTree(tree)).entries) {
      for (const c of e.content ?? []) into.add(c)
      if (e.subtree && !into.has(e.subtree)) subtrees.push(e.subtree)
    }
    await Promise.all(subtrees.map(walk))
  }
  for (const r of roots) if (r) await walk(r)
  return into
}
