/**
 * Open handles on the journal's data files, shared by every FUSE handle of a file and kept for
 * a while after: opening a file per 128 KiB read or write would cost more than the I/O. At most
 * `max` stay open when idle; one in use is never closed under its user.
 *
 * New data files are made ahead (`fresh`), off the JavaScript thread: making a file on the disk
 * is most of what a small file's creation through the mount costs, and a copy of many small
 * files would otherwise wait for it once per file. Spares no record names are deleted at close,
 * and by the journal's next open after a crash.
 */
import { randomBytes } from 'node:crypto'
import { rm } from 'node:fs/promises'
import { openNow, type JournalFile, type OpenFile } from './journal-file.js'

interface Slot {
  handle: Promise<JournalFile>
  users: number
}

/**
 * A new data file's id: 32 hex digits, this process's random half and a count. Unique against
 * the files of earlier runs as a random id is, without a call into the system's random
 * generator for each of the many small files a copy makes.
 */
const idPrefix = randomBytes(8).toString('hex')
let idCount = 0
export const newDataId = (): string => idPrefix + (idCount++).toString(16).padStart(16, '0')

/** Empty data files kept made ahead: made in batches of half this, when half are used. */
const SPARES = 64

export class DataFiles {
  readonly #slots = new Map<string, Slot>()
  readonly #spares: { id: string; handle: JournalFile }[] = []
  #making: Promise<void> | undefined
  #closed = false

  constructor(
    readonly pathOf: (id: string) => string,
    readonly openFile: OpenFile = openNow,
    readonly newId: () => string = newDataId,
    readonly max = 64,
  ) {}

  /**
   * A new, empty data file, open: one made ahead if there is one, else made now. Its time is
   * that of its making (the journal's replay takes the later of it and the record's).
   */
  async fresh(): Promise<string> {
    // Run out while a batch is being made: that batch is sooner than a file made here, which
    // would queue behind it on the disk anyway.
    if (this.#spares.length === 0 && this.#making) await this.#making
    const spare = this.#spares.pop()
    this.#makeSpares()
    let id = spare?.id
    if (spare) {
      this.#slots.set(spare.id, { handle: Promise.resolve(spare.handle), users: 0 })
      this.#trim()
    } else {
      id = this.newId()
      await this.use(id, async () => {}, true)
    }
    return id!
  }

  /** Make spares in the background, a batch at once, once half of SPARES are used. */
  #makeSpares(): void {
    if (this.#making || this.#closed || this.#spares.length > SPARES / 2) return
    this.#making = (async () => {
      const ids = Array.from({ length: SPARES - this.#spares.length }, () => this.newId())
      const made = await Promise.allSettled(ids.map((id) => this.openFile(this.pathOf(id), 'w+', 0o600, true)))
      for (const [i, m] of made.entries()) {
        if (m.status === 'rejected') continue
        if (this.#closed) {
          await m.value.close()
          await rm(this.pathOf(ids[i]!), { force: true })
        } else this.#spares.push({ id: ids[i]!, handle: m.value })
      }
      const refused = made.find((m) => m.status === 'rejected')
      if (refused) throw refused.reason
    })()
      // A disk that refuses (full, read-only) leaves creations to make their files themselves.
      .catch(() => {})
      .finally(() => (this.#making = undefined))
  }

  /** Run `fn` with an open handle on data file `id` (made when `create`). */
  async use<T>(id: string, fn: (fh: JournalFile) => Promise<T>, create = false): Promise<T> {
    let slot = this.#slots.get(id)
    if (!slot) {
      const handle = this.openFile(this.pathOf(id), create ? 'w+' : 'r+', 0o600)
      slot = { handle, users: 0 }
      this.#slots.set(id, slot)
      handle.catch(() => this.#slots.get(id) === slot && this.#slots.delete(id))
    }
    slot.users++
    try {
      return await fn(await slot.handle)
    } finally {
      slot.users--
      // Last used now: to the end of the order (unless forgotten meanwhile).
      if (this.#slots.get(id) === slot) {
        this.#slots.delete(id)
        this.#slots.set(id, slot)
      }
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

  /**
   * Close idle handles beyond `max`, the least recently used first: the slots are in the order
   * of their last use (`use` moves a slot to the end), so the first idle ones go.
   */
  #trim(): void {
    let over = this.#slots.size - this.max
    if (over <= 0) return
    for (const [id, s] of this.#slots) {
      if (over <= 0) break
      if (s.users > 0) continue
      this.#slots.delete(id)
      over--
      void s.handle.then((fh) => (fh.closeSoon ? fh.closeSoon() : fh.close())).catch(() => {})
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
    this.#closed = true
    await this.#making
    for (const spare of this.#spares.splice(0)) {
      await spare.handle.close().catch(() => {})
      await rm(this.pathOf(spare.id), { force: true })
    }
    const all = [...this.#slots.values()]
    this.#slots.clear()
    await Promise.all(all.map((s) => s.handle.then((fh) => fh.close()).catch(() => {})))
  }
}
