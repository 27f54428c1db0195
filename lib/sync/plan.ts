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
 * A change made here to something the chain deleted is kept (the next up-sync sends it back);
 * a folder removed here comes back only with what the chain changed in it (or, where a down-sync
 * of this computer put it in a copy that no up-sync sent yet, still here, that copy is finished).
 * "Unchanged here" is
 * the file cache's word while the file's stat is the cached one, else the file's content's.
 * Apart from the diff, the files a down-sync that stopped halfway wrote are looked at
 * (`writtenDeletes`): the chain may have deleted them since, where the diff sees no change.
 */
import { open, readlink } from 'node:fs/promises'
import { lstatSync, readdirSync, type BigIntStats } from 'node:fs'
import { join } from 'node:path'
import { cacheKey, fsPath } from '../fs/raw-name.js'
import type { CachedFile } from '../state/db.js'
import { treeTime, type Tree, type TreeEntry } from '../store/objects.js'
import type { SpaceStore } from '../store/space-store.js'
import { idsToHex, sameFile } from '../sources/walk.js'
import { entryAt, freeConflictName, isConflictCopyOf, sameButTime, sameEntry } from './merge.js'
import { Chunker, gearTable } from '../store/chunker.js'
import { blobId, type SpaceKeys } from '../vault/keys.js'
import { linkTarget, localStat } from '../sources/settings.js'
import type { UnfinishedFolder } from './apply.js'

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
  /**
   * `local` only: the incoming version is at `copy` already (a killed down-sync of this computer
   * wrote it there and recorded nothing), as the plan saw it: rewritten only if still so.
   */
  written?: { size: number; mtimeMs: number }
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
  /**
   * Only the time changed (a file touched, a folder whose content came and went): applied with
   * the rest, so that every computer holds the same tree and no up-sync sends the old time
   * back, but never shown or counted as a change.
   */
  timeOnly?: true
}

/** The items a person is shown and counted: every one but time-only changes. */
export function shownItems<T extends Pick<PlanItem, 'timeOnly'>>(items: readonly T[]): T[] {
  return items.filter((it) => !it.timeOnly)
}

