/**
 * Applies plan items to the disk. Files are written to a temporary name beside their final
 * place and renamed over it, so a reader (or a crash) sees the old file or the new one, never a
 * mix. Blobs are fetched pack by pack, in offset order, with neighbouring blobs read in one
 * ranged request: restoring 20,000 small files is a few large reads, not 20,000 small ones.
 * Files of one chunk are written whole on worker threads; larger files chunk by chunk, at their
 * offsets, as their blobs arrive from whichever pack holds them, leaving zero blocks as holes.
 *
 * One item that cannot be written here (permissions, a name too long) or whose data is damaged
 * in the vault is a warning: the rest is applied. A full disk stops the run, saying so.
 */
import { execFile } from 'node:child_process'
import { existsSync, type BigIntStats } from 'node:fs'
import { chmod, lstat, lutimes, mkdir, open as openFile, rename, rm, rmdir, symlink, utimes, type FileHandle } from 'node:fs/promises'
import { dirname, join, relative } from 'node:path'
import { promisify } from 'node:util'
import type { BlobLocation, CachedFile, StateDb } from '../state/db.js'
import { utimesSeconds, type TreeEntry } from '../store/objects.js'
import { packKey } from '../store/pack.js'
import type { SpaceStore } from '../store/space-store.js'
import { BlobType } from '../vault/aead.js'
import { CloudyError, IntegrityError, MissingError, NotFoundError } from '../errors.js'
import { diskFull, isDiskFull } from '../fs/disk-full.js'
import { writeSparse } from '../fs/sparse.js'
import { sweepTemps, tempNameFor } from '../fs/temp-name.js'
import { cacheKey, fsPath } from '../fs/raw-name.js'
import { FileWriterPool, type Expected, type WriteResult } from './file-writer.js'
import type { PlanItem } from './plan.js'
import type { Warnings } from './warnings.js'
import { copyAside, planStat, writePath } from './through-link.js'

/** Blobs closer than this in a pack are fetched in one request (the gap is read and dropped). */
const MERGE_GAP = 256 * 1024
/** Upper bound of one ranged read. */
const MAX_RANGE = 32 * 1024 * 1024
/** Packs being fetched and written at once. */
const PACK_CONCURRENCY = 3

interface FileJob {
  item: PlanItem
  /** HOME-relative path written (a conflict may write the incoming version to its copy). */
  path: string
  entry: TreeEntry
  abs: string
  tmp: string
  /** Chunks still to write. */
  remaining: number
  /** Files of more than one chunk are written in place, chunk by chunk. */
  fh?: Promise<FileHandle>
  /** Replacing an existing file: its data must be durable before the rename. */
  replaces: boolean
  /** What must be at the path when the file is renamed there (see `WriteRequest.expect`). */
  expect: Expected
  done: boolean
  /** Not written (said as a warning): its chunks still arriving are dropped. */
  failed?: boolean
}

interface Target {
  job: FileJob
  offset: number
}

export interface ApplyOptions {
  store: SpaceStore
  home: string
  warnings: Warnings
  /** Incoming folders by HOME-relative path: the times of those written into are put back. */
  dirs?: Map<string, TreeEntry>
  onBytes?: (n: number) => void
  /** A file (HOME-relative) of `size` bytes was written. */
  onFile?: (path: string, size: number) => void
  /** Maps an incoming symlink target to this computer. */
  mapTarget?: (target: string) => string
  /** Where the folders being made are noted, so a run killed before their modes are set is finished by the next. */
  journal?: FolderJournal
}

/** A folder made 0700 (writable while filled) whose mode and time are set once it is filled. */
export interface UnfinishedFolder {
  path: string
  mode: number
  mtimeNs: string
}

export interface FolderJournal {
  read(): UnfinishedFolder[]
  write(folders: readonly UnfinishedFolder[]): void
}

