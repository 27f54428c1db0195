/**
 * Turns folders under HOME into trees in a space: each file costs one `lstat` when the file
 * cache says it is unchanged; otherwise it is read, cut into chunks and the new chunks stored.
 */
import { open as openFile, lstat, readdir, readlink } from 'node:fs/promises'
import type { BigIntStats } from 'node:fs'
import { join } from 'node:path'
import type { CachedFile } from '../state/db.js'
import { Chunker, gearTable } from '../store/chunker.js'
import type { TreeEntry } from '../store/objects.js'
import type { SpaceStore } from '../store/space-store.js'
import { BlobType } from '../vault/aead.js'
import type { Warnings } from '../sync/warnings.js'

/** Files up to this size are read in one call and form one chunk when under the minimum. */
const READ_BUFFER = 4 * 1024 * 1024
/** Files processed at once: enough to hide I/O latency of small files, few enough for memory. */
const FILE_CONCURRENCY = 8

export interface WalkOptions {
  store: SpaceStore
  /** File cache of the space from the state database (path relative to HOME -> entry). */
  cache: Map<string, CachedFile>
  warnings: Warnings
  /** Returns true for a HOME-relative path that must be left out. */
  excluded: (rel: string) => boolean
  /** Called per file with bytes read (progress). */
  onBytes?: (n: number) => void
}

/** Changes to write into the file cache after the commit is published. */
export type CacheChanges = Map<string, CachedFile | undefined>

export class Walker {
  readonly changes: CacheChanges = new Map()
  /** Paths seen in this scan (to drop stale cache entries). */
  readonly seen = new Set<string>()
  #o: WalkOptions
  readonly store: SpaceStore
  #gear: Uint32Array
  #slots = FILE_CONCURRENCY
  #waiting: (() => void)[] = []

  constructor(options: WalkOptions) {
    this.#o = options
    this.store = options.store
    this.#gear = gearTable(options.store.keys.gearSeed)
  }

  /** The tree entry of `abs` (named `name`), or undefined if it is skipped. */
  async entry(abs: string, rel: string, name: string, st?: BigIntStats): Promise<TreeEntry | undefined> {
    try {
      st ??= await lstat(abs, { bigint: true })
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined
      return this.#unreadable(rel, name, e)
    }
    const base = { name, mode: Number(st.mode & 0o7777n), mtimeNs: String(st.mtimeNs) }
    if (st.isDirectory()) {
      const subtree = await this.dir(abs, rel)
      return subtree === undefined ? this.#unreadable(rel, name, new Error('folder cannot be listed')) : { ...base, type: 'dir', subtree }
    }
    if (st.isSymbolicLink()) {
      try {
        return { ...base, type: 'symlink', target: await readlink(abs) }
      } catch (e) {
        return this.#unreadable(rel, name, e)
      }
    }
    if (st.isFile()) return this.#file(abs, rel, name, st)
    this.#o.warnings.add('ESPECIAL', rel, `skipped ${rel}: ${kind(st)} cannot be synced (only files, folders and symlinks are)`)
    return undefined
  }

  /** Store the tree of folder `abs`; undefined if it cannot be listed. */
  async dir(abs: string, rel: string): Promise<string | undefined> {
    let names: string[]
    try {
      names = (await readdir(abs)).sort()
    } catch {
      return undefined
    }
    const entries = await Promise.all(
      names.map(async (name) => {
        const childRel = rel ? `${rel}/${name}` : name
        if (this.#o.excluded(childRel)) return undefined
        return this.entry(join(abs, name), childRel, name)
      }),
    )
    return this.#o.store.putTree({ entries: entries.filter((e): e is TreeEntry => e !== undefined) })
  }

  async #file(abs: string, rel: string, name: string, st: BigIntStats): Promise<TreeEntry | undefined> {
    this.seen.add(rel)
    const cached = this.#o.cache.get(rel)
    const mode = Number(st.mode & 0o7777n)
    const entry = (content: Buffer): TreeEntry => ({
      name,
      type: 'file',
      mode,
      mtimeNs: String(st.mtimeNs),
      size: Number(st.size),
      content: idsToHex(content),
    })
    if (cached && sameFile(cached, st) && this.#allStored(cached.content)) {
      if (cached.mode !== mode) this.changes.set(rel, { ...cached, mode })
      return entry(cached.content)
    }
    await this.#slot()
    try {
      const content = await this.#readChunks(abs, Number(st.size))
      const after = await lstat(abs, { bigint: true })
      // A file written to while we read it is stored as read, but not cached: the next
      // up-sync reads it again instead of trusting a stat taken before the change.
      if (sameStat(after, st)) {
        this.changes.set(rel, { size: Number(st.size), mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs, ino: Number(st.ino), mode, content })
      } else {
        this.changes.set(rel, undefined)
      }
      return entry(content)
    } catch (e) {
      if (cached) {
        // Keep the last synced version rather than telling the chain the file is gone.
        this.#o.warnings.add('EUNREADABLE', rel, `kept the last synced version of ${rel}: ${errText(e)}`)
        return { name, type: 'file', mode: cached.mode, mtimeNs: String(cached.mtimeNs), size: cached.size, content: idsToHex(cached.content) }
      }
      return this.#unreadable(rel, name, e)
    } finally {
      this.#release()
    }
  }

  async #readChunks(abs: string, size: number): Promise<Buffer> {
    const fh = await openFile(abs, 'r')
    const ids: Buffer[] = []
    // Sized to the file: a 4 MiB buffer per small file is gigabytes of garbage per 20,000 files.
    const bufSize = Math.min(READ_BUFFER, size + 1)
    try {
      const chunker = new Chunker(this.#gear)
      for (;;) {
        const buf = Buffer.allocUnsafe(bufSize)
        const { bytesRead } = await fh.read(buf, 0, bufSize, null)
        if (bytesRead === 0) break
        this.#o.onBytes?.(bytesRead)
        for (const chunk of chunker.push(buf.subarray(0, bytesRead))) ids.push(await this.#o.store.addBlob(BlobType.data, chunk))
        // A regular file reads short only at its end; this saves a read per small file.
        if (bytesRead < bufSize) break
      }
      const last = chunker.finish()
      if (last) ids.push(await this.#o.store.addBlob(BlobType.data, last))
    } finally {
      await fh.close()
    }
    return Buffer.concat(ids)
  }

  #allStored(content: Buffer): boolean {
    for (let p = 0; p < content.length; p += 32) if (!this.#o.store.has(content.subarray(p, p + 32))) return false
    return true
  }

  #unreadable(rel: string, _name: string, e: unknown): undefined {
    this.#o.warnings.add('EUNREADABLE', rel, `skipped ${rel}: ${errText(e)}`)
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
