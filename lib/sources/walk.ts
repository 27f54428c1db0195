/**
 * Turns folders under HOME into trees in a space: each file costs one `lstat` when the file
 * cache says it is unchanged; otherwise it is read, cut into chunks and the new chunks stored.
 */
import { open as openFile, readlink } from 'node:fs/promises'
import { fstatSync, lstatSync, type BigIntStats } from 'node:fs'
import { join } from 'node:path'
import { CloudyError } from '../errors.js'
import { settleAll } from '../settle-all.js'
import { cacheKey, fsPath, hasRawBytes, listNames, shownName } from '../fs/raw-name.js'
import { isTempName } from '../fs/temp-name.js'
import type { CachedFile } from '../state/db.js'
import { Chunker, gearTable } from '../store/chunker.js'
import { treeTime, type TreeEntry } from '../store/objects.js'
import type { SpaceStore } from '../store/space-store.js'
import { BlobType } from '../vault/aead.js'
import type { Warnings } from '../sync/warnings.js'
import type { FileReaderPool } from './file-reader.js'

/** Files up to this size are read in one call and form one chunk when under the minimum. */
const READ_BUFFER = 4 * 1024 * 1024
/** Files below this size are read whole, synchronously; always under the chunker's minimum. */
const SMALL_FILE = 256 * 1024
/** Chunks of one file being sealed at once. */
const CHUNKS_IN_FLIGHT = 4
/** Small files sent to the reader pool together. */
const READ_BATCH = 32
/** Files processed at once: enough to hide I/O latency of small files, few enough for memory. */
const FILE_CONCURRENCY = 8

export interface WalkOptions {
  store: SpaceStore
  /** File cache of the space from the state database (`cacheKey` of the path relative to HOME -> entry). */
  cache: Map<string, CachedFile>
  warnings: Warnings
  /** Reads small files on worker threads. */
  readers: FileReaderPool
  /** Returns true for a HOME-relative path that must be left out. */
  excluded: (rel: string) => boolean
  /** Called per file with bytes read (progress). */
  onBytes?: (n: number) => void
  /** A changed file (its path and size) is read now. */
  onFile?: (rel: string, size: number) => void
  /** The last synced entry at a HOME-relative path: kept when the path cannot be read now. */
  previous?: (rel: string) => Promise<TreeEntry | undefined>
}

/** Changes to write into the file cache after the commit is published, by `cacheKey`. */
export type CacheChanges = Map<string, CachedFile | undefined>

export class Walker {
  readonly changes: CacheChanges = new Map()
  /** Paths seen in this scan, by `cacheKey` (to drop stale cache entries). */
  readonly seen = new Set<string>()
  #o: WalkOptions
  readonly store: SpaceStore
  #gearTable: Uint32Array | undefined
  #slots = FILE_CONCURRENCY
  #waiting: (() => void)[] = []
  /** Why the last folder that could not be listed could not be. */
  #listError: unknown
  /**
   * The store's failure (an upload refused), once one reached the walk: the run has failed, and
   * no file or folder is started after it. Whatever is in flight settles before the walk
   * rejects (`settleAll`), so nothing is stored after the caller hears of the failure.
   */
  #stopped: CloudyError | undefined

  constructor(options: WalkOptions) {
    this.#o = options
    this.store = options.store
  }

  /** The chunker's table, made when a first file is read: a no-change run reads none. */
  get #gear(): Uint32Array {
    return (this.#gearTable ??= gearTable(this.store.keys.gearSeed))
  }