/** The folder journal of `space`, in the state database. */
export function folderJournal(db: StateDb, space: string): FolderJournal {
  const key = `unfinished-folders:${space}`
  return {
    read: () => JSON.parse(db.getMeta(key) ?? '[]') as UnfinishedFolder[],
    write: (folders) => (folders.length ? db.setMeta(key, JSON.stringify(folders)) : db.deleteMeta(key)),
  }
}

/** True if the folder at `abs` is still as a killed down-sync left it: there, and 0700. */
async function leftUnfinished(abs: string): Promise<boolean> {
  try {
    const st = await lstat(fsPath(abs))
    return st.isDirectory() && (st.mode & 0o7777) === 0o700
  } catch {
    return false
  }
}

/**
 * Give the folders a killed down-sync left 0700 the mode and time it was applying, before an
 * up-sync reads them: it would else send 0700 to every computer. A folder the user changed
 * since is left as it is.
 */
export async function finishLeftFolders(journal: FolderJournal): Promise<void> {
  const left = journal.read()
  if (left.length === 0) return
  for (const f of [...left].sort((a, b) => b.path.length - a.path.length)) {
    if (!(await leftUnfinished(f.path))) continue
    try {
      await chmod(fsPath(f.path), f.mode)
      const mtime = utimesSeconds(f.mtimeNs)
      await utimes(fsPath(f.path), mtime, mtime)
    } catch (e) {
      // The up-sync then reads it as it is, and says so if it cannot.
      if (!isItemError(e)) throw e
    }
  }
  journal.write([])
}

/** Errors of one local item (its folder, its name, its permissions): that item is skipped. */
const ITEM_ERRORS = new Set([
  'EACCES',
  'EPERM',
  'EROFS',
  'ENAMETOOLONG',
  'ENOTDIR',
  'EISDIR',
  'EEXIST',
  'ENOENT',
  'ELOOP',
  'EINVAL',
  'EBUSY',
  'ETXTBSY',
  'EMLINK',
  'EFBIG',
  'EIO',
  'ENOTEMPTY',
  'EXDEV',
])

function isItemError(e: unknown): boolean {
  const code = (e as { code?: unknown } | undefined)?.code
  return typeof code === 'string' && ITEM_ERRORS.has(code) && !(e instanceof CloudyError)
}

/** The vault's copy of an item's data is damaged or missing: the item is listed, not applied. */
function isDamage(e: unknown): boolean {
  return e instanceof IntegrityError || e instanceof NotFoundError
}

function reason(e: unknown): string {
  const err = e as NodeJS.ErrnoException
  const why: Record<string, string> = {
    EACCES: 'permission denied',
    EPERM: 'operation not permitted',
    EROFS: 'read-only file system',
    ENAMETOOLONG: 'name too long for this file system',
  }
  return (err.code && why[err.code]) ?? err.message
}

/** Move a local version aside to its conflict name; never over an existing file. */
async function moveAside(from: string, to: string): Promise<void> {
  try {
    await lstat(fsPath(to))
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return rename(fsPath(from), fsPath(to))
    throw e
  }
  throw Object.assign(new Error(`${to} already exists`), { code: 'EEXIST' })
}

/** The local file as the plan saw it: what a write may replace. */
function seen(it: PlanItem): Expected {
  return it.local ? { size: it.local.size, mtimeMs: it.local.mtimeMs } : null
}

/** The file cache's record of a file just written (or touched) as `entry` says. */
function cachedAs(st: { size: bigint; mtimeNs: bigint; ctimeNs: bigint; ino: bigint }, entry: TreeEntry): CachedFile {
  return {
    size: Number(st.size),
    mtimeNs: st.mtimeNs,
    ctimeNs: st.ctimeNs,
    ino: Number(st.ino),
    mode: entry.mode,
    content: Buffer.from((entry.content ?? []).join(''), 'hex'),
  }
}

