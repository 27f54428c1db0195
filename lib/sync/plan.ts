/**
 * The down-sync plan: what bringing this computer from the last state it synced (the base
 * tree) to the chain's merged state (the target tree) would do here, item by item. The plan is
 * the preview (nothing is touched while making it) and the exact list `apply` works from.
 *
 * Only what the chain changed since the base is looked at (identical subtrees are skipped by
 * id), and for each such item the local disk decides:
 *  - unchanged here since the last sync (or absent): the chain's change is applied
 *    (`add`, `update`, `delete`);
 *  - already as incoming: nothing;
 *  - changed here too (or a local version that was never synced): a `conflict`, and both
 *    versions are kept. The newer modification time keeps the name; the other version goes
 *    beside it as `NAME.conflict-<device>-<YYYYMMDD-HHMMSS>[.ext]` (see merge.ts). Where the
 *    kinds differ (a folder against a file), the local one always stays.
 * A change made here to something the chain deleted is kept (the next up-sync sends it back).
 */
import { readFile, readlink } from 'node:fs/promises'
import { lstatSync, readdirSync, type BigIntStats } from 'node:fs'
import { join } from 'node:path'
import { cacheKey, fsPath } from '../fs/raw-name.js'
import type { CachedFile } from '../state/db.js'
import { treeTime, type Tree, type TreeEntry } from '../store/objects.js'
import type { SpaceStore } from '../store/space-store.js'
import { idsToHex, sameFile } from '../sources/walk.js'
import { freeConflictName, sameEntry } from './merge.js'
import { Chunker, gearTable } from '../store/chunker.js'
import { blobId } from '../vault/keys.js'
import { linkTarget, localStat } from '../sources/settings.js'

export type PlanOp = 'add' | 'update' | 'delete' | 'conflict'

/** What is known of one side of an item. */
export interface ItemSide {
  size: number
  /** Modification time, ms since the epoch. */
  mtimeMs: number
  kind: 'file' | 'dir' | 'symlink' | 'other'
  /** A local symlink followed (an include that is a link): its target, where apply writes. */
  through?: string
}

/** How a conflict is resolved: both versions are kept. */
export interface Resolution {
  /**
   * Which version stays at the path: `incoming` (the local one is first renamed to `copy`),
   * `local` (the incoming one is written at `copy`), or `merged` (the chain's merge already
   * placed both versions; the item applies as it is).
   */
  keep: 'incoming' | 'local' | 'merged'
  /** HOME-relative path of the copy (for `merged`: the merge's copy of the other version). */
  copy: string
}

export interface PlanItem {
  op: PlanOp
  /** The item as the plan names it: `<space>/<path>`, e.g. `settings/.gitconfig`. */
  item: string
  /** HOME-relative path. */
  path: string
  local?: ItemSide
  incoming?: ItemSide & { device: string }
  /** Why a conflict is one, and how it is resolved. */
  reason?: string
  resolution?: Resolution
  /** The incoming tree entry (absent for deletes). */
  entry?: TreeEntry
  /** Deletes: what is removed (a folder goes only once empty of anything the chain did not delete). */
  removes?: 'file' | 'dir' | 'symlink'
}

export interface PlanOptions {
  store: SpaceStore
  home: string
  cache: Map<string, CachedFile>
  /** Name of the device the incoming state comes from, for the preview. */
  device: string
  /** This computer's name, for the copies of local versions. */
  thisDevice: string
  /** Conflicts the chain's merge resolved, by the path that keeps the winner and by the copy. */
  merged?: Map<string, { reason: string; copy: string }>
  /** Which version keeps the name in a conflict: the newer (down-sync) or always the incoming (restore). */
  prefer?: 'newer' | 'incoming'
  /** Maps an incoming symlink target to this computer (the uploader's home to this one). */
  mapTarget?: (target: string) => string
  /** Filled with every incoming folder by HOME-relative path: apply puts their times back. */
  dirs?: Map<string, TreeEntry>
  /** Paths this computer leaves out (config `exclude`, Cloudy's own folders): never written here. */
  excluded?: (rel: string) => boolean
  /** Where a local symlink is followed, its target written instead of the link (settings.ts `linkFollower`). */
  follow?: (rel: string, base: TreeEntry | undefined) => boolean
}

const KIND_NAME = { file: 'file', dir: 'folder', symlink: 'symlink', other: 'special file' } as const
const EMPTY: Tree = { entries: [] }

function side(st: BigIntStats): ItemSide {
  return {
    size: Number(st.size),
    mtimeMs: Number(st.mtimeNs / 1_000_000n),
    kind: st.isFile() ? 'file' : st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : 'other',
  }
}

function incomingSide(e: TreeEntry, device: string): ItemSide & { device: string } {
  return { size: e.size ?? 0, mtimeMs: Number(BigInt(e.mtimeNs) / 1_000_000n), kind: e.type, device }
}

