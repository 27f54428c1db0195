/**
 * A read-only view of one space as the chain has it now (its heads merged), for the mount:
 * attributes and listings from trees, file bytes by range from the blobs that hold them. The
 * mount asks by path; every answer comes from the vault through the store (and its caches).
 *
 * The root moves when this computer up-syncs or another one's up-sync lands (`setRoot`).
 */
import { LRUCache } from 'lru-cache'
import type { StateDb } from '../state/db.js'
import type { Tree, TreeEntry } from '../store/objects.js'
import type { SpaceStore } from '../store/space-store.js'
import { followChain } from '../sync/follow.js'
import { BlobType } from '../vault/aead.js'
import type { Vault } from '../vault/vault.js'
import type { DiskChunkCache } from './disk-cache.js'
import type { MountView, ViewEntry } from './view.js'

/** Decrypted chunks kept, by default: enough for read-ahead of a few files at once. */
const DEFAULT_CACHE_BYTES = 64 * 1024 * 1024

/** Trees kept as name maps: a lookup in a folder of thousands of entries must not scan it. */
const TREE_MAPS = 1024

/** Chunks fetched ahead of a sequential reader (a chunk is about 1 MiB; 8 read 300 MB warm ~8% faster than 4 here). */
const READ_AHEAD = 8

export interface SpaceViewOptions {
  /** Decrypted chunks kept in memory, in bytes. */
  cacheBytes?: number
  /** Sealed chunks kept on disk (for a remote provider). */
  disk?: DiskChunkCache
}

export class SpaceView implements MountView {
  #root: string | undefined
  readonly #chunks: LRUCache<string, Buffer>
  readonly #disk: DiskChunkCache | undefined
  /** Chunks being fetched: two readers of one chunk share one fetch. */
  readonly #fetching = new Map<string, Promise<Buffer>>()
  readonly #maps = new LRUCache<string, Map<string, TreeEntry>>({ max: TREE_MAPS })
  /** Start offset of each chunk of a file, by its (tree-cached) list of chunks. */
  readonly #offsets = new WeakMap<readonly string[], number[]>()
  /** Where the last read of a file ended: a read starting there is sequential. */
  readonly #lastEnd = new WeakMap<readonly string[], number>()

  private constructor(
    readonly store: SpaceStore,
    root: string | undefined,
    options: SpaceViewOptions,
  ) {
    this.#root = root
    this.#chunks = new LRUCache({ maxSize: options.cacheBytes ?? DEFAULT_CACHE_BYTES, sizeCalculation: (b) => Math.max(1, b.length) })
    this.#disk = options.disk
  }

  /** The view of the chain's current state of `store`'s space. */
  static async open(vault: Vault, store: SpaceStore, db: StateDb, options: SpaceViewOptions = {}): Promise<SpaceView> {
    const view = new SpaceView(store, undefined, options)
    await view.refresh(vault, db)
    return view
  }

  /** The heads the root was merged from, to see whether they moved. */
  #heads: string[] | undefined

  /** Follow the chain: the merged state of its heads, if they moved; true if the root changed. */
  async refresh(vault: Vault, db: StateDb): Promise<boolean> {
    // The index files of the new commits are read, unless the store was just opened.
    const { heads, moved, merged } = await followChain(vault, this.store, db, this.#heads, { reopen: !!this.#heads })
    if (!moved) return false
    this.#heads = heads
    const tree = merged?.tree
    const changed = tree !== this.#root
    this.#root = tree
    return changed
  }

  /** The view of tree `root` of `store`'s space. */
  static of(store: SpaceStore, root: string | undefined, options: SpaceViewOptions = {}): SpaceView {
    return new SpaceView(store, root, options)
  }

  get root(): string | undefined {
    return this.#root
  }

  setRoot(root: string | undefined): void {
    this.#root = root
  }

  async tree(id: string | undefined): Promise<Tree> {
    return id ? this.store.readTree(id) : { entries: [] }
  }

  async #names(id: string | undefined): Promise<Map<string, TreeEntry>> {
    if (!id) return new Map()
    let m = this.#maps.get(id)
    if (!m) {
      m = new Map((await this.store.readTree(id)).entries.map((e) => [e.name, e]))
      this.#maps.set(id, m)
    }
    return m
  }