/**
 * Files the chain only touched get the chain's time, if still as the plan saw them; one changed
 * here meanwhile keeps its own (up-sync sends it), without a word: nothing was shown.
 */
async function retime(o: ApplyOptions, items: readonly PlanItem[], cacheChanges: Map<string, CachedFile | undefined>): Promise<void> {
  for (const it of items) {
    const abs = join(o.home, it.path)
    try {
      if (!(await asPlanned(abs, seen(it)))) continue
      const mtime = utimesSeconds(it.entry!.mtimeNs)
      await utimes(fsPath(abs), mtime, mtime)
      cacheChanges.set(cacheKey(it.path), cachedAs(await lstat(fsPath(abs), { bigint: true }), it.entry!))
    } catch (e) {
      if (!isItemError(e)) throw e
      o.warnings.add('EUNWRITABLE', it.item, `cannot set the time of ${abs} (${reason(e)})`)
    }
  }
}

/** Whether `abs` is still as the plan saw it (absent for `null`). */
async function asPlanned(abs: string, expect: Expected): Promise<boolean> {
  let st: BigIntStats | undefined
  try {
    st = await lstat(fsPath(abs), { bigint: true })
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e
  }
  return matches(st, expect)
}

/** Whether a stat (undefined: nothing there) is what `expect` says. */
function matches(st: BigIntStats | undefined, expect: Expected): boolean {
  if (expect === null) return st === undefined
  return st !== undefined && Number(st.size) === expect.size && Number(st.mtimeNs / 1_000_000n) === expect.mtimeMs
}

/**
 * Apply the items; returns file-cache updates. A conflict keeps both versions as its
 * resolution says; a delete removes only what is still as planned (a folder only once empty).
 */