function lstatOrUndefined(abs: string): BigIntStats | undefined {
  try {
    // Synchronous: a cached lstat is microseconds, the promise round trip is not.
    return lstatSync(fsPath(abs), { bigint: true })
  } catch (err) {
    // EACCES: a folder above cannot be searched, so nothing can be written there either; the
    // apply then skips the item with a warning (an unreadable folder is not a failed run).
    if (!['ENOENT', 'ENOTDIR', 'EACCES'].includes((err as NodeJS.ErrnoException).code ?? '')) throw err
    return undefined
  }
}

function sameContent(content: Buffer, ids: readonly string[] | undefined): boolean {
  const hex = idsToHex(content)
  const want = ids ?? []
  return hex.length === want.length && hex.every((h, i) => h === want[i])
}

/** Whether a local file is the version `e` describes (the cache knows its content; else size and time). */
export function fileIs(st: BigIntStats, cached: CachedFile | undefined, e: TreeEntry): boolean {
  if (cached && sameFile(cached, st)) return sameContent(cached.content, e.content)
  return Number(st.size) === e.size && treeTime(st.mtimeNs) === e.mtimeNs
}

/** Entries under folder `abs`, at any depth (infinite if it cannot be listed: nothing is then known to be deletable). */
function countEntries(abs: string): number {
  let n = 0
  try {
    for (const d of readdirSync(fsPath(abs), { withFileTypes: true })) n += 1 + (d.isDirectory() ? countEntries(join(abs, d.name)) : 0)
  } catch {
    return Number.POSITIVE_INFINITY
  }
  return n
}

/** Files up to this size are read to tell a real conflict from an identical copy. */
const COMPARE_LIMIT = 64 * 1024 * 1024

/** Whether a local file has exactly the content of chunk ids `ids` (chunked and hashed as an up-sync would). */
async function sameBytes(store: SpaceStore, abs: string, ids: readonly string[]): Promise<boolean> {
  let data: Buffer
  try {
    if (lstatSync(fsPath(abs)).size > COMPARE_LIMIT) return false
    data = await readFile(fsPath(abs))
  } catch {
    return false
  }
  const chunker = new Chunker(gearTable(store.keys.gearSeed))
  const chunks = chunker.push(data)
  const last = chunker.finish()
  if (last) chunks.push(last)
  return chunks.length === ids.length && chunks.every((c, i) => blobId(store.keys, c).toString('hex') === ids[i])
}

/**
 * Walk what changed from `base` to `target` (tree ids; undefined = empty) against the local
 * disk, and yield every item a down-sync would change.
 */
