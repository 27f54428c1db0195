/**
 * `cloudy prune`: remove what no retained commit and no computer's base uses, while the other
 * computers go on syncing (docs/FORMAT.md, "Retention and prune"). Two phases per space:
 *
 * 1. Mark: work out the live blobs (the trees of every retained commit and every base in the
 *    device records), copy the live blobs of packs mostly unused into new packs, and write a
 *    mark naming the packs to delete (fully unused ones and the ones just copied out of) and the
 *    objects of forgotten commits.
 * 2. Finish, once the mark has been seen here for its grace period: work out the live blobs
 *    again (heads moved meanwhile), copy any live blob that is only in a condemned pack, rewrite
 *    the index files that list condemned packs, then delete the packs, the commits and the mark.
 *
 * Prunes exclude each other (a lock in the vault); syncs never wait for a prune.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { UsageError } from '../errors.js'
import type { Session } from '../session.js'
import type { IndexEntry } from '../store/index-file.js'
import type { PruneMark } from '../store/prune-records.js'
import type { SpaceStore } from '../store/space-store.js'
import type { BlobType } from '../vault/aead.js'
import { LockedError } from '../errors.js'
import { basesIn, readChain, type ChainDevice } from './chain.js'
import { chainHeadIds } from './down.js'
import { CommitGraph } from './graph.js'
import { allCommits } from './history.js'
import { noProgress, type ProgressFor } from './progress.js'
import { referencedBlobs } from './referenced.js'
import { allSpaces } from './spaces.js'

/** The most unused data prune leaves in packs it does not rewrite: a fraction of what is used, or bytes. */
export type MaxUnused = { fraction: number } | { bytes: number } | 'unlimited'

/** restic's default: 5 % of the vault may be unused data once prune is done. */
export const DEFAULT_MAX_UNUSED: MaxUnused = { fraction: 0.05 }

/** The default grace period between a mark and the deletion it names. */
export const DEFAULT_GRACE_MS = 10 * 60_000
/** The shortest grace period accepted: writers look at the marks again after half of it (keep-alive.ts). */
export const MIN_GRACE_MS = 2000

const UNITS: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }

