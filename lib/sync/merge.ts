/**
 * Merging the chain's heads of one space into the one state every computer converges on.
 *
 * Heads that another head descends from drop out (fast-forward). The rest are merged one by one
 * in a fixed order (oldest commit first, then by id), each 3-way against the best common
 * ancestor (several after a criss-cross: merged first), entry by entry:
 *  - changed on one side only: that side;
 *  - changed on both sides the same way (or to the same content): that (the newer);
 *  - both folders: merged recursively;
 *  - changed on one side, deleted on the other: the changed version stays (a deletion never
 *    wins over an edit: nothing is lost);
 *  - changed on both sides differently: BOTH are kept. The newer modification time keeps the
 *    name (a tie goes to the later head in merge order); the other version is kept beside it as
 *    `NAME.conflict-<device>-<YYYYMMDD-HHMMSS>[.ext]`, where device and time are those of the
 *    version in the copy (UTC). A folder always keeps the name over a file or a link.
 * Every input is data the whole chain shares, so every computer computes the same merged tree.
 */
import type { Tree, TreeEntry } from '../store/objects.js'
import type { SpaceStore } from '../store/space-store.js'
import type { CommitGraph, CommitRef } from './graph.js'

/** Two versions of one path both kept by the merge. */
export interface MergeConflict {
  /** HOME-relative path that keeps the winning version. */
  path: string
  /** HOME-relative path of the copy holding the other version. */
  copy: string
  reason: string
}

export interface MergedHeads {
  /** The tree every computer converges on (a stored tree, or one named by `virtualTree`). */
  tree?: string
  /** The heads merged, by commit id (fast-forwarded ones left out). */
  heads: CommitRef[]
  conflicts: MergeConflict[]
}

const EMPTY: Tree = { entries: [] }

/** `NAME.conflict-<device>-<YYYYMMDD-HHMMSS>[.ext]`; the extension stays last so the file still opens. */
export function conflictName(name: string, device: string, mtimeMs: number): string {
  const d = new Date(mtimeMs)
  const p = (n: number) => String(n).padStart(2, '0')
  const stamp = `${d.getUTCFullYear()}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}-${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}`
  const who = device.replace(/[^A-Za-z0-9_-]+/g, '_') || 'device'
  const dot = name.lastIndexOf('.')
  const [stem, ext] = dot > 0 ? [name.slice(0, dot), name.slice(dot)] : [name, '']
  return `${stem}.conflict-${who}-${stamp}${ext}`
}

/** A conflict name not yet taken in `taken` (a `-2`, `-3`… before the extension if needed). */
export function freeConflictName(name: string, device: string, mtimeMs: number, taken: (n: string) => boolean): string {
  const first = conflictName(name, device, mtimeMs)
  if (!taken(first)) return first
  const dot = name.lastIndexOf('.')
  const ext = dot > 0 ? name.slice(dot) : ''
  const stem = first.slice(0, first.length - ext.length)
  for (let i = 2; ; i++) {
    const n = `${stem}-${i}${ext}`
    if (!taken(n)) return n
  }
}

export function sameEntry(a: TreeEntry | undefined, b: TreeEntry | undefined): boolean {
  if (!a || !b) return a === b
  return (
    a.type === b.type &&
    a.mode === b.mode &&
    a.mtimeNs === b.mtimeNs &&
    a.size === b.size &&
    a.subtree === b.subtree &&
    a.target === b.target &&
    (a.content ?? []).join() === (b.content ?? []).join()
  )
}

/** Which device made the version on each side of a conflict, for the copy's name. */
export type DeviceOf = (side: 'ours' | 'theirs', path: string, entry: TreeEntry) => Promise<string>

/** 3-way merge of trees (ids; undefined = empty). Returns the merged tree's id. */
export async function mergeTrees(
  store: SpaceStore,
  base: string | undefined,
  ours: string | undefined,
  theirs: string | undefined,
  deviceOf: DeviceOf,
  conflicts: MergeConflict[],
  rel = '',
): Promise<string> {
  if (ours === theirs || theirs === base) return ours ?? store.virtualTree(EMPTY)
  if (ours === base) return theirs ?? store.virtualTree(EMPTY)
  const read = (id: string | undefined) => (id ? store.readTree(id) : Promise.resolve(EMPTY))
  const [b, o, t] = await Promise.all([read(base), read(ours), read(theirs)])
  const byName = (tree: Tree) => new Map(tree.entries.map((e) => [e.name, e]))
  const [mb, mo, mt] = [byName(b), byName(o), byName(t)]
  const names = [...new Set([...mo.keys(), ...mt.keys(), ...mb.keys()])].sort()
  const out = new Map<string, TreeEntry>()
  const later: (() => Promise<void>)[] = []
  for (const name of names) {
    const eb = mb.get(name)
    const eo = mo.get(name)
    const et = mt.get(name)
    const path = rel ? `${rel}/${name}` : name
    if (sameEntry(eo, et) || sameEntry(eb, et)) {
      if (eo) out.set(name, eo)
      continue
    }
    if (sameEntry(eb, eo)) {
      if (et) out.set(name, et)
      continue
    }
    const baseSub = eb?.type === 'dir' ? eb.subtree : undefined
    // Both changed, differently. Folders on both sides (or a folder against a deletion) merge
    // inside; the folder's own mode and time come from the newer side.
    if ((eo?.type === 'dir' || !eo) && (et?.type === 'dir' || !et)) {
      const meta = !eo ? et! : !et ? eo : BigInt(et.mtimeNs) >= BigInt(eo.mtimeNs) ? et : eo
      later.push(async () => {
        const subtree = await mergeTrees(store, baseSub, eo?.subtree, et?.subtree, deviceOf, conflicts, path)
        out.set(name, { ...meta, subtree })
      })
      continue
    }
    // An edit against a deletion: the edit stays.
    if (!eo || !et) {
      out.set(name, (eo ?? et)!)
      continue
    }
    // The same content on both sides (only the time or mode differs): no conflict, the newer one.
    if (eo.type === et.type && eo.type !== 'dir' && (eo.content ?? []).join() === (et.content ?? []).join() && eo.target === et.target) {
      out.set(name, BigInt(et.mtimeNs) >= BigInt(eo.mtimeNs) ? et : eo)
      continue
    }
    const theirsWins = eo.type === 'dir' ? false : et.type === 'dir' ? true : BigInt(et.mtimeNs) >= BigInt(eo.mtimeNs)
    const [winner, loser, loserSide] = theirsWins ? [et, eo, 'ours' as const] : [eo, et, 'theirs' as const]
    out.set(name, winner)
    const device = await deviceOf(loserSide, path, loser)
    const copy = freeConflictName(name, device, Number(BigInt(loser.mtimeNs) / 1_000_000n), (n) => out.has(n) || names.includes(n))
    out.set(copy, { ...loser, name: copy })
    conflicts.push({
      path,
      copy: rel ? `${rel}/${copy}` : copy,
      reason: `changed on two computers: the newer version keeps the name, the one from ${device} is kept as ${copy}`,
    })
  }
  for (const f of later) await f()
  return store.virtualTree({ entries: [...out.values()] })
}

