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
 *    wins over an edit: nothing is lost); a folder removed on one side keeps only what the
 *    other changed in it (nothing: it stays removed);
 *  - absent from the base, but one side's version was held (added, not kept from older
 *    history) by the other since: the same add on both sides, so that version is the base
 *    (the same conflict copy made on two computers, then deleted on one, stays deleted); the
 *    same for a file or link both sides changed: one side's version the other made since is
 *    no edit of that side (a half-done down-sync wrote it there), and what the other did wins;
 *  - changed on both sides differently: BOTH are kept. The newer modification time keeps the
 *    name (a tie is decided by the versions themselves, see `keepsName`); the other version is
 *    kept beside it as `NAME.conflict-<device>-<YYYYMMDD-HHMMSS>[.ext]`, where device is the
 *    one that made the version in the copy and time its modification time (UTC), unless a side
 *    already keeps that version as a copy (where it keeps the one that would keep the name, the
 *    other keeps the name instead). A folder keeps the name over a file or a link; a
 *    folder replaced by a file on one side keeps only what the other side changed in it, and if
 *    that is nothing, the file takes its place. But where the file's side holds a conflict copy
 *    of the folder that holds a version the other side made in it since the base (a down-sync
 *    of the file's side that stopped halfway made the copy, and its up-sync sent it), the folder
 *    is that copy: what the other side changed in the folder is merged into it, and the file
 *    keeps the name (`copiedFolder`). A folder removed (or replaced by a file) on a side that
 *    keeps the base's folder in a conflict copy of it (a whole down-sync made it) does not get
 *    back, as a change of the other side, a conflict copy of a base version that copy holds at
 *    its name: the other side's merge only moved it aside (`keptAside`). The same where that
 *    side has the folder again (a third computer's change in it, merged first, kept it).
 *  - one version in several conflict copies of one name (two computers each kept it beside
 *    their own under the first name free on their disk): one copy stays (`keepOneCopy`).
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
  /** The device that made a version found at a path of the merged tree (names its conflict copies). */
  authorOf: (path: string, entry: TreeEntry) => Promise<string>
}

const EMPTY: Tree = { entries: [] }

/** The longest file name, in bytes, of the file systems Cloudy writes to (Linux NAME_MAX). */
export const NAME_MAX = 255
/** Longer "extensions" are part of the name (it is a dotted name, not a file type). */
const EXT_MAX = 32
/** The device part of a conflict name is cut to this many characters. */
const DEVICE_MAX = 40

/** `name` split into stem and extension (`.ext`, with its dot), the extension kept last in a copy's name. */
function splitExt(name: string): [string, string] {
  const dot = name.lastIndexOf('.')
  if (dot <= 0 || Buffer.byteLength(name.slice(dot)) > EXT_MAX) return [name, '']
  return [name.slice(0, dot), name.slice(dot)]
}

/** The first `max` bytes of `s` in UTF-8, never cutting a character in half. */
function cutUtf8(s: string, max: number): string {
  const b = Buffer.from(s)
  if (b.length <= max) return s
  let end = max
  while (end > 0 && (b[end]! & 0xc0) === 0x80) end--
  return b.subarray(0, end).toString()
}

/**
 * `NAME.conflict-<device>-<YYYYMMDD-HHMMSS>[-N][.ext]` (N from 2 when the first is taken); the
 * extension stays last so the file still opens. A long NAME is shortened (whole UTF-8 characters)
 * so the result fits NAME_MAX: a function of its inputs only, so every computer derives the same.
 */
export function conflictName(name: string, device: string, mtimeMs: number, n = 1): string {
  const d = new Date(mtimeMs)
  const p = (x: number) => String(x).padStart(2, '0')
  const stamp = `${d.getUTCFullYear()}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}-${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}`
  const who = device.replace(/[^A-Za-z0-9_-]+/g, '_').slice(0, DEVICE_MAX) || 'device'
  const [stem, ext] = splitExt(name)
  const tail = `.conflict-${who}-${stamp}${n > 1 ? `-${n}` : ''}${ext}`
  return cutUtf8(stem, NAME_MAX - Buffer.byteLength(tail)) + tail
}

/** A conflict name not yet taken in `taken` (a `-2`, `-3`… before the extension if needed). */
export function freeConflictName(name: string, device: string, mtimeMs: number, taken: (n: string) => boolean): string {
  for (let i = 1; ; i++) {
    const n = conflictName(name, device, mtimeMs, i)
    if (!taken(n)) return n
  }
}

/** Two entries of one version, though their times may differ: a touch is no change of content. */
export function sameButTime(a: TreeEntry, b: TreeEntry): boolean {
  return (
    a.type === b.type &&
    a.mode === b.mode &&
    a.size === b.size &&
    a.target === b.target &&
    (a.content ?? []).join() === (b.content ?? []).join()
  )
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

/** What a 3-way merge of trees needs to know of the history behind its sides. */
export interface MergeSides {
  /** The device that made a version found at `path` (named in its conflict copy). */
  authorOf: (path: string, entry: TreeEntry) => Promise<string>
  /**
   * Whether a side held this version at `path` in some state since the merge base (for a
   * folder: any folder there) that it added: a commit that only kept it from the state its
   * parents merge into (older history, not yet merged with the base's removal of it) does not
   * count. A version the base lacks but both sides held is one version added on both: the base
   * of what each side did with it since. Without it, such adds count as different.
   */
  held?: (side: 'ours' | 'theirs', path: string, entry: TreeEntry) => Promise<boolean>
}

/** A version's key for a tie of modification times (`keepsName`): kind, mode, content, link target. */
function tieKey(e: TreeEntry): [string, number, string, string] {
  return [e.type, e.mode, (e.content ?? []).join(), e.target ?? '']
}

/**
 * Whether `theirs` keeps the name over `ours`: the newer modification time; with one time, the
 * version that sorts last by kind, mode, content and link target. A tie is decided by the two
 * versions alone, never by which side or head holds them: the heads are merged in an order
 * that changes as computers publish (a side's later commit that still holds its version comes
 * after the other's), so two merges of the same two versions would keep a different one at the
 * name, and the copy one computer deleted would come back from the other's merge.
 */
function keepsName(ours: TreeEntry, theirs: TreeEntry): boolean {
  const [o, t] = [BigInt(ours.mtimeNs), BigInt(theirs.mtimeNs)]
  if (o !== t) return t > o
  const [ko, kt] = [tieKey(ours), tieKey(theirs)]
  for (let i = 0; i < ko.length; i++) if (ko[i] !== kt[i]) return kt[i]! > ko[i]!
  return true
}

/** A version's stand-in as the base of one added on both sides: a folder's contents are merged inside. */
function asBase(e: TreeEntry): TreeEntry {
  return e.type === 'dir' ? { ...e, subtree: undefined } : e
}

/** What `conflictName` puts between the name's stem and its extension (several in a copy of a copy): no other dot. */
const CONFLICT_TAILS = /^(?:\.conflict-[^.]*)+$/

/** Whether `copy` is a conflict name made from `name` (see `conflictName`). */
export function isConflictCopyOf(copy: string, name: string): boolean {
  const [stem, ext] = splitExt(name)
  if (!copy.endsWith(ext)) return false
  for (let i = copy.indexOf('.conflict-'); i > 0; i = copy.indexOf('.conflict-', i + 1))
    if (
      stem.startsWith(copy.slice(0, i)) &&
      (i === stem.length || Buffer.byteLength(copy) > NAME_MAX - 8) &&
      // Only conflict tails up to the extension: `n0.conflict-c3-….txt` is a copy of `n0.txt`,
      // not of `n0` (whose copies have no extension). Taken for one, a version that a copy of
      // `n0.txt` keeps counted as kept for `n0` too: the merge (and the plan) made no copy of
      // `n0`'s losing version, and `n0` lost it.
      CONFLICT_TAILS.test(copy.slice(i, copy.length - ext.length))
    )
      return true
  return false
}

async function isEmpty(store: SpaceStore, tree: string): Promise<boolean> {
  return (await store.readTree(tree)).entries.length === 0
}

/**
 * The folder's copy, on the side that replaced the folder at `path` by a file (`fileSide`), that
 * holds the other side's folder as a down-sync of the file's side that stopped halfway copied it:
 * a conflict copy of the name that the base and the folder's side lack, holding a version the
 * folder's side made in the folder since the base (`held`). A copy made by a whole down-sync
 * holds only what the base held, and is not one.
 */
async function copiedFolder(
  store: SpaceStore,
  how: MergeSides,
  folderSide: 'ours' | 'theirs',
  path: string,
  baseSub: string | undefined,
  fileSide: ReadonlyMap<string, TreeEntry>,
  folders: ReadonlyMap<string, TreeEntry>,
  base: ReadonlyMap<string, TreeEntry>,
): Promise<TreeEntry | undefined> {
  if (!how.held || !baseSub) return undefined
  const name = path.slice(path.lastIndexOf('/') + 1)
  const heldIn = async (tree: string | undefined, at: string): Promise<boolean> => {
    if (!tree) return false
    for (const e of (await store.readTree(tree)).entries) {
      const p = `${at}/${e.name}`
      if (e.type === 'dir' ? await heldIn(e.subtree, p) : await how.held!(folderSide, p, e)) return true
    }
    return false
  }
  const copies = [...fileSide.values()]
    .filter((x) => x.type === 'dir' && x.name !== name && isConflictCopyOf(x.name, name) && !base.has(x.name) && !folders.has(x.name))
    .sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0))
  for (const k of copies) if (await heldIn(k.subtree, path)) return k
  return undefined
}

