/**
 * Chunks as the vault stores them (sealed: encrypted and authenticated), kept on this disk so
 * that reading a file again through the mount does not fetch it again from a remote provider.
 * Sealed bytes leak nothing, and a damaged file fails authentication when opened (the caller
 * then drops it and fetches again). Bounded in bytes; the least recently used go first.
 */
import { mkdirSync, readdirSync, statSync } from 'node:fs'
import { readFile, rename, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'

const ID = /^[0-9a-f]{64}$/

export class DiskChunkCache {
  /** id -> size, least recently used first (a Map keeps insertion order). */
  readonly #entries = new Map<string, number>()
  #bytes = 0

  private constructor(
    readonly dir: string,
    readonly maxBytes: number,
  ) {}

  /** The cache in `dir` (made if missing), what it already holds counted, oldest first. */
  static open(dir: string, maxBytes: number): DiskChunkCache {
    mkdirSync(dir, { recursive: true, mode: 0o700 })
    const c = new DiskChunkCache(dir, maxBytes)
    const found: { id: string; size: number; at: number }[] = []
    for (const name of readdirSync(dir)) {
      const path = join(dir, name)
      if (!ID.test(name)) {
        // A write a crash interrupted.
        void rm(path, { force: true })
        continue
      }
      const st = statSync(path)
      found.push({ id: name, size: st.size, at: st.mtimeMs })
    }
    for (const f of found.sort((a, b) => a.at - b.at)) c.#add(f.id, f.size)
    void c.#evict()
    return c
  }

  get bytes(): number {
    return this.#bytes
  }

  #add(id: string, size: number): void {
    this.#entries.set(id, size)
    this.#bytes += size
  }

  /** The sealed bytes of chunk `id`, if cached. */
  async get(id: string): Promise<Uint8Array | undefined> {
    const size = this.#entries.get(id)
    if (size === undefined) return undefined
    this.#entries.delete(id)
    this.#entries.set(id, size)
    try {
      return await readFile(join(this.dir, id))
    } catch {
      await this.drop(id)
      return undefined
    }
  }

  /** Keep chunk `id` (written aside, then renamed: a reader never sees half of it). */
  async put(id: string, sealed: Uint8Array): Promise<void> {
    if (!ID.test(id) || this.#entries.has(id) || sealed.length > this.maxBytes) return
    const temp = join(this.dir, `${id}.${process.pid}.tmp`)
    await writeFile(temp, sealed, { mode: 0o600 })
    await rename(temp, join(this.dir, id))
    this.#add(id, sealed.length)
    await this.#evict()
  }

  /** Forget chunk `id` (it failed authentication, or vanished). */
  async drop(id: string): Promise<void> {
    const size = this.#entries.get(id)
    if (size === undefined) return
    this.#entries.delete(id)
    this.#bytes -= size
    await rm(join(this.dir, id), { force: true })
  }

  async #evict(): Promise<void> {
    const gone: Promise<void>[] = []
    for (const [id] of this.#entries) {
      if (this.#bytes <= this.maxBytes) break
      gone.push(this.drop(id))
    }
    await Promise.all(gone)
  }
}