  /** The tree entry of `abs` (named `name`), or undefined if it is skipped. */
  async entry(abs: string, rel: string, name: string, st?: BigIntStats): Promise<TreeEntry | undefined> {
    this.#throwIfStopped()
    try {
      // Synchronous on purpose: a cached lstat costs microseconds, while the promise version
      // costs a thread-pool round trip and garbage; this is the whole cost of a no-change run.
      st ??= lstatSync(fsPath(abs), { bigint: true })
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined
      return this.#keepPrevious(rel, name, e)
    }
    const base = { name, mode: Number(st.mode & 0o7777n), mtimeNs: treeTime(st.mtimeNs) }
    if (st.isDirectory()) {
      const subtree = await this.dir(abs, rel)
      return subtree === undefined ? this.#keepPrevious(rel, name, this.#listError) : { ...base, type: 'dir', subtree }
    }
    if (st.isSymbolicLink()) {
      try {
        return { ...base, type: 'symlink', target: await readlink(fsPath(abs)) }
      } catch (e) {
        return this.#unreadable(rel, name, e)
      }
    }
    if (st.isFile()) return this.#file(abs, rel, name, st)
    this.#o.warnings.add(
      'ESPECIAL',
      shownName(rel),
      `skipped ${shownName(rel)}: ${kind(st)} cannot be synced (only files, folders and symlinks are)`,
    )
    return this.#carry(rel, name)
  }

  /** The last synced entry at `rel`, renamed `name`, for a path this scan does not collect. */
  async #carry(rel: string, name: string): Promise<TreeEntry | undefined> {
    const previous = await this.#o.previous?.(rel)
    return previous && { ...previous, name }
  }

  /** Store the tree of folder `abs`; undefined if it cannot be listed. */
  async dir(abs: string, rel: string): Promise<string | undefined> {
    this.#throwIfStopped()
    let names: string[]
    try {
      // Names that are not valid UTF-8 are carried too (lib/fs/raw-name.ts).
      names = (await listNames(abs)).sort()
    } catch (e) {
      this.#listError = e
      return undefined
    }
    const entries: (TreeEntry | undefined | Promise<TreeEntry | undefined>)[] = []
    const small: SmallFile[] = []
    for (const name of names) {
      const childRel = rel ? `${rel}/${name}` : name
      if (isTempName(name)) continue
      if (this.#o.excluded(childRel)) {
        // Left out here, not deleted: what the chain has at this path stays as it was.
        entries.push(this.#carry(childRel, name))
        continue
      }
      const childAbs = join(abs, name)
      let st: BigIntStats
      try {
        st = lstatSync(fsPath(childAbs), { bigint: true })
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') entries.push(this.#keepPrevious(childRel, name, e))
        continue
      }
      if (st.isFile()) {
        this.seen.add(cacheKey(childRel))
        const cached = this.#o.cache.get(cacheKey(childRel))
        // The cache is trusted: entries are written only once their chunks are indexed, and
        // the store drops the whole cache if an index file ever disappears from the vault.
        if (cached && sameFile(cached, st)) {
          entries.push(this.#cachedEntry(childRel, name, st, cached))
          continue
        }
        // The reader pool takes string paths: a name of raw bytes is read here.
        if (st.size < SMALL_FILE && !hasRawBytes(childAbs)) {
          small.push({ index: entries.length, abs: childAbs, rel: childRel, name, st })
          entries.push(undefined)
          continue
        }
      }
      entries.push(this.entry(childAbs, childRel, name, st))
    }
    // Batches of small files fill their places in `entries` as they are read. Everything this
    // folder started settles before it returns or fails (`settleAll`).
    const reads: Promise<void>[] = []
    for (let i = 0; i < small.length; i += READ_BATCH) reads.push(this.#readSmall(small.slice(i, i + READ_BATCH), entries))
    await settleAll<unknown>([...reads, ...entries])
    // Ready entries and pending ones side by side, in name order.
    const resolved = await settleAll(entries)
    return this.#stopOnFailure(this.#o.store.putTree({ entries: resolved.filter((e): e is TreeEntry => e !== undefined) }))
  }

  #cachedEntry(rel: string, name: string, st: BigIntStats, cached: CachedFile): TreeEntry {
    const mode = Number(st.mode & 0o7777n)
    if (cached.mode !== mode) this.changes.set(cacheKey(rel), { ...cached, mode })
    return fileEntry(name, st, cached.content)
  }

  /** Read a batch of small files on the reader pool and store them; fills `entries` in place. */
  async #readSmall(batch: SmallFile[], entries: (TreeEntry | undefined | Promise<TreeEntry | undefined>)[]): Promise<void> {
    await this.#slot()
    try {
      this.#throwIfStopped()
      const results = await this.#o.readers.read(batch.map((f) => f.abs))
      for (let i = 0; i < batch.length; i++) {
        const f = batch[i]!
        const r = results[i]!
        if (!r.data) {
          entries[f.index] = this.#readFailed(f.rel, f.name, Object.assign(new Error(r.message), { code: r.error }))
          continue
        }
        this.#o.onFile?.(f.rel, r.data.length)
        this.#o.onBytes?.(r.data.length)
        const content = r.data.length ? await this.#stopOnFailure(this.#o.store.addBlob(BlobType.data, r.data)) : Buffer.alloc(0)
        const unchanged = r.size === f.st.size && r.mtimeNs === f.st.mtimeNs && r.ctimeNs === f.st.ctimeNs && r.ino === f.st.ino
        this.#remember(f.rel, f.st, content, unchanged)
        entries[f.index] = fileEntry(f.name, unchanged ? f.st : ({ ...f.st, size: BigInt(r.data.length) } as BigIntStats), content)
      }
    } finally {
      this.#release()
    }
  }

  /**
   * Cache what was read. A file written to while we read it is stored as read, but not cached:
   * the next up-sync reads it again instead of trusting a stat taken before the change.
   */
  #remember(rel: string, st: BigIntStats, content: Buffer, unchanged: boolean): void {
    this.changes.set(
      cacheKey(rel),
      unchanged
        ? { size: Number(st.size), mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs, ino: Number(st.ino), mode: Number(st.mode & 0o7777n), content }
        : undefined,
    )
  }

  /** A file that could not be read: keep its last synced version if there is one. */
  #readFailed(rel: string, name: string, e: unknown): TreeEntry | undefined {
    const cached = this.#o.cache.get(cacheKey(rel))
    if (cached) {
      // Keep the last synced version rather than telling the chain the file is gone.
      this.#o.warnings.add('EUNREADABLE', shownName(rel), `kept the last synced version of ${shownName(rel)}: ${errText(e)}`)
      return {
        name,
        type: 'file',
        mode: cached.mode,
        mtimeNs: treeTime(cached.mtimeNs),
        size: cached.size,
        content: idsToHex(cached.content),
      }
    }
    return this.#unreadable(rel, name, e)
  }

  async #file(abs: string, rel: string, name: string, st: BigIntStats): Promise<TreeEntry | undefined> {
    this.seen.add(cacheKey(rel))
    const cached = this.#o.cache.get(cacheKey(rel))
    if (cached && sameFile(cached, st)) return this.#cachedEntry(rel, name, st, cached)
    await this.#slot()
    try {
      this.#throwIfStopped()
      this.#o.onFile?.(rel, Number(st.size))
      const { content, after } = await this.#readChunks(abs, Number(st.size))
      this.#remember(rel, st, content, sameStat(after, st))
      return fileEntry(name, st, content)
    } catch (e) {
      // The store's failure (an upload refused) is the run's, not this file's.
      if (e instanceof CloudyError) throw (this.#stopped ??= e)
      return this.#readFailed(rel, name, e)
    } finally {
      this.#release()
    }
  }

  /** Chunk ids of the file, and its stat once read (to catch a change during the read). */
  async #readChunks(abs: string, size: number): Promise<{ content: Buffer; after: BigIntStats }> {
    const fh = await openFile(fsPath(abs), 'r')
    // Several chunks of a file are sealed at once (on the seal pool's threads, if any).
    const ids: Promise<Buffer>[] = []
    // Sized to the file: a 4 MiB buffer per file is gigabytes of garbage per 20,000 files.
    const bufSize = Math.min(READ_BUFFER, size + 1)
    try {
      const chunker = new Chunker(this.#gear)
      for (;;) {
        const buf = Buffer.allocUnsafe(bufSize)
        const { bytesRead } = await fh.read(buf, 0, bufSize, null)
        if (bytesRead === 0) break
        this.#o.onBytes?.(bytesRead)
        for (const chunk of chunker.push(buf.subarray(0, bytesRead))) {
          ids.push(handled(this.#o.store.addBlob(BlobType.data, chunk)))
          if (ids.length > CHUNKS_IN_FLIGHT) await ids[ids.length - 1 - CHUNKS_IN_FLIGHT]
        }
        // A regular file reads short only at its end; this saves a read per file.
        if (bytesRead < bufSize) break
      }
      const last = chunker.finish()
      if (last) ids.push(handled(this.#o.store.addBlob(BlobType.data, last)))
      return { content: Buffer.concat(await settleAll(ids)), after: fstatSync(fh.fd, { bigint: true }) }
    } catch (e) {
      // The chunks still being stored settle first (see `settleAll`).
      await Promise.allSettled(ids)
      throw e
    } finally {
      await fh.close()
    }
  }

  /** A path that cannot be read now: its last synced version stays in the tree, if there is one. */
  async #keepPrevious(rel: string, name: string, e: unknown): Promise<TreeEntry | undefined> {
    const previous = await this.#o.previous?.(rel)
    if (!previous) return this.#unreadable(rel, name, e)
    this.#o.warnings.add('EUNREADABLE', shownName(rel), `kept the last synced version of ${shownName(rel)}: ${errText(e)}`)
    return { ...previous, name }
  }

  #throwIfStopped(): void {
    if (this.#stopped) throw this.#stopped
  }

  /** `p` (a store call); a failure of the store stops the walk. */
  async #stopOnFailure<T>(p: Promise<T>): Promise<T> {
    try {
      return await p
    } catch (e) {
      if (e instanceof CloudyError) this.#stopped ??= e
      throw e
    }
  }

  #unreadable(rel: string, _name: string, e: unknown): undefined {
    this.#o.warnings.add('EUNREADABLE', shownName(rel), `skipped ${shownName(rel)}: ${errText(e)}`)
    return undefined
  }

  async #slot(): Promise<void> {
    if (this.#slots > 0) {
      this.#slots--
      return
    }
    await new Promise<void>((r) => this.#waiting.push(r))
  }

  #release(): void {
    const next = this.#waiting.shift()
    if (next) next()
    else this.#slots++
  }
}