/**
 * The folders the side that removed the folder `name` (or replaced it by a file) keeps it in as a
 * conflict copy it added since the base (`removing`), and the merge keeps as they are (the other
 * side lacks them, and did not hold them since). Their trees go down the merge of the folder as
 * `aside`. So do those of a side that keeps the folder too (its removal merged with a third
 * computer's change in it).
 */
async function keptCopies(
  how: MergeSides,
  removingSide: 'ours' | 'theirs',
  rel: string,
  name: string,
  removing: ReadonlyMap<string, TreeEntry>,
  other: ReadonlyMap<string, TreeEntry>,
  base: ReadonlyMap<string, TreeEntry>,
): Promise<string[]> {
  const out: string[] = []
  for (const x of removing.values()) {
    if (x.type !== 'dir' || !x.subtree || x.name === name || !isConflictCopyOf(x.name, name)) continue
    if (base.has(x.name) || other.has(x.name)) continue
    const at = rel ? `${rel}/${x.name}` : x.name
    if (how.held && (await how.held(removingSide === 'ours' ? 'theirs' : 'ours', at, x))) continue
    out.push(x.subtree)
  }
  return out
}

/**
 * Whether `e`, on one side only at `name`, is a conflict copy of a base version that a copy of
 * the folder a side keeps alone (`aside`, this folder's trees in them) holds at the copy's name:
 * the base version, which the side's own merge moved aside (another version took its name
 * there), not something it changed in the folder.
 */