export async function applyItems(o: ApplyOptions, items: readonly PlanItem[]): Promise<Map<string, CachedFile | undefined>> {
  const cacheChanges = new Map<string, CachedFile | undefined>()
  // Temporaries a killed run left in the folders this run manages go first (the sync lock
  // is held: no other run is writing them).
  const managed = new Set([o.home, ...[...(o.dirs?.keys() ?? [])].map((rel) => join(o.home, rel))])
  for (const it of items) {
    for (const p of [it.path, it.resolution?.copy]) if (p) managed.add(dirname(join(o.home, p)))
    if (it.entry?.type === 'dir') managed.add(join(o.home, it.path))
  }
  const unfinished = o.journal?.read() ?? []
  for (const f of unfinished) managed.add(f.path)
  await sweepTemps(managed)
  if (items.length === 0 && unfinished.length === 0) return cacheChanges
  const dirs: { abs: string; entry: TreeEntry; item: PlanItem }[] = []
  const jobs: FileJob[] = []
  const links: { abs: string; entry: TreeEntry; expect: Expected; item: PlanItem; failed?: boolean }[] = []
  const deletes: PlanItem[] = []
  const mapTarget = o.mapTarget ?? ((t: string) => t)
  const retimes: PlanItem[] = []
  for (const it of items) {
    if (it.op === 'delete') {
      deletes.push(it)
      continue
    }
    if (!it.entry) continue
    if (it.timeOnly && it.entry.type === 'file') {
      retimes.push(it)
      continue
    }
    let path = it.path
    let replaces = it.op === 'update' || (it.resolution?.keep === 'merged' && it.local !== undefined)
    // A local symlink the plan followed (an include that is a link) stays: the file or folder
    // it points to is written instead.
    const through = it.local?.through !== undefined && it.resolution?.keep !== 'local' && it.entry.type !== 'symlink'
    if (it.resolution?.keep === 'local') {
      // The local version stays; the incoming one goes beside it.
      path = it.resolution.copy
      replaces = false
    } else if (it.resolution?.keep === 'incoming') {
      try {
        await (through ? copyAside : moveAside)(join(o.home, it.path), join(o.home, it.resolution.copy))
      } catch (e) {
        o.warnings.add('ECONFLICT', it.item, `left ${it.item} as it is here: cannot keep the local version aside (${(e as Error).message})`)
        continue
      }
      cacheChanges.set(cacheKey(it.path), undefined)
      replaces = through
    }
    let abs: string
    try {
      abs = await writePath(join(o.home, path), through)
    } catch (err) {
      // The followed link broke since the plan looked (now dangling, or a loop).
      if (!isItemError(err)) throw err
      o.warnings.add('ECHANGED', it.item, `kept ${it.item}: the link it is written through changed here (${reason(err)})`)
      continue
    }
    const e = it.entry
    // A folder the chain turned into a file (and that held only what the chain deleted) goes
    // first; if something else appeared in it meanwhile, it stays and so does the item.
    if (e.type !== 'dir' && replaces && it.local?.kind === 'dir') {
      await applyDeletes(
        o,
        deletes.filter((d) => d.path.startsWith(it.path + '/')),
        cacheChanges,
      )
      try {
        await rmdir(fsPath(abs))
      } catch (err) {
        if (['ENOTEMPTY', 'EEXIST'].includes((err as NodeJS.ErrnoException).code ?? '')) {
          o.warnings.add('ECHANGED', it.item, `kept the folder ${it.item}: something in it is not in the chain`)
          continue
        }
        if (!isItemError(err)) throw err
        o.warnings.add('EUNWRITABLE', it.item, `skipped ${it.item}: cannot remove the folder it replaces (${reason(err)})`)
        continue
      }
    }
    // A synced file or link the chain turned into a folder goes first (renames replace the rest).
    if (e.type === 'dir' && replaces && it.local && it.local.kind !== 'dir') {
      try {
        if (!(await asPlanned(abs, seen(it)))) {
          o.warnings.add('ECHANGED', it.item, `kept ${it.item}: it changed here while the down-sync ran`)
          continue
        }
        await rm(fsPath(abs), { force: true })
      } catch (err) {
        if (!isItemError(err)) throw err
        o.warnings.add('EUNWRITABLE', it.item, `skipped ${it.item}: cannot remove the file it replaces (${reason(err)})`)
        continue
      }
    }
    // Only what the plan saw is replaced: the local file (an update) or nothing (an add, a copy,
    // or a folder removed just above).
    // A copy a killed run already wrote (plan.ts `written`) is written again over itself, if still as seen.
    const expect = it.resolution?.written ?? (replaces && it.local?.kind !== 'dir' ? seen(it) : null)
    if (e.type === 'dir') dirs.push({ abs, entry: e, item: it })
    else if (e.type === 'symlink') links.push({ abs, entry: e, expect, item: it })
    else
      jobs.push({
        item: it,
        path,
        entry: e,
        abs,
        tmp: tempNameFor(abs),
        remaining: e.content?.length ?? 0,
        replaces,
        expect,
        done: false,
      })
  }
  // Folders are made 0700 (writable while filled) and get their mode last; noted first, so a run
  // killed meanwhile leaves the next one what to finish (it would else send 0700 to the chain).
  const dirPaths = new Set(dirs.map((d) => d.abs))
  const leftover = unfinished.filter((f) => !dirPaths.has(f.path))
  o.journal?.write([...leftover, ...dirs.map((d) => ({ path: d.abs, mode: d.entry.mode, mtimeNs: d.entry.mtimeNs }))])
  // Parents before children (the plan lists them in tree order); a partial apply (--only) may
  // hold files whose new folders were not selected: those are made too. A folder that cannot
  // be made skips what goes in it.
  const blocked = new Map<string, string>()
  const blocker = (abs: string) => {
    if (blocked.size === 0) return undefined
    for (let p = abs; p.length > o.home.length; p = dirname(p)) if (blocked.has(p)) return p
    return undefined
  }
  // A full disk is said with what is still to write: the files not written.
  const stillToWrite = () => jobs.filter((j) => !j.done && !j.failed).reduce((n, j) => n + (j.entry.size ?? 0), 0)
  const made = new Set<string>()
  for (const d of dirs) {
    const b = blocker(dirname(d.abs))
    if (b) continue
    try {
      await mkdir(fsPath(d.abs), { recursive: true, mode: 0o700 })
      made.add(d.abs)
    } catch (err) {
      if (isDiskFull(err)) throw await diskFull(o.home, stillToWrite())
      if (!isItemError(err)) throw err
      blocked.set(d.abs, reason(err))
      o.warnings.add('EUNWRITABLE', d.item.item, `skipped ${d.item.item} and what is in it: cannot make the folder (${reason(err)})`)
    }
  }
  for (const parent of new Set([...jobs, ...links].map((j) => dirname(j.abs)))) {
    if (blocker(parent)) continue
    try {
      await mkdir(fsPath(parent), { recursive: true, mode: 0o700 })
    } catch (err) {
      if (isDiskFull(err)) throw await diskFull(o.home, stillToWrite())
      if (!isItemError(err)) throw err
      blocked.set(parent, reason(err))
    }
  }
  for (const j of [...jobs, ...links]) {
    const b = blocker(dirname(j.abs))
    if (!b) continue
    j.failed = true
    if (!dirPaths.has(b)) o.warnings.add('EUNWRITABLE', j.item.item, `skipped ${j.item.item}: cannot make its folder (${blocked.get(b)})`)
  }

  const remember = (job: FileJob, st: { size: bigint; mtimeNs: bigint; ctimeNs: bigint; ino: bigint }) => {
    job.done = true
    o.onFile?.(job.path, job.entry.size ?? 0)
    cacheChanges.set(cacheKey(job.path), cachedAs(st, job.entry))
  }
  const writers = new FileWriterPool()
  let cleaned = false
  // What ends the whole run (a full disk, the provider unreachable): the readers stop at it.
  let fatal: { error: unknown } | undefined
  const stop = (e: unknown) => void (fatal ??= { error: e })
  // One item is skipped, said as a warning: its folder or name refuses it, or its data is damaged.
  const skip = (job: FileJob, e: unknown) => {
    if (isDiskFull(e) || !(isItemError(e) || isDamage(e))) return stop(e)
    if (job.done || job.failed) return
    job.failed = true
    if (isDamage(e))
      o.warnings.add(
        'EINTEGRITY',
        job.item.item,
        `${job.item.item} was not applied: its data in the vault is damaged (${(e as Error).message}); the file here is left as it is. "cloudy check --read-data" lists the damage.`,
      )
    else o.warnings.add('EUNWRITABLE', job.item.item, `skipped ${job.item.item}: cannot write ${job.abs} (${reason(e)})`)
  }
  // A local change made after the plan was made is kept; the next down-sync plans it again.
  const changedMeanwhile = (job: { item: PlanItem }) => {
    o.warnings.add('ECHANGED', job.item.item, `kept ${job.item.item}: it changed here while the down-sync ran; run the down-sync again`)
  }
  const whole = (job: FileJob, data: Uint8Array) =>
    writers.add(
      {
        tmp: fsPath(job.tmp),
        path: fsPath(job.abs),
        data,
        mode: job.entry.mode,
        mtime: utimesSeconds(job.entry.mtimeNs),
        durable: job.replaces,
        expect: job.expect,
      },
      (r: WriteResult) => {
        if (r.error === 'ECHANGED') {
          job.done = true
          changedMeanwhile(job)
        } else if (r.error) skip(job, Object.assign(new Error(r.message), { code: r.error }))
        else remember(job, r as Required<WriteResult>)
      },
    )
  const finishInPlace = async (job: FileJob) => {
    const fh = await job.fh!
    try {
      if (job.replaces) await fh.datasync()
      await fh.chmod(job.entry.mode)
      const mtime = utimesSeconds(job.entry.mtimeNs)
      await fh.utimes(mtime, mtime)
    } finally {
      await fh.close()
    }
    if (!(await asPlanned(job.abs, job.expect))) {
      await rm(fsPath(job.tmp), { force: true })
      job.done = true
      changedMeanwhile(job)
      return
    }
    await rename(fsPath(job.tmp), fsPath(job.abs))
    remember(job, (await lstat(fsPath(job.abs), { bigint: true })) as BigIntStats)
  }
  // A new file of the final size: the chunks fill it in, whole zero blocks stay holes.
  const openInPlace = async (job: FileJob) => {
    const fh = await openFile(fsPath(job.tmp), 'wx', 0o600)
    try {
      await fh.truncate(job.entry.size ?? 0)
    } catch (e) {
      await fh.close()
      throw e
    }
    return fh
  }

  try {
    // Map every needed blob to the places it goes, then group by pack.
    const targets = new Map<string, Target[]>()
    const where = new Map<string, BlobLocation>()
    for (const job of jobs) {
      if (job.failed) continue
      if (job.remaining === 0) {
        await whole(job, Buffer.alloc(0))
        continue
      }
      const locs: BlobLocation[] = []
      for (const id of job.entry.content!) {
        const loc = where.get(id) ?? o.store.locate(Buffer.from(id, 'hex'))
        if (!loc) break
        where.set(id, loc)
        locs.push(loc)
      }
      if (locs.length < job.entry.content!.length) {
        skip(
          job,
          new MissingError(`blob ${job.entry.content![locs.length]}`, `${job.item.item} needs it, but no index file of the vault lists it`),
        )
        continue
      }
      let offset = 0
      for (const [i, id] of job.entry.content!.entries()) {
        let t = targets.get(id)
        if (!t) targets.set(id, (t = []))
        t.push({ job, offset })
        offset += locs[i]!.rawLength
      }
    }
    const byPack = new Map<string, { id: string; offset: number; length: number }[]>()
    for (const [id, loc] of where) {
      if (!targets.has(id)) continue
      let l = byPack.get(loc.pack)
      if (!l) byPack.set(loc.pack, (l = []))
      l.push({ id, offset: loc.offset, length: loc.length })
    }
    const packs = [...byPack.entries()]
    let next = 0
    const deliver = async (id: string, plain: Uint8Array) => {
      for (const t of targets.get(id)!) {
        const job = t.job
        if (job.done || job.failed || fatal) continue
        o.onBytes?.(plain.length)
        try {
          if (job.entry.content!.length === 1) {
            await whole(job, plain)
            continue
          }
          const fh = await (job.fh ??= openInPlace(job))
          await writeSparse(fh, plain, t.offset)
          if (--job.remaining === 0) await finishInPlace(job)
        } catch (e) {
          skip(job, e)
        }
      }
    }
    const damaged = (id: string, e: unknown) => {
      for (const t of targets.get(id)!) skip(t.job, e)
    }
    const worker = async () => {
      while (next < packs.length && !fatal) {
        const [pack, blobs] = packs[next++]!
        blobs.sort((a, b) => a.offset - b.offset)
        const key = packKey(o.store.keys.tag, pack)
        for (const range of mergeRanges(blobs)) {
          if (fatal) return
          let bytes: Uint8Array
          try {
            bytes = await o.store.readPackRange(pack, range.start, range.end - range.start)
          } catch (e) {
            // A missing pack is damage to the items it holds; an unreachable provider ends the run.
            if (!isDamage(e)) return stop(e)
            for (const b of range.blobs) damaged(b.id, e)
            continue
          }
          for (const b of range.blobs) {
            let plain: Buffer
            try {
              const sealed = bytes.subarray(b.offset - range.start, b.offset - range.start + b.length)
              plain = o.store.openBlob(key, BlobType.data, Buffer.from(b.id, 'hex'), sealed)
            } catch (e) {
              damaged(b.id, e)
              continue
            }
            await deliver(b.id, plain)
          }
        }
      }
    }
    // As many ranges at once as the provider takes packs: each reader holds a pack-sized range
    // and its blobs (twice as many readers bought ~10% on S3 for ~250 MiB more memory).
    const readers = Math.max(PACK_CONCURRENCY, o.store.parallelism)
    await Promise.all(Array.from({ length: Math.min(readers, packs.length) }, () => worker().catch(stop)))
    await writers.flush()
    if (fatal) throw fatal.error
    for (const l of links) {
      if (l.failed) continue
      const tmp = tempNameFor(l.abs)
      try {
        await symlink(mapTarget(l.entry.target ?? ''), fsPath(tmp))
        const mtime = utimesSeconds(l.entry.mtimeNs)
        await lutimes(fsPath(tmp), mtime, mtime)
        if (!(await asPlanned(l.abs, l.expect))) {
          await rm(fsPath(tmp), { force: true })
          changedMeanwhile(l)
          continue
        }
        await rename(fsPath(tmp), fsPath(l.abs))
      } catch (e) {
        await rm(fsPath(tmp), { force: true }).catch(() => {})
        if (isDiskFull(e) || !isItemError(e)) throw e
        o.warnings.add('EUNWRITABLE', l.item.item, `skipped ${l.item.item}: cannot write the link ${l.abs} (${reason(e)})`)
      }
    }
    // Folder modes and times last, deepest first: writing their children changed the times.
    // Those a killed run left unfinished are finished too, if still as it left them (0700).
    const finish: { abs: string; item?: string; mode: number; mtimeNs: string }[] = dirs
      .filter((d) => made.has(d.abs))
      .map((d) => ({ abs: d.abs, item: d.item.item, mode: d.entry.mode, mtimeNs: d.entry.mtimeNs }))
    for (const f of leftover) {
      if (!(await leftUnfinished(f.path))) continue
      const now = o.dirs?.get(relative(o.home, f.path))
      finish.push({ abs: f.path, mode: now?.mode ?? f.mode, mtimeNs: now?.mtimeNs ?? f.mtimeNs })
    }
    for (const d of finish.sort((a, b) => b.abs.length - a.abs.length)) {
      try {
        await chmod(fsPath(d.abs), d.mode)
        const mtime = utimesSeconds(d.mtimeNs)
        await utimes(fsPath(d.abs), mtime, mtime)
      } catch (e) {
        if (!isItemError(e)) throw e
        if (d.item) o.warnings.add('EUNWRITABLE', d.item, `cannot set the mode and time of ${d.abs} (${reason(e)})`)
      }
    }
    await retime(o, retimes, cacheChanges)
    await applyDeletes(o, deletes, cacheChanges)
    const finished = new Set(finish.map((d) => d.abs))
    const touched = new Set<string>()
    for (const it of items) {
      for (let p = it.path; p.includes('/');) touched.add((p = p.slice(0, p.lastIndexOf('/'))))
      if (it.resolution) for (let p = it.resolution.copy; p.includes('/');) touched.add((p = p.slice(0, p.lastIndexOf('/'))))
    }
    for (const rel of [...touched].sort().reverse()) {
      const e = o.dirs?.get(rel)
      const abs = join(o.home, rel)
      if (!e || finished.has(abs)) continue
      const mtime = utimesSeconds(e.mtimeNs)
      // A folder not this computer's to change keeps its time (its items said what failed).
      await utimes(fsPath(abs), mtime, mtime).catch((err: NodeJS.ErrnoException) => {
        if (!isItemError(err)) throw err
      })
    }
    o.journal?.write([])
  } catch (e) {
    if (!isDiskFull(e)) throw e
    const needed = stillToWrite()
    // The free space is measured once the temporaries are gone.
    await cleanUp()
    throw await diskFull(o.home, needed)
  } finally {
    await cleanUp()
  }
  // New files were not fsynced one by one (20,000 fsyncs cost minutes); one syncfs covers them
  // before the state database records them as applied.
  await syncFs(o.home)
  return cacheChanges

  async function cleanUp() {
    if (cleaned) return
    cleaned = true
    await writers.flush().catch(() => {})
    await writers.close()
    // Whatever did not finish leaves no temporary file behind.
    for (const job of jobs) {
      if (job.done) continue
      await job.fh?.then((fh) => fh.close()).catch(() => {})
      await rm(fsPath(job.tmp), { force: true }).catch(() => {})
    }
  }
}

