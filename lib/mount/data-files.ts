/**
 * Open handles on the journal's data files, shared by every FUSE handle of a file and kept for
 * a while after: opening a file per 128 KiB read or write would cost more than the I/O. At most
 * `max` stay open when idle; one in use is never closed under its user.
 */
import { open, type FileHandle } from 'node:fs/promises'

interface Slot {
  handle: Promise<FileHandle>
  users: number
  lastUsed: number
}

export class DataFiles {
  readonly #slots = new Map<string, Slot>()

  constructor(
    readonly pathOf: (id: string) => string,
    readonly openFile: (path: string, flags: string, mode?: number) => Promise<FileHandle> = open,
    readonly max = 64,
  ) {}

  /** Run `fn` with an open handle on data file `id` (made when `create`). */
  async use<T>(id: string, fn: (fh: FileHandle) => Promise<T>, create = false): Promise<T> {
    let slot = this.#slots.get(id)
    if (!slot) {
      const handle = this.openFile(this.pathOf(id), create ? 'w+' : 'r+', 0o600)
      slot = { handle, users: 0, lastUsed: 0 }
      this.#slots.set(id, slot)
      handle.catch(() => this.#slots.get(id) === slot && this.#slots.delete(id))
    }
    slot.users++
    try {
      return await fn(await slot.handle)
    } finally {
      slot.users--
      slot.lastUsed = performance.now()
      this.#trim()
    }
  }

  /** Data file `id` kept open until `release` is called (a direct file of the mount). */
  async hold(id: string): Promise<{ fd: number; release: () => void }> {
    let release = () => {}
    const fd = await new Promise<number>((resolve, reject) => {
      this.use(id, (fh) => {
        resolve(fh.fd)
        return new Promise<void>((done) => (release = done))
      }).catch(reject)
    })
    return { fd, release }
  }

  /** Close idle handles beyond `max`, the least recently used first. */
  #trim(): void {
    if (this.#slots.size <= this.max) return
    const idle = [...this.#slots].filter(([, s]) => s.users === 0).sort((a, b) => a[1].lastUsed - b[1].lastUsed)
    for (const [id, s] of idle.slice(0, this.#slots.size - this.max)) {
      this.#slots.delete(id)
      void s.handle.then((fh) => fh.close()).catch(() => {})
    }
  }

  /** Close the handle of a data file about to be deleted. */
  async forget(id: string): Promise<void> {
    const s = this.#slots.get(id)
    if (!s) return
    this.#slots.delete(id)
    await s.handle.then((fh) => fh.close()).catch(() => {})
  }

  async close(): Promise<void> {
    const all = [...this.#slots.values()]
    this.#slots.clear()
    await Promise.all(all.map((s) => s.handle.then((fh) => fh.close()).catch(() => {})))
  }
}