/**
 * Tree `ours` plus every entry of `theirs` it lacks (inside folders both have, too), stored.
 * Where both have a path, `ours` wins.
 */
export async function unionTrees(store: SpaceStore, ours: string, theirs: string | undefined): Promise<string> {
  if (!theirs || ours === theirs) return ours
  const [o, t] = await Promise.all([store.readTree(ours), store.readTree(theirs)])
  const out = new Map(o.entries.map((e) => [e.name, e]))
  for (const e of t.entries) {
    const mine = out.get(e.name)
    if (!mine) out.set(e.name, e)
    else if (mine.type === 'dir' && e.type === 'dir')
      out.set(e.name, { ...mine, subtree: await unionTrees(store, mine.subtree!, e.subtree) })
  }
  return store.putTree({ entries: [...out.values()].sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0)) })
}

/** The entry at a HOME-relative path of a tree, if any. */
export async function entryAt(store: SpaceStore, tree: string | undefined, path: string): Promise<TreeEntry | undefined> {
  let current = tree
  let found: TreeEntry | undefined
  for (const part of path.split('/').filter(Boolean)) {
    if (!current) return undefined
    found = (await store.readTree(current)).entries.find((e) => e.name === part)
    if (!found) return undefined
    current = found.type === 'dir' ? found.subtree : undefined
  }
  return found
}

/**
 * The tree two states are merged against: their best common ancestor's; with several (after a
 * criss-cross, when two computers merged each other's work at once), the merge of those, as
 * git's recursive strategy does. Picking one of them would show what the other already holds
 * as a change made on both sides, and call conflicts where there are none. No conflict copy of
 * this inner merge reaches the result: each is in neither side, so it stays out.
 */
async function baseTree(store: SpaceStore, graph: CommitGraph, ours: readonly string[], theirs: string): Promise<string | undefined> {
  const bases = await graph.mergeBases(ours, theirs)
  if (bases.length === 0) return undefined
  let tree = bases[0]!.commit.tree
  for (let i = 1; i < bases.length; i++) {
    const under = await baseTree(
      store,
      graph,
      bases.slice(0, i).map((b) => b.id),
      bases[i]!.id,
    )
    tree = await mergeTrees(store, under, tree, bases[i]!.commit.tree, () => Promise.resolve('base'), [])
  }
  return tree
}

/**
 * Merge the heads of a space (ids of their commits) into one tree. `readTree` of the store then
 * serves the merged trees; `storeVirtualTrees` keeps them.
 */
export async function mergeHeads(store: SpaceStore, graph: CommitGraph, headIds: Iterable<string>): Promise<MergedHeads> {
  const ids = [...new Set(headIds)]
  const tips: CommitRef[] = []
  for (const id of ids) {
    let behind = false
    for (const other of ids) if (other !== id && (await graph.isAncestor(id, other))) behind = true
    if (!behind) tips.push(await graph.ref(id))
  }
  tips.sort((x, y) => (x.commit.time === y.commit.time ? (x.id < y.id ? -1 : 1) : x.commit.time < y.commit.time ? -1 : 1))
  const conflicts: MergeConflict[] = []
  if (tips.length === 0) return { heads: [], conflicts }
  let tree = tips[0]!.commit.tree
  const merged: CommitRef[] = [tips[0]!]
  for (const theirs of tips.slice(1)) {
    const base = await baseTree(
      store,
      graph,
      merged.map((m) => m.id),
      theirs.id,
    )
    const sideOf = [...merged]
    const deviceOf: DeviceOf = async (side, path, entry) => {
      if (side === 'theirs') return theirs.commit.deviceName
      // The merged side mixes several heads: name the one whose tree holds this very version.
      for (const m of [...sideOf].reverse()) if (sameEntry(await entryAt(store, m.commit.tree, path), entry)) return m.commit.deviceName
      return sideOf[0]!.commit.deviceName
    }
    tree = await mergeTrees(store, base, tree, theirs.commit.tree, deviceOf, conflicts)
    merged.push(theirs)
  }
  return { tree, heads: merged, conflicts }
}