export interface PlanOptions {
  /** How items are named: `<label>/<path>` (default: the space's name). */
  label?: string
  store: SpaceStore
  home: string
  cache: Map<string, CachedFile>
  /** Name of the device the incoming state comes from, for the preview. */
  device: string
  /** The incoming state merges several devices' heads: each version is credited through `authorOf`. */
  merging?: boolean
  /**
   * Compare every entry of the target with the disk, also those the base holds as they are
   * (restore: what was deleted or changed here since the last sync comes back too).
   */
  everything?: boolean
  /** The device that made an incoming version (names its conflict copy); else `device`. */
  authorOf?: (path: string, entry: TreeEntry) => Promise<string>
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
  /** The folders a killed down-sync of this computer left unfinished (apply.ts `folderJournal`). */
  unfinished?: readonly UnfinishedFolder[]
  /**
   * HOME-relative paths of the copies a down-sync of this computer made, whole or stopped halfway
   * (killed, or `--only`), that no up-sync sent yet: recorded before it applied (copies.ts
   * `pendingCopies`). A folder's copy among them stands for the chain's folder here.
   */
  unsentCopies?: readonly string[]
  /**
   * Whether a commit of the chain since this computer's last complete down-sync made this version
   * at the path (merge.ts `heldSince`). A local file that is such a version is no change made
   * here: a down-sync that stopped before it recorded what it applied (killed, or `--only`) wrote
   * it, and what the chain did with it since is applied as over an unchanged file.
   */
  held?: (path: string, entry: TreeEntry) => Promise<boolean>
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

/** `localStat` through a link, undefined where a folder above cannot be searched (as `lstatOrUndefined`). */
function followedStat(abs: string): BigIntStats | undefined {
  try {
    return localStat(abs, true)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EACCES') throw err
    return undefined
  }
}

/** True if `abs` cannot be looked at because a folder above it cannot be searched. */
function denied(abs: string): boolean {
  try {
    lstatSync(fsPath(abs))
    return false
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EACCES'
  }
}

function sameContent(content: Buffer, ids: readonly string[] | undefined): boolean {
  const hex = idsToHex(content)
  const want = ids ?? []
  return hex.length === want.length && hex.every((h, i) => h === want[i])
}

/** Reads local files' chunk ids, as an up-sync would make them; each file once. */
/** An item as the plan names it: `settings/.gitconfig`, `apps/<id>/.config/…`. */
function itemName(o: PlanOptions, path: string): string {
  return `${o.label ?? o.store.keys.name}/${path}`
}

export type ChunkIdsOf = (abs: string) => Promise<string[] | undefined>

/**
 * Whether a local file is the version `e` describes. The file cache knows its content while
 * its stat is the one cached; otherwise (changed since Cloudy last looked, or never looked at)
 * size and time are not proof, since two versions of one size may be written in the same clock
 * tick and `cp -p`, `rsync -t` or `tar` restore times: the content decides.
 */
export async function fileIs(
  abs: string,
  st: BigIntStats,
  cached: CachedFile | undefined,
  e: TreeEntry,
  idsOf: ChunkIdsOf,
): Promise<boolean> {
  if (cached && sameFile(cached, st)) return sameContent(cached.content, e.content)
  if (Number(st.size) !== e.size || treeTime(st.mtimeNs) !== e.mtimeNs) return false
  return sameIds(await idsOf(abs), e.content)
}

/** An update that only brings a time (PlanItem.timeOnly); a conflict the merge resolved stays one. */
function timeOnly(it: PlanItem): PlanItem {
  return it.op === 'update' ? { ...it, timeOnly: true } : it
}

function sameIds(ids: readonly string[] | undefined, want: readonly string[] | undefined): boolean {
  const w = want ?? []
  return !!ids && ids.length === w.length && ids.every((h, i) => h === w[i])
}

/** Chunk ids of a local file, chunked and hashed as an up-sync would (undefined if it cannot be read). */
export async function chunkIds(keys: SpaceKeys, abs: string): Promise<string[] | undefined> {
  const chunker = new Chunker(gearTable(keys.gearSeed))
  const ids: string[] = []
  let fh
  try {
    fh = await open(fsPath(abs), 'r')
    for (;;) {
      // A fresh buffer each time: the chunker may keep views of the last one.
      const buf = Buffer.allocUnsafe(READ_SIZE)
      const { bytesRead } = await fh.read(buf, 0, READ_SIZE, null)
      if (bytesRead === 0) break
      for (const c of chunker.push(buf.subarray(0, bytesRead))) ids.push(blobId(keys, c).toString('hex'))
    }
    const last = chunker.finish()
    if (last) ids.push(blobId(keys, last).toString('hex'))
    return ids
  } catch {
    return undefined
  } finally {
    await fh?.close()
  }
}

const READ_SIZE = 1024 * 1024

/** `chunkIds` of a space, each file read at most once. */
export function chunkIdsOf(keys: SpaceKeys): ChunkIdsOf {
  const known = new Map<string, Promise<string[] | undefined>>()
  return (abs) => {
    let p = known.get(abs)
    if (!p) known.set(abs, (p = chunkIds(keys, abs)))
    return p
  }
}

/**
 * True if `abs` is the folder `e` as a killed down-sync of this computer left it: noted in its
 * folder journal with `e`'s mode and time, and still 0700 (as apply made it; the user did not
 * change it since).
 */
function leftUnfinished(o: PlanOptions, abs: string, e: TreeEntry): boolean {
  if (!o.unfinished?.some((f) => f.path === abs && f.mode === e.mode && f.mtimeNs === e.mtimeNs)) return false
  const st = lstatOrUndefined(abs)
  return !!st && st.isDirectory() && (st.mode & 0o7777n) === 0o700n
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
  if (base === target && !o.everything) return
  const mapTarget = o.mapTarget ?? ((x: string) => x)
  const idsOf = idsFor(o)
  const isFile = (st: BigIntStats, path: string, e: TreeEntry) => fileIs(join(o.home, path), st, o.cache.get(cacheKey(path)), e, idsOf)
  const fromChain = (path: string, st: BigIntStats) => chainMade(o, path, st)
  /** Whether the local `path` (stat `st`) is the file or link `e`. */
  const holds = async (path: string, st: BigIntStats, e: TreeEntry) =>
    e.type === 'file'
      ? st.isFile() && (await isFile(st, path, e))
      : e.type === 'symlink' && st.isSymbolicLink() && (await readlink(fsPath(join(o.home, path)))) === mapTarget(e.target ?? '')
  const [b, t] = await Promise.all([base ? o.store.readTree(base) : EMPTY, target ? o.store.readTree(target) : EMPTY])
  // Fetch every changed subtree at once; the walk below then finds them ready.
  for (const e of t.entries) if (e.type === 'dir' && e.subtree) void o.store.readTree(e.subtree)
  const mb = new Map(b.entries.map((e) => [e.name, e]))
  const mt = new Map(t.entries.map((e) => [e.name, e]))
  const names = [...new Set([...mt.keys(), ...mb.keys()])].sort()
  // A copy's name must be free in both trees and on this disk.
  const taken = (n: string) => mt.has(n) || mb.has(n) || (!parentMissing && lstatOrUndefined(join(o.home, rel, n)) !== undefined)
  /** A folder's copy of `name` a down-sync of this computer made and no up-sync sent, still a folder here (`unsentCopies`). */
  const unsentCopyOf = (name: string): string | undefined =>
    parentMissing
      ? undefined
      : o.unsentCopies
          ?.filter((p) => p.slice(0, Math.max(0, p.lastIndexOf('/'))) === rel)
          .map((p) => p.slice(p.lastIndexOf('/') + 1))
          .filter((n) => n !== name && isConflictCopyOf(n, name) && !mt.has(n) && !mb.has(n))
          .sort()
          .find((n) => lstatOrUndefined(join(o.home, rel, n))?.isDirectory())
  for (const name of names) {
    const eb = mb.get(name)
    const e = mt.get(name)
    if (sameEntry(eb, e) && !o.everything) continue
    const path = rel ? `${rel}/${name}` : name
    if (o.excluded?.(path)) continue
    const abs = join(o.home, path)
    const item = itemName(o, path)
    // Under a folder that does not exist here, nothing exists: no need to look.
    const followed = !parentMissing && !!o.follow?.(path, eb)
    const st = parentMissing ? undefined : followed ? followedStat(abs) : lstatOrUndefined(abs)
    const local = st && { ...side(st), ...(followed && (await linkTarget(abs))) }
    if (e?.type === 'dir') o.dirs?.set(path, e)
    const baseSub = eb?.type === 'dir' ? eb.subtree : undefined

    if (!e) {
      // Deleted in the chain: removed here only if unchanged since the last sync.
      if (!eb) continue
      if (!st) {
        // A folder above that cannot be searched hides whether it is still as synced: the apply
        // keeps it and says so (a warning, so the base does not move past this deletion).
        if (!parentMissing && denied(abs)) yield { op: 'delete', item, path, removes: eb.type === 'dir' ? 'dir' : eb.type }
        continue
      }
      if (eb.type === 'dir' && st.isDirectory()) {
        yield* planDiff(o, baseSub, undefined, path)
        yield { op: 'delete', item, path, local, removes: 'dir' }
      } else if (eb.type === 'file' && st.isFile() && ((await isFile(st, path, eb)) || (await fromChain(path, st)))) {
        yield { op: 'delete', item, path, local, removes: 'file' }
      } else if (eb.type === 'symlink' && st.isSymbolicLink() && (await readlink(fsPath(abs))) === mapTarget(eb.target ?? '')) {
        yield { op: 'delete', item, path, local, removes: 'symlink' }
      }
      continue
    }

    // Where several computers' heads were merged, the version is credited to the one that made it.
    const incoming = incomingSide(e, o.merging && o.authorOf ? await o.authorOf(path, e) : o.device)
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
    // A copy is named after the device that made the version in it: this one for the local
    // version, the incoming version's author (not the label of the merged heads) else.
    const conflict = async (reason: string, keep: 'incoming' | 'local'): Promise<PlanItem> => {
      const versionMs = keep === 'incoming' ? local!.mtimeMs : incoming.mtimeMs
      const device = keep === 'incoming' ? o.thisDevice : ((await o.authorOf?.(path, e)) ?? o.device)
      let copyName = freeConflictName(name, device, versionMs, taken)
      // A down-sync of this computer killed after it made this very copy (of a folder: while it
      // filled it) left it on disk, unrecorded: its name is the one to finish, not a reason to
      // keep the same version a second time as `-2` on every computer.
      let written: Resolution['written']
      let resumes = false
      const first = keep === 'local' && freeConflictName(name, device, versionMs, (n) => mt.has(n) || mb.has(n))
      if (first && first !== copyName) {
        const at = rel ? `${rel}/${first}` : first
        const cst = lstatOrUndefined(join(o.home, at))
        if (e.type === 'dir' ? leftUnfinished(o, join(o.home, at), e) : cst && (await holds(at, cst, e))) {
          copyName = first
          resumes = true
          if (e.type !== 'dir') written = { size: Number(cst!.size), mtimeMs: Number(cst!.mtimeNs / 1_000_000n) }
        }
      }
      // The same for any folder's copy a down-sync of this computer made and no up-sync sent:
      // one a killed run finished (its mode set), one of another version of the incoming folder
      // (the chain changed it since), or one a whole run made (the last synced state holds the
      // folder, which is in the copy here). It holds what the chain had changed in the folder
      // then; a second copy (`-2`, or named after the new version) would keep those versions
      // again, a version the chain moved inside the folder at its new path, and the next up-sync
      // would send both. It is finished with what the chain changed since (the copy's items below).
      if (e.type === 'dir' && keep === 'local' && !resumes) {
        const unsent = unsentCopyOf(name)
        if (unsent) copyName = unsent
      }
      const copy = rel ? `${rel}/${copyName}` : copyName
      const what = keep === 'incoming' ? `the local version is kept as ${copyName}` : `the incoming version is kept as ${copyName}`
      const resolution: Resolution = written ? { keep, copy, written } : { keep, copy }
      return { op: 'conflict', item, path, local, incoming, entry: e, reason: `${reason}: ${what}`, resolution }
    }

    if (!st) {
      if (e.type !== 'dir') {
        yield plain('add')
        continue
      }
      // What this computer had here is gone (the user removed the file or link that a down-sync
      // kept, putting the incoming folder in a copy no up-sync sent yet): that copy holds what
      // the chain had changed in the folder then. It is finished with what the chain changed
      // since, as when the local version is still here; bringing the folder back too would keep
      // those versions twice.
      if (unsentCopyOf(name)) {
        const c = await conflict(`a ${KIND_NAME[e.type]} is incoming where this computer removed what it had`, 'local')
        yield c
        yield* planDiff(o, baseSub, e.subtree, c.resolution!.copy)
        continue
      }
      const inside: PlanItem[] = []
      for await (const d of planDiff(o, baseSub, e.subtree, path, true)) inside.push(d)
      // A folder removed here since the last sync comes back only with what the chain changed in it.
      if (eb?.type === 'dir' && inside.length === 0) continue
      yield plain('add')
      yield* inside
      continue
    }
    if (local!.kind !== e.type) {
      // The chain changed a file or link into something else, and this one is the synced
      // version (safe in the vault): replaced.
      const synced =
        eb?.type === local!.kind &&
        ((eb.type === 'file' && (await isFile(st, path, eb))) ||
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
      const c = await conflict(`a ${KIND_NAME[e.type]} is incoming where this computer has a ${KIND_NAME[local!.kind]}`, 'local')
      if (e.type !== 'dir') {
        yield c
        continue
      }
      // An incoming folder goes under the copy's name. If this computer replaced the synced
      // folder, the copy holds only what the chain changed in it since (the rest was removed
      // here); nothing changed: no copy, the local version stays.
      // A copy a killed run left is compared item by item: what it wrote is not written again,
      // what the user changed in it since is kept (a conflict in the copy).
      const resumed = lstatOrUndefined(join(o.home, c.resolution!.copy)) !== undefined
      const inside: PlanItem[] = []
      for await (const d of planDiff(o, baseSub, e.subtree, c.resolution!.copy, !resumed)) inside.push(d)
      if (baseSub && inside.length === 0 && !resumed) continue
      yield c
      yield* inside
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
      if (asSynced && mode !== e.mode) yield plain('update')
      else if (asSynced && mtime !== e.mtimeNs && inside === 0) yield timeOnly(plain('update'))
      continue
    }
    // The newer version keeps the name; a tie goes to the incoming one.
    const newer = o.prefer === 'incoming' || BigInt(e.mtimeNs) >= BigInt(treeTime(st.mtimeNs))
    if (e.type === 'symlink') {
      const current = await readlink(fsPath(abs))
      if (current === mapTarget(e.target ?? '')) continue
      if (eb?.type === 'symlink' && current === mapTarget(eb.target ?? '')) yield plain('update')
      else yield await conflict('a different local link exists that was never synced', newer ? 'incoming' : 'local')
      continue
    }
    const cached = o.cache.get(cacheKey(path))
    if (await isFile(st, path, e)) {
      // The same content; the mode or the time may differ. A time other than the synced one
      // is a local change up-sync sends; the synced one is brought up to the chain's.
      if (cached && sameFile(cached, st) && cached.mode !== e.mode) yield plain('update')
      else if (eb?.type === 'file' && treeTime(st.mtimeNs) === eb.mtimeNs && eb.mtimeNs !== e.mtimeNs && sameButTime(eb, e))
        yield timeOnly(plain('update'))
      continue
    }
    const asSynced = eb?.type === 'file' && (await isFile(st, path, eb))
    if (asSynced || (await fromChain(path, st))) {
      // As synced here, and the chain only touched it: no bytes to bring.
      yield asSynced && sameButTime(eb, e) ? timeOnly(plain('update')) : plain('update')
      continue
    }
    // Before calling it a conflict, look at the bytes: the same content (e.g. the same dotfile
    // made on two computers) only differs in its time or mode.
    if (Number(st.size) === e.size && sameIds(await idsOf(abs), e.content)) {
      yield plain('update')
      continue
    }
    const reason = eb
      ? 'changed here since the last sync and changed in the chain'
      : 'a different local version exists that was never synced'
    // One version, one copy: the chain may already keep one side's version as a conflict copy
    // here (made by another computer's down-sync or by the merge).
    const copies = [...mt.values()].filter((x) => x.type === 'file' && x.name !== name && isConflictCopyOf(x.name, name))
    // The incoming version is kept in the chain's copy (written here too): the local one stays.
    if (!newer && copies.some((x) => sameIds(x.content, e.content))) continue
    const localIds = copies.length ? await idsOf(abs) : undefined
    if (localIds && copies.some((x) => sameIds(localIds, x.content))) {
      // The local version is kept in the chain's copy: the incoming one takes the name.
      yield plain('update')
      continue
    }
    yield await conflict(reason, newer ? 'incoming' : 'local')
  }
}

/** Whether the local file `path` (stat `st`) is a version the chain made since the last down-sync (`held`). */
async function chainMade(o: PlanOptions, path: string, st: BigIntStats): Promise<boolean> {
  if (!o.held || !st.isFile()) return false
  const cached = o.cache.get(cacheKey(path))
  const content = cached && sameFile(cached, st) ? idsToHex(cached.content) : await idsFor(o)(join(o.home, path))
  const name = path.slice(path.lastIndexOf('/') + 1)
  const mode = Number(st.mode & 0o7777n)
  return !!content && o.held(path, { name, type: 'file', mode, mtimeNs: treeTime(st.mtimeNs), size: Number(st.size), content })
}

/**
 * Deletes of files a down-sync of this computer wrote since its last complete one (`written`:
 * killed before it recorded what it applied, or `--only`) where neither the last synced state
 * (`base`) nor the chain's (`target`) holds anything: the chain added that version and deleted
 * it since, so the diff never looks there. A file still the version a commit since made there
 * (`held`) is the chain's, no add of this computer's; left, the next up-sync would send it back
 * over the deletion. A file changed here since is the user's and stays.
 */
export async function* writtenDeletes(
  o: PlanOptions,
  base: string | undefined,
  target: string | undefined,
  written: readonly string[],
): AsyncGenerator<PlanItem> {
  for (const path of written) {
    if (o.excluded?.(path)) continue
    const st = lstatOrUndefined(join(o.home, path))
    if (!st?.isFile() || (await entryAt(o.store, base, path)) || (await entryAt(o.store, target, path))) continue
    if (await chainMade(o, path, st)) yield { op: 'delete', item: itemName(o, path), path, local: side(st), removes: 'file' }
  }
}

const idsByPlan = new WeakMap<PlanOptions, ChunkIdsOf>()

/** One plan's `chunkIdsOf` (each local file read at most once per plan). */
function idsFor(o: PlanOptions): ChunkIdsOf {
  let f = idsByPlan.get(o)
  if (!f) idsByPlan.set(o, (f = chunkIdsOf(o.store.keys)))
  return f
}

/**
 * Deletes of copies of chain versions this computer's down-syncs wrote (copies.ts `madeCopies`)
 * and its up-syncs have not sent (`unsent`), where a commit since the last down-sync (`held`)
 * already held that very version at that path and the chain's state (`target`) has nothing
 * there now: the chain kept that version in the same copy (another computer's down-sync or
 * merge made it) and deleted it since. This computer's copy is redundant; sent as its own add,
 * it would bring the deleted copy back everywhere. Only a file or link still as written goes (a
 * copy changed here is the user's); a folder's copy stays (its contents are not compared).
 */
export async function* madeCopyDeletes(
  o: PlanOptions,
  target: string | undefined,
  unsent: ReadonlyMap<string, TreeEntry>,
  held: (path: string, entry: TreeEntry) => Promise<boolean>,
): AsyncGenerator<PlanItem> {
  const idsOf = idsFor(o)
  for (const [path, made] of unsent) {
    if (made.type === 'dir' || o.excluded?.(path)) continue
    const abs = join(o.home, path)
    const st = lstatOrUndefined(abs)
    if (!st || (await entryAt(o.store, target, path))) continue
    const asWritten =
      made.type === 'file'
        ? st.isFile() && (await fileIs(abs, st, o.cache.get(cacheKey(path)), made, idsOf))
        : st.isSymbolicLink() && (await readlink(fsPath(abs))) === made.target
    if (!asWritten || !(await held(path, made))) continue
    yield { op: 'delete', item: itemName(o, path), path, local: side(st), removes: made.type === 'file' ? 'file' : 'symlink' }
  }
}

/**
 * `items` without the chain's adds of a copy of a chain version that a down-sync of this
 * computer wrote (copies.ts `madeCopies`, a folder's copy with all it held) and that is gone
 * from here since: the user deleted it. Another computer made the same copy and sent it; taking
 * it back would undo the deletion, which the next up-sync sends (publishing the copy as written
 * first, so that the merge sees this computer held it). Inside the copy of an incoming folder
 * (kept beside a local file) a path stands for the same path in the folder.
 */
export async function withoutDeletedCopies(
  o: PlanOptions,
  items: readonly PlanItem[],
  made: ReadonlyMap<string, TreeEntry>,
): Promise<PlanItem[]> {
  if (made.size === 0) return [...items]
  const mapTarget = o.mapTarget ?? ((x: string) => x)
  const folderCopies = items
    .filter((it) => it.op === 'conflict' && it.resolution?.keep === 'local' && it.entry?.type === 'dir')
    .map((it) => [it.resolution!.copy, it.path] as const)
  const chainPath = (path: string): string => {
    for (let i = 0; i < 100; i++) {
      const f = folderCopies.find(([copy]) => path === copy || path.startsWith(copy + '/'))
      if (!f) break
      path = f[1] + path.slice(f[0].length)
    }
    return path
  }
  const madeAt = async (path: string): Promise<TreeEntry | undefined> => {
    const own = made.get(path)
    if (own) return own
    for (const [p, e] of made)
      if (e.type === 'dir' && path.startsWith(p + '/')) {
        const inside = await entryAt(o.store, e.subtree, path.slice(p.length + 1))
        if (inside) return inside
      }
    return undefined
  }
  const same = (m: TreeEntry, e: TreeEntry) =>
    sameEntry(m, e) || (e.type === 'symlink' && sameEntry(m, { ...e, target: mapTarget(e.target ?? '') }))
  const dropped: string[] = []
  const out: PlanItem[] = []
  for (const it of items) {
    if (dropped.some((d) => it.path.startsWith(d + '/'))) continue
    if (it.op === 'add' && it.entry) {
      const at = chainPath(it.path)
      const m = await madeAt(at)
      if (m && same(m, it.entry) && !lstatOrUndefined(join(o.home, at)) && !denied(join(o.home, at))) {
        dropped.push(it.path)
        continue
      }
    }
    out.push(it)
  }
  return out
}