/**
 * `p`, marked as handled: it is awaited later, but an earlier failure may end the wait first and
 * it must not then fail unseen (an unhandled rejection ends the process).
 */
function handled<T>(p: Promise<T>): Promise<T> {
  p.catch(() => {})
  return p
}

interface SmallFile {
  index: number
  abs: string
  rel: string
  name: string
  st: BigIntStats
}

function fileEntry(name: string, st: BigIntStats, content: Buffer): TreeEntry {
  return {
    name,
    type: 'file',
    mode: Number(st.mode & 0o7777n),
    mtimeNs: treeTime(st.mtimeNs),
    size: Number(st.size),
    content: idsToHex(content),
  }
}

export function sameFile(c: CachedFile, st: BigIntStats): boolean {
  return c.size === Number(st.size) && c.mtimeNs === st.mtimeNs && c.ctimeNs === st.ctimeNs && c.ino === Number(st.ino)
}

function sameStat(a: BigIntStats, b: BigIntStats): boolean {
  return a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs && a.ino === b.ino
}

export function idsToHex(content: Buffer): string[] {
  const out: string[] = []
  for (let p = 0; p < content.length; p += 32) out.push(content.toString('hex', p, p + 32))
  return out
}

function kind(st: BigIntStats): string {
  if (st.isFIFO()) return 'a named pipe (FIFO)'
  if (st.isSocket()) return 'a socket'
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device file'
  return 'a special file'
}

function errText(e: unknown): string {
  const err = e as NodeJS.ErrnoException
  if (err.code === 'EACCES' || err.code === 'EPERM') return 'permission denied (make it readable by this user, or exclude it)'
  return err.message ?? String(e)
}