function keptAside(
  name: string,
  e: TreeEntry,
  base: ReadonlyMap<string, TreeEntry>,
  aside: readonly ReadonlyMap<string, TreeEntry>[],
): boolean {
  for (const [n, b] of base)
    if (n !== name && isConflictCopyOf(name, n) && sameEntry(b, e) && aside.some((m) => sameEntry(m.get(n), e))) return true
  return false
}

/**
 * 3-way merge of trees (ids; undefined = empty). Returns the merged tree's id. `aside`: the
 * trees of this folder in the copies of it that a side that removed it keeps (`keptCopies`).
 */
export async function mergeTrees(
  store: SpaceStore,
  base: string | undefined,
  ours: string | undefined,
  theirs: string | undefined,
  how: MergeSides,
  conflicts: MergeConflict[],
  rel = '',
  aside: readonly string[] = [],
): Promise<string> {
  if (ours === theirs) return ours ?? store.virtualTree(EMPTY)
  // With no base (a folder added on both sides), a side lacking everything may have deleted it.
  const known = base !== undefined || !how.held
  if (known && theirs === base) return ours ?? store.virtualTree(EMPTY)
  if (known && ours === base) return theirs ?? store.virtualTree(EMPTY)
  const read = (id: string | undefined) => (id ? store.readTree(id) : Promise.resolve(EMPTY))
  const [b, o, t] = await Promise.all([read(base), read(ours), read(theirs)])
  const byName = (tree: Tree) => new Map(tree.entries.map((e) => [e.name, e]))
  const [mb, mo, mt] = [byName(b), byName(o), byName(t)]
  const asideHere = (await Promise.all(aside.map((id) => store.readTree(id)))).map(byName)
  // The copies' trees of a subfolder, to go down with its merge.
  const asideIn = (name: string) => asideHere.map((m) => m.get(name)).flatMap((x) => (x?.type === 'dir' && x.subtree ? [x.subtree] : []))
  const names = [...new Set([...mo.keys(), ...mt.keys(), ...mb.keys()])].sort()
  const out = new Map<string, TreeEntry>()
  const later: (() => Promise<void>)[] = []
  const losers: { name: string; path: string; loser: TreeEntry }[] = []
  for (const name of names) {
    let eb = mb.get(name)
    const eo = mo.get(name)
    const et = mt.get(name)
    const path = rel ? `${rel}/${name}` : name
    // The folder is gone on one side, which keeps it in a copy holding this base version at its
    // name: kept here too, the version would be kept twice (soak normal seed 72).
    if (asideHere.length && !eb && !eo !== !et && keptAside(name, (eo ?? et)!, mb, asideHere)) continue
    // Not in the base, but one side's version was held by the other since: added on both alike
    // (e.g. the same conflict copy made on two computers), so that version is the base. So too
    // where both sides changed the base's version (a file or link): a side holding a version the
    // other side's history made since got it from there (a down-sync that stopped before it
    // recorded the heads it applied wrote it, and the up-sync sent it), it did not edit it.
    if (how.held && !sameEntry(eo, et) && (!eb || (!sameEntry(eb, eo) && !sameEntry(eb, et)))) {
      const other = (e: TreeEntry | undefined): e is TreeEntry => !!e && (!eb || e.type !== 'dir')
      if (other(et) && (await how.held('ours', path, et))) eb = asBase(et)
      else if (other(eo) && (await how.held('theirs', path, eo))) eb = asBase(eo)
    }
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
      const meta = !eo ? et! : !et ? eo : keepsName(eo, et) ? et : eo
      // Removed on one side: the copies of it that side keeps. On both sides: the copies of it
      // each side keeps alone, too. A side that removed the folder keeps it anyway where a third
      // computer changed something in it, and that side's merge came first; the copy the other
      // side's down-sync made in the folder of a version that the first side's copy of the
      // folder holds would keep it twice (soak normal seed 91).
      const kept = !eb
        ? []
        : !eo || !et
          ? await keptCopies(how, eo ? 'theirs' : 'ours', rel, name, eo ? mt : mo, eo ? mo : mt, mb)
          : eb.type === 'dir'
            ? [...(await keptCopies(how, 'ours', rel, name, mo, mt, mb)), ...(await keptCopies(how, 'theirs', rel, name, mt, mo, mb))]
            : []
      later.push(async () => {
        const subtree = await mergeTrees(store, baseSub, eo?.subtree, et?.subtree, how, conflicts, path, [...asideIn(name), ...kept])
        // Removed on one side, and nothing the other side changed is left in it: it stays removed.
        if ((!eo || !et) && (await isEmpty(store, subtree))) return
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
      out.set(name, keepsName(eo, et) ? et : eo)
      continue
    }
    let [o2, t2] = [eo, et]
    if (eb?.type === 'dir' && (eo.type === 'dir') !== (et.type === 'dir')) {
      // A folder replaced by a file (or link) on one side: what the other side changed in the
      // folder is kept, the rest is gone with the folder. Nothing changed there: the file wins.
      const ourDir = eo.type === 'dir'
      // The file's side already keeps the other side's folder in a copy (a down-sync of it that
      // stopped halfway made it, and its up-sync sent it on a commit built on the older state):
      // the folder went there, and what the other side changed in it goes there too; the file
      // keeps the name. Kept at the name as well, those versions would be kept twice.
      const folderSide = ourDir ? 'ours' : 'theirs'
      const k = await copiedFolder(store, how, folderSide, path, baseSub, ourDir ? mt : mo, ourDir ? mo : mt, mb)
      if (k) {
        const at = rel ? `${rel}/${k.name}` : k.name
        // In the copy, a version the folder's side made in the folder is that side's version.
        const held = how.held!
        const inCopy: MergeSides = {
          ...how,
          held: (s, p, x) => held(s, s === folderSide && p.startsWith(at + '/') ? path + p.slice(at.length) : p, x),
        }
        out.set(name, ourDir ? et : eo)
        later.push(async () => {
          const subtree = await mergeTrees(
            store,
            baseSub,
            ourDir ? eo.subtree : k.subtree,
            ourDir ? k.subtree : et.subtree,
            inCopy,
            conflicts,
            at,
          )
          out.set(k.name, { ...k, subtree })
        })
        continue
      }
      const kept = await keptCopies(how, ourDir ? 'theirs' : 'ours', rel, name, ourDir ? mt : mo, ourDir ? mo : mt, mb)
      const sub = await mergeTrees(store, baseSub, ourDir ? eo.subtree : undefined, ourDir ? undefined : et.subtree, how, conflicts, path, [
        ...asideIn(name),
        ...kept,
      ])
      if (await isEmpty(store, sub)) {
        out.set(name, ourDir ? et : eo)
        continue
      }
      if (ourDir) o2 = { ...eo, subtree: sub }
      else t2 = { ...et, subtree: sub }
    }
    const theirsWins = o2.type === 'dir' ? false : t2.type === 'dir' ? true : keepsName(o2, t2)
    const [winner, loser] = theirsWins ? [t2, o2] : [o2, t2]
    out.set(name, winner)
    losers.push({ name, path, loser })
  }
  // The losers' copies, once every name of the folder is merged: whether a copy is kept is known
  // only then (a copy's name may sort after the name it is a copy of).
  for (const { name, path, loser } of losers) {
    const copyOf = (x: TreeEntry) => x.name !== name && isConflictCopyOf(x.name, name) && sameEntry(x, loser)
    // One version, one copy: the merge may already keep this one as a copy (a side's down-sync
    // made it, or this merge).
    if ([...out.values()].some(copyOf)) continue
    // The merge already keeps the winner as a copy (a side's down-sync that stopped before it
    // recorded the heads it applied kept its own version at the name and the incoming one in a
    // copy, and its up-sync sent both): the loser keeps the name, or the winner would be kept
    // twice (soak adversarial seed 10).
    const winner = out.get(name)!
    const winnerCopied = (x: TreeEntry) => x.name !== name && isConflictCopyOf(x.name, name) && sameEntry(x, winner)
    if (winner.type !== 'dir' && [...out.values()].some(winnerCopied)) {
      out.set(name, loser)
      continue
    }
    // A side's copy of it that the merge dropped comes back at its name. That happens after a
    // criss-cross: the virtual base holds the copy (its merge made it) while the side that has
    // the version at the name never had the copy, so it seems to have deleted it; with the copy
    // gone and no new one (the other side "kept" it), the version would be in no copy at all.
    const dropped = [...mo.values(), ...mt.values()].find((x) => copyOf(x) && !out.has(x.name))
    if (dropped) {
      out.set(dropped.name, dropped)
      continue
    }
    const device = await how.authorOf(path, loser)
    const copy = freeConflictName(name, device, Number(BigInt(loser.mtimeNs) / 1_000_000n), (n) => out.has(n) || names.includes(n))
    out.set(copy, { ...loser, name: copy })
    conflicts.push({
      path,
      copy: rel ? `${rel}/${copy}` : copy,
      reason: `changed on two computers: the newer version keeps the name, the one from ${device} is kept as ${copy}`,
    })
  }
  for (const f of later) await f()
  keepOneCopy(out)
  return store.virtualTree({ entries: [...out.values()] })
}

/**
 * The name a conflict copy was made from, as its stem and extension: the part before its first
 * conflict tail (a copy of a copy has several), and what follows the tails. Undefined for a name
 * that is no conflict copy.
 */
function copyOrigin(copy: string): [string, string] | undefined {
  const dot = copy.lastIndexOf('.')
  for (let i = copy.indexOf('.conflict-'); i > 0; i = copy.indexOf('.conflict-', i + 1)) {
    if (CONFLICT_TAILS.test(copy.slice(i))) return [copy.slice(0, i), '']
    if (dot > i && CONFLICT_TAILS.test(copy.slice(i, dot))) return [copy.slice(0, i), copy.slice(dot)]
  }
  return undefined
}

/** Whether two conflict copies were made from one name (a long name's stem is cut to fit NAME_MAX). */
function sameOrigin(x: string, y: string): boolean {
  const [ox, oy] = [copyOrigin(x), copyOrigin(y)]
  if (!ox || !oy || ox[1] !== oy[1]) return false
  if (ox[0] === oy[0]) return true
  const long = (n: string) => Buffer.byteLength(n) > NAME_MAX - 8
  return long(x) && long(y) && (ox[0].startsWith(oy[0]) || oy[0].startsWith(ox[0]))
}

/**
 * One version, one copy: where the merged folder keeps one version in several copies of one
 * name, one copy stays. Two computers that each kept the same incoming version beside their own
 * can name its copy differently: each takes the first conflict name free on its own disk, and
 * one may still hold an older copy at it (the chain deleted it, this computer had not
 * down-synced since), so it takes `-2`. The shortest name stays (then the first in byte order):
 * a rule of the names alone, so every merge of them keeps the same one.
 */
function keepOneCopy(out: Map<string, TreeEntry>): void {
  const copies = [...out.values()]
    .filter((e) => copyOrigin(e.name))
    .sort((x, y) => Buffer.byteLength(x.name) - Buffer.byteLength(y.name) || (x.name < y.name ? -1 : x.name > y.name ? 1 : 0))
  const kept: TreeEntry[] = []
  // The copies this merge made are never among the dropped: it makes none of a version it keeps.
  for (const e of copies)
    if (kept.some((k) => sameEntry(k, e) && sameOrigin(k.name, e.name))) out.delete(e.name)
    else kept.push(e)
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

/** Whether `x` is the version `e` (a folder: the same folder, whatever it holds). */
function sameVersion(x: TreeEntry | undefined, e: TreeEntry): boolean {
  if (e.type === 'dir') return x?.type === 'dir' && x.mode === e.mode && x.mtimeNs === e.mtimeNs
  return sameEntry(x, e)
}

/**
 * Whether commit `id`'s tree has at `path` what `test` accepts, each commit asked once. A
 * forgotten commit's tree may be gone: it holds nothing as far as a walk knows.
 */
function holding(store: SpaceStore, graph: CommitGraph, path: string, test: (x: TreeEntry | undefined) => boolean) {
  const memo = new Map<string, Promise<boolean>>()
  return (id: string): Promise<boolean> => {
    let p = memo.get(id)
    if (!p) {
      p = graph.retained(id) ? graph.get(id).then(async (c) => test(await entryAt(store, c.tree, path))) : Promise.resolve(false)
      memo.set(id, p)
    }
    return p
  }
}

/**
 * The device that made the version `entry` at `path`: of the commits behind `heads` whose tree
 * holds it, the oldest that none of its parents holds it in (ties: the smallest id).
 */
export async function authorOf(
  store: SpaceStore,
  graph: CommitGraph,
  heads: readonly string[],
  path: string,
  entry: TreeEntry,
): Promise<string | undefined> {
  const holds = holding(store, graph, path, (x) => sameVersion(x, entry))
  let best: CommitRef | undefined
  const seen = new Set<string>()
  const todo = [...heads]
  while (todo.length) {
    const id = todo.pop()!
    if (seen.has(id) || !(await holds(id))) continue
    seen.add(id)
    const commit = await graph.get(id)
    const holding: string[] = []
    for (const p of commit.parents) if (await holds(p)) holding.push(p)
    const older = !best || commit.time < best.commit.time || (commit.time === best.commit.time && id < best.id)
    if (holding.length === 0 && older) best = { id, commit }
    todo.push(...holding)
  }
  return best?.commit.deviceName
}

/**
 * `held` of one side for `MergeSides`: whether a commit behind `heads` and not behind `bases`
 * held the version at the path as one it added, not merely kept from older history.
 * The trees of each folder are read once.
 */
export function heldSince(store: SpaceStore, graph: CommitGraph, heads: readonly string[], bases: readonly string[]) {
  const folders = new Map<string, Promise<Map<string, TreeEntry>[]>>()
  // The commits behind `heads` and not behind `bases`.
  let sinceOf: Promise<string[]> | undefined
  const since = () =>
    (sinceOf ??= (async () => {
      const below = new Set<string>()
      for (const b of bases) for (const a of await graph.ancestors(b)) below.add(a)
      const ids = new Set<string>()
      for (const h of heads) for (const a of await graph.ancestors(h)) if (!below.has(a)) ids.add(a)
      return [...ids]
    })())
  const roots = async (): Promise<string[]> => {
    const trees = new Set<string>()
    for (const a of await since()) if (graph.retained(a)) trees.add((await graph.get(a)).tree)
    return [...trees]
  }
  const folder = (rel: string): Promise<Map<string, TreeEntry>[]> => {
    let p = folders.get(rel)
    if (!p) {
      p = (async () => {
        let ids: string[]
        if (!rel) ids = await roots()
        else {
          const cut = rel.lastIndexOf('/')
          const name = rel.slice(cut + 1)
          const parents = await folder(cut < 0 ? '' : rel.slice(0, cut))
          ids = [...new Set(parents.map((t) => t.get(name)?.subtree).filter((x): x is string => !!x))]
        }
        return Promise.all(ids.map(async (id) => new Map((await store.readTree(id)).entries.map((e) => [e.name, e]))))
      })()
      folders.set(rel, p)
    }
    return p
  }
  const matches = (x: TreeEntry | undefined, entry: TreeEntry) => (entry.type === 'dir' ? x?.type === 'dir' : sameEntry(x, entry))
  return async (path: string, entry: TreeEntry): Promise<boolean> => {
    const cut = path.lastIndexOf('/')
    const name = path.slice(cut + 1)
    const trees = await folder(cut < 0 ? '' : path.slice(0, cut))
    if (!trees.some((t) => matches(t.get(name), entry))) return false
    // Only a commit that added it counts: one the state it was built on (its parents merged)
    // lacked it in. A commit of this side that merely kept it from older history (one that had
    // not yet merged the base's removal of it) never added it: taken for an add of this side,
    // the version passed for the base of the other side's own add of it (a file moved away and
    // back), and this side's removal, merged since, beat that add.
    const holds = holding(store, graph, path, (x) => matches(x, entry))
    // Whether the merge of a commit's parents holds it: a parent holds it, and no parent lacks
    // it that removed it (its best common ancestor with a parent holding it held it).
    const builtOn = async (id: string): Promise<boolean> => {
      const parents = (await graph.get(id)).parents
      const holding: string[] = []
      const lacking: string[] = []
      for (const parent of parents) ((await holds(parent)) ? holding : lacking).push(parent)
      if (!holding.length) return false
      for (const l of lacking) for (const h of holding) for (const b of await graph.mergeBases([l], h)) if (await holds(b.id)) return false
      return true
    }
    for (const id of await since()) if ((await holds(id)) && !(await builtOn(id))) return true
    return false
  }
}

/** What merging the states `ours` and `theirs` (commit ids) against their bases needs of their history. */
function sidesOf(
  store: SpaceStore,
  graph: CommitGraph,
  ours: readonly string[],
  theirs: readonly string[],
  bases: readonly string[],
): MergeSides {
  const heldOurs = heldSince(store, graph, ours, bases)
  const heldTheirs = heldSince(store, graph, theirs, bases)
  return {
    authorOf: async (path, entry) =>
      (await authorOf(store, graph, [...ours, ...theirs], path, entry)) ?? (await graph.get(theirs[theirs.length - 1]!)).deviceName,
    held: (side, path, entry) => (side === 'ours' ? heldOurs : heldTheirs)(path, entry),
  }
}

/**
 * The order heads are merged in: oldest commit first, then by id. Every merge of several
 * commits uses it, the virtual base of a criss-cross too, so the same commits always merge into
 * the same tree.
 */
function mergeOrder(x: CommitRef, y: CommitRef): number {
  return x.commit.time === y.commit.time ? (x.id < y.id ? -1 : x.id > y.id ? 1 : 0) : x.commit.time < y.commit.time ? -1 : 1
}

/**
 * The tree two states are merged against: their best common ancestor's; with several (after a
 * criss-cross, when two computers merged each other's work at once), the merge of those, as
 * git's recursive strategy does. Picking one of them would show what the other already holds
 * as a change made on both sides, and call conflicts where there are none. The bases are
 * merged exactly as `mergeHeads` merges heads (in `mergeOrder`), so the virtual base is the
 * state the computers that merged those commits got: a conflict between them keeps the same
 * version at the name (a tie too, see `keepsName`), and a side that kept what it received is
 * unchanged. Its conflict copies are named as in any merge, so a copy both sides hold since is
 * found in the base too.
 */
async function baseTree(
  store: SpaceStore,
  graph: CommitGraph,
  ours: readonly string[],
  theirs: string,
): Promise<{ tree?: string; bases: string[] }> {
  const bases = (await graph.mergeBases(ours, theirs)).sort(mergeOrder)
  if (bases.length === 0) return { bases: [] }
  let tree = bases[0]!.commit.tree
  for (let i = 1; i < bases.length; i++) {
    const before = bases.slice(0, i).map((b) => b.id)
    const under = await baseTree(store, graph, before, bases[i]!.id)
    tree = await mergeTrees(store, under.tree, tree, bases[i]!.commit.tree, sidesOf(store, graph, before, [bases[i]!.id], under.bases), [])
  }
  return { tree, bases: bases.map((b) => b.id) }
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
  tips.sort(mergeOrder)
  const conflicts: MergeConflict[] = []
  const tipIds = tips.map((h) => h.id)
  const author = async (path: string, entry: TreeEntry) =>
    (await authorOf(store, graph, tipIds, path, entry)) ?? tips[tips.length - 1]?.commit.deviceName ?? ''
  if (tips.length === 0) return { heads: [], conflicts, authorOf: author }
  let tree = tips[0]!.commit.tree
  const merged: CommitRef[] = [tips[0]!]
  for (const theirs of tips.slice(1)) {
    const ours = merged.map((m) => m.id)
    const base = await baseTree(store, graph, ours, theirs.id)
    tree = await mergeTrees(store, base.tree, tree, theirs.commit.tree, sidesOf(store, graph, ours, [theirs.id], base.bases), conflicts)
    merged.push(theirs)
  }
  return { tree, heads: merged, conflicts, authorOf: author }
}