export async function* planDiff(
  o: PlanOptions,
  base: string | undefined,
  target: string | undefined,
  rel = '',
  parentMissing = false,
): AsyncGenerator<PlanItem> {
  if (base === target) return
  const mapTarget = o.mapTarget ?? ((x: string) => x)
  const [b, t] = await Promise.all([base ? o.store.readTree(base) : EMPTY, target ? o.store.readTree(target) : EMPTY])
  // Fetch every changed subtree at once; the walk below then finds them ready.
  for (const e of t.entries) if (e.type === 'dir' && e.subtree) void o.store.readTree(e.subtree)
  const mb = new Map(b.entries.map((e) => [e.name, e]))
  const mt = new Map(t.entries.map((e) => [e.name, e]))
  const names = [...new Set([...mt.keys(), ...mb.keys()])].sort()
  // A copy's name must be free in both trees and on this disk.
  const taken = (n: string) => mt.has(n) || mb.has(n) || (!parentMissing && lstatOrUndefined(join(o.home, rel, n)) !== undefined)
  for (const name of names) {
    const eb = mb.get(name)
    const e = mt.get(name)
    if (sameEntry(eb, e)) continue
    const path = rel ? `${rel}/${name}` : name
    if (o.excluded?.(path)) continue
    const abs = join(o.home, path)
    const item = `${o.store.keys.name}/${path}`
    // Under a folder that does not exist here, nothing exists: no need to look.
    const followed = !parentMissing && !!o.follow?.(path, eb)
    const st = parentMissing ? undefined : followed ? localStat(abs, true) : lstatOrUndefined(abs)
    const local = st && { ...side(st), ...(followed && (await linkTarget(abs))) }
    if (e?.type === 'dir') o.dirs?.set(path, e)
    const baseSub = eb?.type === 'dir' ? eb.subtree : undefined

    if (!e) {
      // Deleted in the chain: removed here only if unchanged since the last sync.
      if (!st || !eb) continue
      if (eb.type === 'dir' && st.isDirectory()) {
        yield* planDiff(o, baseSub, undefined, path)
        yield { op: 'delete', item, path, local, removes: 'dir' }
      } else if (eb.type === 'file' && st.isFile() && fileIs(st, o.cache.get(cacheKey(path)), eb)) {
        yield { op: 'delete', item, path, local, removes: 'file' }
      } else if (eb.type === 'symlink' && st.isSymbolicLink() && (await readlink(fsPath(abs))) === mapTarget(eb.target ?? '')) {
        yield { op: 'delete', item, path, local, removes: 'symlink' }
      }
      continue
    }

    const incoming = incomingSide(e, o.device)
    const merged = o.merged?.get(path)
    const plain = (op: 'add' | 'update'): PlanItem =>
      merged
        ? {
            op: 'conflict',
            item,
            path,
            local,
            incoming,
            entry: e,
            reason: merged.reason,
            resolution: { keep: 'merged', copy: merged.copy },
          }
        : { op, item, path, local, incoming, entry: e }
    const conflict = (reason: string, keep: 'incoming' | 'local'): PlanItem => {
      const versionMs = keep === 'incoming' ? local!.mtimeMs : incoming.mtimeMs
      const device = keep === 'incoming' ? o.thisDevice : o.device
      const copyName = freeConflictName(name, device, versionMs, taken)
      const copy = rel ? `${rel}/${copyName}` : copyName
      const what = keep === 'incoming' ? `the local version is kept as ${copyName}` : `the incoming version is kept as ${copyName}`
      return { op: 'conflict', item, path, local, incoming, entry: e, reason: `${reason}: ${what}`, resolution: { keep, copy } }
    }

    if (!st) {
      yield plain('add')
      if (e.type === 'dir') yield* planDiff(o, baseSub, e.subtree, path, true)
      continue
    }
    if (local!.kind !== e.type) {
      // The chain changed a file or link into something else, and this one is the synced
      // version (safe in the vault): replaced.
      const synced =
        eb?.type === local!.kind &&
        ((eb.type === 'file' && fileIs(st, o.cache.get(cacheKey(path)), eb)) ||
          (eb.type === 'symlink' && (await readlink(fsPath(abs))) === mapTarget(eb.target ?? '')))
      if (synced) {
        yield plain('update')
        if (e.type === 'dir') yield* planDiff(o, undefined, e.subtree, path, true)
        continue
      }
      // A folder is never replaced by a file: what the chain deleted in it goes (if unchanged
      // here). If that is all it holds, the chain's file takes its place; else the folder
      // stays and the incoming version goes beside it.
      if (local!.kind === 'dir' && baseSub) {
        const deletes: PlanItem[] = []
        for await (const d of planDiff(o, baseSub, undefined, path)) deletes.push(d)
        yield* deletes
        if (deletes.length === countEntries(abs)) {
          yield plain('update')
          continue
        }
      }
      const c = conflict(`a ${KIND_NAME[e.type]} is incoming where this computer has a ${KIND_NAME[local!.kind]}`, 'local')
      yield c
      // An incoming folder is restored whole under the copy's name.
      if (e.type === 'dir') yield* planDiff(o, undefined, e.subtree, c.resolution!.copy, true)
      continue
    }
    if (e.type === 'dir') {
      let inside = 0
      for await (const d of planDiff(o, baseSub, e.subtree, path)) {
        inside++
        yield d
      }
      // The folder's own mode and time: taken from the chain if this one is as last synced
      // (else the local change is up-sync's to send). Its time alone is put back anyway when
      // something inside it is written.
      const mode = Number(st.mode & 0o7777n)
      const mtime = treeTime(st.mtimeNs)
      const asSynced = eb?.type === 'dir' && eb.mode === mode && eb.mtimeNs === mtime
      if (asSynced && (mode !== e.mode || (mtime !== e.mtimeNs && inside === 0))) yield plain('update')
      continue
    }
    // The newer version keeps the name; a tie goes to the incoming one.
    const newer = o.prefer === 'incoming' || BigInt(e.mtimeNs) >= BigInt(treeTime(st.mtimeNs))
    if (e.type === 'symlink') {
      const current = await readlink(fsPath(abs))
      if (current === mapTarget(e.target ?? '')) continue
      if (eb?.type === 'symlink' && current === mapTarget(eb.target ?? '')) yield plain('update')
      else yield conflict('a different local link exists that was never synced', newer ? 'incoming' : 'local')
      continue
    }
    const cached = o.cache.get(cacheKey(path))
    if (fileIs(st, cached, e)) {
      // The same content; only the mode may differ.
      if (cached && sameFile(cached, st) && cached.mode !== e.mode) yield plain('update')
      continue
    }
    if (eb?.type === 'file' && fileIs(st, cached, eb)) {
      yield plain('update')
      continue
    }
    // Before calling it a conflict, look at the bytes: the same content (e.g. the same dotfile
    // made on two computers) only differs in its time or mode.
    if (Number(st.size) === e.size && (await sameBytes(o.store, abs, e.content ?? []))) {
      yield plain('update')
      continue
    }
    const reason = eb
      ? 'changed here since the last sync and changed in the chain'
      : 'a different local version exists that was never synced'
    yield conflict(reason, newer ? 'incoming' : 'local')
  }
}