  /**
   * Read the folders of the tree ahead, breadth first, as many as the cache keeps: a first
   * `ls -lR` or `find` then waits on the kernel only. Run in the background after mounting;
   * the mount is idle between the kernel's requests, one entry at a time.
   */
  async prefetch(): Promise<void> {
    let level = [this.#root]
    let read = 0
    while (level.length && read < TREE_MAPS / 2) {
      const next: (string | undefined)[] = []
      for (let i = 0; i < level.length && read < TREE_MAPS / 2; i += 8) {
        const maps = await Promise.all(level.slice(i, i + 8).map((id) => this.#names(id)))
        read += maps.length
        for (const m of maps) for (const e of m.values()) if (e.type === 'dir' && e.subtree) next.push(e.subtree)
      }
      level = next
    }
  }

  /** The entry at a `/`-separated path relative to the space ('' is its root folder). */
  async entry(path: string): Promise<TreeEntry | undefined> {
    if (path === '') return { name: '', type: 'dir', mode: 0o755, mtimeNs: '0', subtree: this.#root }
    let dir = this.#root
    let found: TreeEntry | undefined
    for (const name of path.split('/')) {
      if (found && found.type !== 'dir') return undefined
      if (found) dir = found.subtree
      found = (await this.#names(dir)).get(name)
      if (!found) return undefined
    }
    return found
  }

  async stat(path: string): Promise<ViewEntry | undefined> {
    const e = await this.entry(path)
    return e && viewEntry(e)
  }

  /** Names in the folder at `path`, or undefined when it is not a folder. */
  async list(path: string): Promise<string[] | undefined> {
    const e = await this.entry(path)
    if (!e || e.type !== 'dir') return undefined
    return [...(await this.#names(e.subtree)).keys()]
  }

  /** Up to `length` bytes of the file at `path` from `offset`. */
  async read(path: string, offset: number, length: number): Promise<Buffer> {
    const e = await this.entry(path)
    if (!e || e.type !== 'file') return Buffer.alloc(0)
    return this.readContent(e.content ?? [], e.size ?? 0, offset, length)
  }

  /** Up to `length` bytes from `offset` of the file made of chunks `content` (`size` bytes). */
  async readContent(content: readonly string[], size: number, offset: number, length: number): Promise<Buffer> {
    if (!content.length) return Buffer.alloc(0)
    const offsets = this.#chunkOffsets(content)
    const end = Math.min(offset + length, size)
    const sequential = offset > 0 && this.#lastEnd.get(content) === offset
    this.#lastEnd.set(content, end)
    const parts: Buffer[] = []
    let i = chunkAt(offsets, offset)
    for (; i < content.length && offset < end; i++) {
      const start = offsets[i]!
      const stop = offsets[i + 1] ?? size
      const chunk = await this.#chunk(content[i]!)
      parts.push(chunk.subarray(offset - start, Math.min(end, stop) - start))
      offset = Math.min(end, stop)
    }
    // A sequential reader will want the next chunks: they are fetched while it reads these.
    if (sequential) for (let j = i; j < Math.min(content.length, i + READ_AHEAD); j++) this.#chunk(content[j]!).catch(() => {})
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts)
  }

  #chunkOffsets(content: readonly string[]): number[] {
    let offsets = this.#offsets.get(content)
    if (!offsets) {
      offsets = []
      let at = 0
      for (const id of content) {
        offsets.push(at)
        at += this.store.locate(Buffer.from(id, 'hex'))?.rawLength ?? 0
      }
      this.#offsets.set(content, offsets)
    }
    return offsets
  }

  /** A chunk's bytes: from memory, else the disk cache, else the vault. */
  #chunk(id: string): Promise<Buffer> {
    const cached = this.#chunks.get(id)
    if (cached) return Promise.resolve(cached)
    let p = this.#fetching.get(id)
    if (!p) {
      p = this.#fetch(id).finally(() => this.#fetching.delete(id))
      this.#fetching.set(id, p)
    }
    return p
  }

  async #fetch(id: string): Promise<Buffer> {
    const bid = Buffer.from(id, 'hex')
    const kept = await this.#disk?.get(id)
    let plain: Buffer | undefined
    if (kept) {
      try {
        plain = this.store.openBlob(`cache:${id}`, BlobType.data, bid, kept)
      } catch {
        await this.#disk!.drop(id) // damaged on this disk: fetched again
      }
    }
    if (!plain) {
      const { key, sealed } = await this.store.fetchSealed(bid)
      plain = this.store.openBlob(key, BlobType.data, bid, sealed)
      await this.#disk?.put(id, sealed).catch(() => {}) // a full disk only costs the cache
    }
    this.#chunks.set(id, plain)
    return plain
  }
}

/** The index of the chunk holding byte `offset` (offsets ascending, the first 0). */
function chunkAt(offsets: readonly number[], offset: number): number {
  let lo = 0
  let hi = offsets.length - 1
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1
    if (offsets[mid]! <= offset) lo = mid
    else hi = mid - 1
  }
  return lo
}

/** What the mount shows for a tree entry. */
export function viewEntry(e: TreeEntry): ViewEntry {
  return {
    type: e.type,
    mode: e.mode,
    size: e.type === 'file' ? (e.size ?? 0) : e.type === 'symlink' ? Buffer.byteLength(e.target ?? '') : 4096,
    mtimeMs: Number(BigInt(e.mtimeNs) / 1_000_000n),
    target: e.target,
    version: e.type === 'file' ? contentVersion(e.content ?? []) : e.type === 'dir' ? e.subtree : e.target,
  }
}

/** A file's chunk ids as one string, made once per list of chunks (trees are cached, so are their lists). */
const versions = new WeakMap<readonly string[], string>()
export function contentVersion(content: readonly string[]): string {
  let v = versions.get(content)
  if (v === undefined) versions.set(content, (v = content.join('')))
  return v
}