/**
 * Deletions: files and links only if still as planned (a change made meanwhile is kept), then
 * folders deepest first, each only if nothing is left in it.
 */
async function applyDeletes(o: ApplyOptions, deletes: readonly PlanItem[], cacheChanges: Map<string, CachedFile | undefined>) {
  const unseen = (it: PlanItem) =>
    o.warnings.add('EUNWRITABLE', it.item, `kept ${it.item}: deleted in the chain, but a folder above it cannot be searched here`)
  for (const it of deletes) {
    // The plan could not look at it (a folder above is not searchable): never removed unseen.
    if (!it.local) {
      unseen(it)
      continue
    }
    if (it.removes === 'dir') continue
    const abs = join(o.home, it.path)
    try {
      // A followed link: the plan saw what it points to; the link itself goes.
      const st = await planStat(fsPath(abs), it.local?.through !== undefined)
      if (it.local && !matches(st, seen(it))) {
        o.warnings.add('ECHANGED', it.item, `kept ${it.item}: it changed here while the down-sync ran`)
        continue
      }
      await rm(fsPath(abs))
      cacheChanges.set(cacheKey(it.path), undefined)
    } catch (e) {
      // Already gone (with its folder, maybe replaced by a file).
      if (['ENOENT', 'ENOTDIR'].includes((e as NodeJS.ErrnoException).code ?? '')) cacheChanges.set(cacheKey(it.path), undefined)
      else if (isItemError(e)) o.warnings.add('EUNWRITABLE', it.item, `kept ${it.item}: cannot delete it here (${reason(e)})`)
      else throw e
    }
  }
  const folders = deletes.filter((it) => it.removes === 'dir' && it.local).sort((a, b) => b.path.length - a.path.length)
  for (const it of folders) {
    try {
      await rmdir(fsPath(o.home, it.path))
    } catch (e) {
      // Something the chain did not delete is still in it: the folder stays.
      if (['ENOTEMPTY', 'EEXIST', 'ENOENT', 'ENOTDIR'].includes((e as NodeJS.ErrnoException).code ?? '')) continue
      if (!isItemError(e)) throw e
      o.warnings.add('EUNWRITABLE', it.item, `kept the folder ${it.item}: cannot delete it here (${reason(e)})`)
    }
  }
}

function mergeRanges(blobs: { id: string; offset: number; length: number }[]) {
  const ranges: { start: number; end: number; blobs: typeof blobs }[] = []
  for (const b of blobs) {
    const last = ranges[ranges.length - 1]
    if (last && b.offset - last.end <= MERGE_GAP && b.offset + b.length - last.start <= MAX_RANGE) {
      last.end = Math.max(last.end, b.offset + b.length)
      last.blobs.push(b)
    } else {
      ranges.push({ start: b.offset, end: b.offset + b.length, blobs: [b] })
    }
  }
  return ranges
}

const exec = promisify(execFile)

// coreutils' sync by its path: a down-sync must not depend on the PATH it was started with.
const SYNC = ['/usr/bin/sync', '/bin/sync'].find((p) => existsSync(p)) ?? 'sync'

async function syncFs(path: string): Promise<void> {
  try {
    await exec(SYNC, ['-f', path])
  } catch {
    await exec(SYNC, [])
  }
}