/** `--max-unused`: `5%`, `unlimited`, or bytes with an optional k/M/G/T suffix, as restic takes it. */
export function parseMaxUnused(text: string): MaxUnused {
  const t = text.trim().toLowerCase()
  if (t === 'unlimited') return 'unlimited'
  const pct = /^(\d+(?:\.\d+)?)\s*%$/.exec(t)
  if (pct) {
    const p = Number(pct[1])
    if (p >= 100) throw new UsageError(`--max-unused ${text}: a percentage below 100 (e.g. 5%), or "unlimited"`)
    return { fraction: p / 100 }
  }
  const size = /^(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?$/.exec(t)
  if (size) return { bytes: Math.round(Number(size[1]) * UNITS[size[2]!]!) }
  throw new UsageError(`--max-unused ${text}: give a percentage (5%), a size (100M, 2G) or "unlimited"`)
}

/** `--grace`: `90s`, `10m`, `1h`; at least two seconds. */
export function parseGrace(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(text.trim())
  if (!m) throw new UsageError(`--grace ${text}: a duration such as 30s, 10m or 1h`)
  const ms = Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h']
  if (ms < MIN_GRACE_MS)
    throw new UsageError(`--grace ${text}: at least ${MIN_GRACE_MS / 1000}s, so that an up-sync under way always sees the mark in time`)
  return ms
}

/** What unused data `max` allows beside `used` bytes. */
function allowance(max: MaxUnused, used: number): number {
  if (max === 'unlimited') return Number.POSITIVE_INFINITY
  // As restic: unused / (used + unused) <= fraction.
  return 'bytes' in max ? max.bytes : (max.fraction / (1 - max.fraction)) * used
}

export interface PruneOptions {
  dryRun?: boolean
  maxUnused?: MaxUnused
  graceMs?: number
  /** Wait for the grace period and finish the marks of this run (else the next prune does). */
  wait?: boolean
  progress?: ProgressFor
  /** Told when the run starts waiting for the grace period, and until when. */
  onWait?: (until: Date) => void
  /**
   * Seal anew with the current key epoch's key what earlier epochs' keys seal: every used blob
   * of such packs is copied into new packs (which the mark then condemns), and commits, forget
   * records and prune marks are sealed anew in place (docs/FORMAT.md, "Key epochs").
   */
  reencrypt?: boolean
}

export interface Amount {
  count: number
  bytes: number
}

export interface SpacePrune {
  space: string
  /** Packs and their bytes before the run. */
  before: Amount
  /** Blobs a retained commit or a base uses (one copy each). */
  used: Amount
  /** Everything else in the packs (copies counted). */
  unused: Amount
  /** Packs this run copied the used blobs out of, and those blobs. */
  repacked: { packs: number; blobs: number; bytes: number }
  /** Of those, the packs copied out of because an earlier epoch's key sealed them (`--reencrypt`), and objects sealed anew in place. */
  reencrypted: { packs: number; objects: number }
  /** Packs this run marked for deletion. */
  condemned: Amount
  /**
   * Packs no index lists (a stopped up-sync's or prune's), and of those the ones this run
   * marked: seen here as such for the grace period (the rest wait for it).
   */
  orphans: Amount & { marked: number }
  /** Forgotten commits whose objects this run marked for deletion. */
  commits: number
  /** What finished marks deleted (this run's, once waited for, and earlier runs'). */
  deleted: { packs: number; bytes: number; indexes: number; commits: number; rescued: number }
  /** Marks still waiting for their grace period. */
  pending: number
}

const LOCK_STALE_MS = 60 * 60_000

/** Prune every space of the vault. */
export async function prune(s: Session, o: PruneOptions = {}): Promise<SpacePrune[]> {
  const graceMs = o.graceMs ?? DEFAULT_GRACE_MS
  const run = async () => {
    const out: SpacePrune[] = []
    const stores = new Map<string, SpaceStore>()
    let devices = (await readChain(s.vault, s.db)).devices
    for (const space of await allSpaces(s.vault, s.db)) {
      const store = s.vault.store(space, s.db)
      await store.open()
      stores.set(space, store)
      const result = emptyResult(space)
      out.push(result)
      if (!o.dryRun) await finishDue(s, store, devices, result, o)
      await markSpace(s, store, devices, result, { ...o, graceMs })
    }
    if (o.wait && !o.dryRun && out.some((r) => r.pending)) {
      const until = new Date(Date.now() + graceMs)
      o.onWait?.(until)
      await sleep(graceMs + 50)
      devices = (await readChain(s.vault, s.db)).devices
      for (const r of out) {
        if (!r.pending) continue
        const store = stores.get(r.space)!
        await store.open()
        r.pending = 0
        await finishDue(s, store, devices, r, o)
      }
    }
    return out
  }
  if (o.dryRun) return run()
  return s.vault.exclusive(
    {
      key: 'locks/prune',
      holder: s.vault.deviceTag(s.device.id),
      staleMs: LOCK_STALE_MS,
      refused: (since) =>
        new LockedError(
          `pruning the vault`,
          `another computer is pruning it${since ? ` since ${since.toISOString()}` : ''}; two prunes at once could each keep the copy the other deletes. ` +
            `Nothing was changed: run "cloudy prune" again once it is done (a prune stopped half-way frees it after ${LOCK_STALE_MS / 60_000} minutes)`,
        ),
    },
    run,
  )
}

function emptyResult(space: string): SpacePrune {
  return {
    space,
    before: { count: 0, bytes: 0 },
    used: { count: 0, bytes: 0 },
    unused: { count: 0, bytes: 0 },
    repacked: { packs: 0, blobs: 0, bytes: 0 },
    reencrypted: { packs: 0, objects: 0 },
    condemned: { count: 0, bytes: 0 },
    orphans: { count: 0, bytes: 0, marked: 0 },
    commits: 0,
    deleted: { packs: 0, bytes: 0, indexes: 0, commits: 0, rescued: 0 },
    pending: 0,
  }
}

/** Every blob a retained commit of the chain or a computer's base refers to (hex ids). */
export async function liveBlobs(s: Session, store: SpaceStore, devices: readonly ChainDevice[]): Promise<Set<string>> {
  const graph = new CommitGraph(store, s.db)
  const commits = await allCommits(graph, await chainHeadIds(s.vault, store, s.db))
  const roots = commits.map((c) => c.commit.tree)
  for (const b of basesIn(devices, store.keys.tag)) roots.push(b.tree)
  return referencedBlobs(store, roots)
}

/** The vault's index of a space, as packs and the places of each blob. */
interface VaultIndex {
  files: { name: string; entries: IndexEntry[]; sealedBefore: boolean }[]
  packs: Map<string, IndexEntry[]>
  places: Map<string, IndexEntry[]>
}

async function vaultIndex(store: SpaceStore): Promise<VaultIndex> {
  const files = await store.readIndexFiles()
  const packs = new Map<string, IndexEntry[]>()
  const places = new Map<string, IndexEntry[]>()
  const seen = new Set<string>()
  for (const f of files)
    for (const e of f.entries) {
      const hex = e.id.toString('hex')
      // The same place listed by two index files (an orphan pack taken in twice) is one place.
      const at = `${e.pack}:${hex}`
      if (seen.has(at)) continue
      seen.add(at)
      let list = packs.get(e.pack)
      if (!list) packs.set(e.pack, (list = []))
      list.push(e)
      let where = places.get(hex)
      if (!where) places.set(hex, (where = []))
      where.push(e)
    }
  return { files, packs, places }
}

/** Bytes read from a pack at once when copying out of it: neighbours share a read, memory stays small. */
const COPY_READ = 2 * 1024 * 1024

/**
 * Copy `entries` (all in `pack`) to new packs of `store`, neighbouring blobs read together (a
 * blob an earlier key epoch's key seals is sealed anew: `SpaceStore.copySealed`).
 */
async function copyOut(store: SpaceStore, pack: string, entries: readonly IndexEntry[]): Promise<void> {
  const sorted = [...entries].sort((a, b) => a.offset - b.offset)
  for (let i = 0; i < sorted.length;) {
    const start = sorted[i]!.offset
    let j = i + 1
    while (j < sorted.length && sorted[j]!.offset + sorted[j]!.length - start <= COPY_READ) j++
    const last = sorted[j - 1]!
    const bytes = await store.readPackRange(pack, start, last.offset + last.length - start)
    for (const e of sorted.slice(i, j))
      await store.copySealed(e.type as BlobType, e.id, bytes.subarray(e.offset - start, e.offset - start + e.length), e.rawLength)
    i = j
  }
}

const seenKey = (store: SpaceStore, mark: string) => `prune-seen:${store.keys.tag}:${mark}`
const orphansKey = (store: SpaceStore) => `prune-orphans:${store.keys.tag}`

/**
 * The packs of the space no index lists (but `known`) that this computer has seen as such for
 * `graceMs`: a stopped up-sync or prune left them. One seen for less waits: it may be a pack an
 * up-sync stored a moment ago, its index file on the way. (Marking such a pack is still safe:
 * the protocol keeps every blob a writer publishes, at the cost of a copy.) The first sightings
 * are kept in the state database; packs that are no longer orphans are dropped from it.
 */
async function orphansDue(
  s: Session,
  store: SpaceStore,
  known: ReadonlySet<string>,
  r: SpacePrune,
  o: { graceMs: number; dryRun?: boolean },
): Promise<string[]> {
  const now = Date.now()
  const before = JSON.parse(s.db.getMeta(orphansKey(store)) ?? '{}') as Record<string, number>
  const seen: Record<string, number> = {}
  const due: string[] = []
  for (const { key, size } of await store.orphanPacks(known)) {
    const pack = key.slice(key.lastIndexOf('/') + 1)
    seen[pack] = before[pack] ?? now
    r.orphans.count++
    r.orphans.bytes += size
    if (now - seen[pack] < o.graceMs) continue
    due.push(pack)
    r.orphans.marked++
    r.condemned.count++
    r.condemned.bytes += size
  }
  if (!o.dryRun) {
    if (Object.keys(seen).length) s.db.setMeta(orphansKey(store), JSON.stringify(seen))
    else s.db.deleteMeta(orphansKey(store))
  }
  return due
}

/** Phase 1 for one space: what is used, what to copy out, and the mark. */
async function markSpace(
  s: Session,
  store: SpaceStore,
  devices: readonly ChainDevice[],
  r: SpacePrune,
  o: PruneOptions & { graceMs: number },
): Promise<void> {
  // The heads first, then the index: a head is written after the index files of the blobs it
  // uses, so the index read after it places every one of them.
  const live = await liveBlobs(s, store, devices)
  const index = await vaultIndex(store)
  const excluded = store.condemned
  const size = (entries: readonly IndexEntry[]) => entries.reduce((n, e) => n + e.length, 0)
  for (const entries of index.packs.values()) {
    r.before.count++
    r.before.bytes += size(entries)
  }
  // Each live blob is kept at one place: in the pack holding the most live blobs, so that as few
  // packs as possible have to be copied out of. Packs condemned by an earlier mark are going.
  const liveIn = new Map<string, number>()
  for (const hex of live)
    for (const e of index.places.get(hex) ?? []) if (!excluded.has(e.pack)) liveIn.set(e.pack, (liveIn.get(e.pack) ?? 0) + 1)
  const keptAt = new Map<string, string>()
  for (const hex of live) {
    let best: string | undefined
    for (const e of index.places.get(hex) ?? []) {
      if (excluded.has(e.pack)) continue
      const n = liveIn.get(e.pack)!
      if (best === undefined || n > liveIn.get(best)! || (n === liveIn.get(best)! && e.pack < best)) best = e.pack
    }
    if (best) keptAt.set(hex, best)
  }
  const usage: { pack: string; used: IndexEntry[]; unused: number }[] = []
  for (const [pack, entries] of index.packs) {
    if (excluded.has(pack)) continue
    const used = entries.filter((e) => keptAt.get(e.id.toString('hex')) === pack)
    const unused = size(entries) - size(used)
    r.used.count += used.length
    r.used.bytes += size(used)
    r.unused.count += entries.length - used.length
    r.unused.bytes += unused
    usage.push({ pack, used, unused })
  }
  const condemned = await orphansDue(s, store, new Set([...index.packs.keys(), ...excluded]), r, o)
  let leftUnused = 0
  const partly: typeof usage = []
  for (const u of usage) {
    if (u.used.length === 0) {
      condemned.push(u.pack)
      r.condemned.count++
      r.condemned.bytes += u.unused
    } else if (u.unused > 0) {
      partly.push(u)
      leftUnused += u.unused
    }
  }
  // Copy out of the packs with the most unused data first until what is left is allowed.
  partly.sort((a, b) => b.unused - a.unused || (a.pack < b.pack ? -1 : 1))
  const limit = allowance(o.maxUnused ?? DEFAULT_MAX_UNUSED, r.used.bytes)
  const repack: typeof usage = []
  for (const u of partly) {
    if (leftUnused <= limit) break
    repack.push(u)
    leftUnused -= u.unused
  }
  const commits = await forgottenObjects(store)
  r.commits = commits.length
  if (o.reencrypt) {
    // Packs an earlier epoch's key seals (copies are sealed anew, so one blob tells), or that an
    // index file such a key seals lists (the finish then writes that index file anew).
    const listedBefore = new Set(index.files.filter((f) => f.sealedBefore).flatMap((f) => f.entries.map((e) => e.pack)))
    for (const u of usage) {
      if (u.used.length === 0 || repack.includes(u)) continue
      const first = u.used[0]!
      const sealed = await store.readPackRange(u.pack, first.offset, first.length)
      if (!listedBefore.has(u.pack) && store.sealedNow(first.type as BlobType, first.id, sealed)) continue
      repack.push(u)
      r.reencrypted.packs++
    }
    if (!o.dryRun) r.reencrypted.objects += await resealObjects(store, new Set(commits))
  }
  if (o.dryRun) {
    for (const u of repack) {
      r.repacked.packs++
      r.repacked.blobs += u.used.length
      r.repacked.bytes += size(u.used)
      r.condemned.count++
      r.condemned.bytes += u.unused + size(u.used)
    }
    return
  }
  const bar = (o.progress ?? noProgress)(`prune ${store.keys.name}`)
  bar.total?.(
    repack.length,
    repack.reduce((n, u) => n + size(u.used), 0),
  )
  for (const u of repack) {
    bar.file?.(u.pack.slice(0, 12), size(u.used))
    await copyOut(store, u.pack, u.used)
    bar.add(size(u.used))
    r.repacked.packs++
    r.repacked.blobs += u.used.length
    r.repacked.bytes += size(u.used)
    condemned.push(u.pack)
    r.condemned.count++
    r.condemned.bytes += u.unused + size(u.used)
  }
  // The copies are stored and indexed before any mark names their old packs.
  await store.flush()
  bar.done()
  if (condemned.length === 0 && commits.length === 0) return
  const mark: PruneMark = {
    format: 1,
    by: s.vault.deviceTag(s.device.id),
    byName: s.device.name,
    time: new Date().toISOString(),
    graceMs: o.graceMs,
    packs: condemned.sort(),
    commits,
  }
  await s.vault.assertLatestEpoch()
  const name = await store.putMark(mark)
  // Seen from now on: it is on the provider, so every writer that looks from now sees it.
  s.db.setMeta(seenKey(store, name), String(Date.now()))
  r.pending++
}

/** Seal anew in place the commits (but `going`), forget records and marks an earlier epoch's key seals; how many. */
async function resealObjects(store: SpaceStore, going: ReadonlySet<string>): Promise<number> {
  const commits = [...((await store.sizes('commits')).get('commits')?.keys.keys() ?? [])].filter((id) => !going.has(id))
  const work: ['commit' | 'forgotten' | 'prune', string][] = [
    ...commits.map((id) => ['commit', id] as ['commit', string]),
    ...[...store.forgetRecords].map((id) => ['forgotten', id] as ['forgotten', string]),
    ...[...store.marks.keys()].map((id) => ['prune', id] as ['prune', string]),
  ]
  let n = 0
  for (const [kind, id] of work) if (await store.resealObject(kind, id)) n++
  return n
}

/** Forgotten commits whose objects are still in the vault, and no mark names yet. */
async function forgottenObjects(store: SpaceStore): Promise<string[]> {
  if (store.forgotten.size === 0) return []
  const stored = (await store.sizes('commits')).get('commits')?.keys ?? new Map<string, number>()
  const marked = new Set([...store.marks.values()].flatMap((m) => m.commits))
  return [...store.forgotten.keys()].filter((id) => stored.has(id) && !marked.has(id)).sort()
}

/** Phase 2 for every mark of the space whose grace period is over here. */
async function finishDue(s: Session, store: SpaceStore, devices: readonly ChainDevice[], r: SpacePrune, o: PruneOptions): Promise<void> {
  const now = Date.now()
  const due: [string, PruneMark][] = []
  for (const [name, mark] of store.marks) {
    const key = seenKey(store, name)
    const seen = Number(s.db.getMeta(key))
    if (!seen) {
      // First seen now: a mark another prune left (it was stopped) waits its grace from here.
      s.db.setMeta(key, String(now))
      r.pending++
    } else if (now - seen >= mark.graceMs) due.push([name, mark])
    else r.pending++
  }
  if (due.length === 0) return
  // A mark sealed with keys a rekey replaced may be stale for the computers that hold the new
  // ones (they would not keep its packs' blobs alive): this process deletes nothing once a newer
  // epoch is listed (docs/FORMAT.md, "Key epochs").
  await s.vault.assertLatestEpoch()
  const live = await liveBlobs(s, store, devices)
  const index = await vaultIndex(store)
  const condemned = store.condemned
  const bar = (o.progress ?? noProgress)(`prune ${store.keys.name} (delete)`)
  for (const [name, mark] of due) {
    const packs = new Set(mark.packs)
    // What a head or base moved to since the mark uses, and is only in packs going: copied out.
    const rescue = new Map<string, IndexEntry[]>()
    for (const hex of live) {
      const where = index.places.get(hex) ?? []
      if (where.length === 0 || where.some((e) => !condemned.has(e.pack))) continue
      const here = where.find((e) => packs.has(e.pack))
      if (!here) continue
      let list = rescue.get(here.pack)
      if (!list) rescue.set(here.pack, (list = []))
      list.push(here)
    }
    for (const [pack, entries] of rescue) {
      await copyOut(store, pack, entries)
      r.deleted.rescued += entries.length
    }
    await store.flush()
    // Index files first: a reader that finds no place for a blob reads the index again, while
    // one sent to a deleted pack would fail. An index listing other packs too keeps those.
    for (const f of index.files) {
      if (!f.entries.some((e) => packs.has(e.pack))) continue
      const rest = f.entries.filter((e) => !packs.has(e.pack))
      if (rest.length) await store.writeIndex(rest)
      await store.deleteObjects('index', [f.name])
      r.deleted.indexes++
    }
    bar.total?.(packs.size, 0)
    // The size of a pack no index lists (an orphan the mark names) is the object's.
    const unlisted = [...packs].some((p) => !index.packs.has(p)) ? (await store.sizes('packs')).get('packs')?.keys : undefined
    for (const p of packs) {
      r.deleted.packs++
      r.deleted.bytes += index.packs.get(p)?.reduce((n, e) => n + e.length, 0) ?? unlisted?.get(p) ?? 0
    }
    await store.deleteObjects('pack', [...packs])
    await store.deleteObjects('commit', mark.commits)
    r.deleted.commits += mark.commits.length
    await store.deleteObjects('prune', [name])
    s.db.deleteMeta(seenKey(store, name))
  }
  bar.done()
}
