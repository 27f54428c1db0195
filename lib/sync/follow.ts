/**
 * Following the chain: the heads of a space that count now, and, when they moved since the
 * heads a caller knows, their merge — the one state every computer computes the same way
 * (merge.ts). A down-sync's plan, the mount's journaled spaces and its read-only views all
 * follow the chain through this one function.
 */
import type { StateDb } from '../state/db.js'
import type { SpaceStore } from '../store/space-store.js'
import type { Vault } from '../vault/vault.js'
import { chainHeadIds, sameSet } from './down.js'
import { CommitGraph } from './graph.js'
import { mergeHeads, type MergedHeads } from './merge.js'

export interface ChainState {
  /** The distinct commits the chain's heads point at. */
  heads: string[]
  /** Whether they differ from the heads the caller knew (always, when it knew none). */
  moved: boolean
  /** Their merge, when they moved and there is any. */
  merged?: MergedHeads
  graph: CommitGraph
}

/**
 * The chain's state of `store`'s space against `known` (the heads last taken in; undefined for
 * none yet). `reopen`: read the index files the new commits brought before merging (a store
 * opened earlier in a long-lived process).
 */
export async function followChain(
  vault: Vault,
  store: SpaceStore,
  db: StateDb,
  known: readonly string[] | undefined,
  o: { reopen?: boolean } = {},
): Promise<ChainState> {
  const heads = await chainHeadIds(vault, store, db)
  const graph = new CommitGraph(store, db)
  const moved = !known || !sameSet(heads, known)
  if (!moved || heads.length === 0) return { heads, moved, graph }
  if (o.reopen) await store.open()
  return { heads, moved, merged: await mergeHeads(store, graph, heads), graph }
}
