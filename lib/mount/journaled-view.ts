/**
 * A read-write view of one space: its base tree (what this computer last synced) with the write
 * journal over it. Reads come from the journal's data files or the vault; every change goes
 * into the journal at once, so it is visible at once and survives a crash once synced.
 *
 * The answers follow POSIX: a change to a missing path is ENOENT, to a folder where a file is
 * expected EISDIR, and so on (FsError). Writing a file that is still the vault's copies it into
 * a data file first; so does writing one an up-sync is reading (`Journal.frozen`).
 */
import { fstatSync, ftruncateSync, readSync, writeSync } from 'node:fs'
import { copyFile } from 'node:fs/promises'
import { DataFiles } from './data-files.js'
import { FsError } from './fs-error.js'
import { mtimeMsOf, type Journal, type JournalChange, type JournalNode, type JournalSnapshot } from './journal.js'
import { contentVersion, viewEntry, type SpaceView } from './space-view.js'
import type { DirectLease, MountView, NewFiles, ViewEntry } from './view.js'

/** Bytes copied at a time out of the vault into a data file. */
const COPY_STEP = 1024 * 1024

/** A path as the view resolves it. */
interface Found {
  entry: ViewEntry
  /** The journal's state, when it has one. */
  node?: JournalNode
  /** The vault's chunks of a file the journal has not written. */
  content?: string[]
  /** For a folder: true if the base's entries show through. */
  seeThrough: boolean
}

const parentOf = (path: string) => (path.includes('/') ? path.slice(0, path.lastIndexOf('/')) : '')
const now = () => Date.now()

export class JournaledView implements MountView {
  readonly data: DataFiles
  /** The last change queued (`#serial`). */
  #queue: Promise<void> = Promise.resolve()
  /** Called after every change (the mount's quiet-period timer). */
  onChange: () => void = () => {}
  /** The mount's direct files, by data file (`direct`). */
  readonly #leases = new Map<string, Set<DirectLease>>()
  /** Files the binding made, direct there before their lease starts here: stopped as leases are. */
  readonly #made = new Map<string, DirectLease>()

  constructor(
    readonly base: SpaceView,
    readonly journal: Journal,
  ) {
    this.data = new DataFiles(
      (id) => journal.dataPath(id),
      journal.openFile,
      () => journal.newData(),
    )
    journal.beforeDelete = (id) => {
      this.#stopLeases(id)
      return this.data.forget(id)
    }
  }

  async #resolve(path: string): Promise<Found | undefined> {
    if (path === '') {
      const e = await this.base.stat('')
      return { entry: e!, seeThrough: true }
    }
    let seeThrough = true
    const parts = path.split('/')
    for (let i = 1; i < parts.length; i++) {
      const n = this.journal.get(parts.slice(0, i).join('/'))
      if (!n) continue
      if (n.kind !== 'dir') return undefined
      if (n.opaque) seeThrough = false
    }
    const node = this.journal.get(path)
    if (node) {
      if (node.kind === 'gone') return undefined
      const entry = nodeEntry(node)
      if (node.kind === 'vault-file') return { entry, node, content: node.content, seeThrough: false }
      const through = seeThrough && node.kind === 'dir' && !node.opaque && (await this.base.entry(path))?.type === 'dir'
      return { entry, node, seeThrough: through }
    }
    if (!seeThrough) return undefined
    const e = await this.base.entry(path)
    if (!e) return undefined
    return { entry: viewEntry(e), content: e.type === 'file' ? (e.content ?? []) : undefined, seeThrough: e.type === 'dir' }
  }

  canWrite(): boolean {
    return true
  }

  async stat(path: string): Promise<ViewEntry | undefined> {
    return (await this.#resolve(path))?.entry
  }

  async list(path: string): Promise<string[] | undefined> {
    const f = await this.#resolve(path)
    if (f?.entry.type !== 'dir') return undefined
    const names = new Set(f.seeThrough ? await this.base.list(path) : [])
    for (const [name, node] of this.journal.children(path)) {
      if (node.kind === 'gone') names.delete(name)
      else names.add(name)
    }
    return [...names]
  }

  async read(path: string, offset: number, length: number): Promise<Buffer> {
    const f = await this.#resolve(path)
    if (!f) throw new FsError('ENOENT')
    if (f.entry.type === 'dir') throw new FsError('EISDIR')
    if (f.node?.kind === 'file') {
      const node = f.node
      const want = Math.max(0, Math.min(length, node.size - offset))
      if (want === 0) return Buffer.alloc(0)
      // Synchronous, as the writes are (see `write`).
      return this.data.use(node.data, async (fh) => {
        const buf = Buffer.allocUnsafe(want)
        return buf.subarray(0, readSync(fh.fd, buf, 0, want, offset))
      })
    }
    return this.base.readContent(f.content ?? [], f.entry.size, offset, length)
  }

  // ---- changes ----

  /** Run a change; a snapshot (`pause`) waits for the ones in progress and holds new ones. */
  async #change<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await this.#serial(work)
    } finally {
      this.onChange()
    }
  }

  /**
   * One change at a time: a change reads the state it builds on (a file's copy out of the
   * vault, a folder's entries for a rename) across awaits, and a change to the same path in
   * between would be overwritten with that old state.
   */
  #serial<T>(work: () => Promise<T> | T): Promise<T> {
    const run = this.#queue.then(work)
    this.#queue = run.then(
      () => {},
      () => {},
    )
    return run
  }

  /** Take `fn`'s result with no change in progress (an up-sync's snapshot, a new base). */
  pause<T>(fn: () => T): Promise<T> {
    return this.#serial(fn)
  }

  /** The folder that is to hold `path`: it must exist and be a folder. */
  async #parent(path: string): Promise<void> {
    if (path === '') throw new FsError('EEXIST')
    const p = await this.#resolve(parentOf(path))
    if (!p) throw new FsError('ENOENT')
    if (p.entry.type !== 'dir') throw new FsError('ENOTDIR')
  }

  create(path: string, mode: number): Promise<void> {
    return this.#change(async () => {
      await this.#parent(path)
      const existing = await this.#resolve(path)
      if (existing?.entry.type === 'dir') throw new FsError('EISDIR')
      const id = await this.data.fresh()
      await this.journal.record([{ path, node: { kind: 'file', data: id, size: 0, mode: mode & 0o7777, mtimeMs: now() }, clear: true }])
    })
  }

  /** New data files for the binding to answer creations with; `rel` is `path` as given (this view is a journal's whole). */
  async newFiles(path: string): Promise<{ files: NewFiles; rel: string }> {
    return { files: this.#newFiles, rel: path }
  }

  readonly #newFiles: NewFiles = {
    take: async () => {
      const id = await this.data.fresh()
      return { id, fd: await this.data.use(id, async (fh) => fh.fd) }
    },
    bind: (make) => this.journal.bind(make),
    unbind: () => this.journal.unbind(),
    taken: (path, mode, id, mtimeMs, seq, stop) => {
      this.journal.taken(seq, { path, node: { kind: 'file', data: id, size: 0, mode: mode & 0o7777, mtimeMs }, clear: true })
      // Direct in the binding already: a snapshot or a deletion before its lease starts (`direct`)
      // takes it back all the same.
      const leases = this.#leasesOf(id)
      const standIn: DirectLease = {
        start: () => {},
        stop: () => {
          leases.delete(standIn)
          if (this.#made.get(id) === standIn) this.#made.delete(id)
          stop()
        },
      }
      leases.add(standIn)
      this.#made.set(id, standIn)
      this.onChange()
    },
  }

  mkdir(path: string, mode: number): Promise<void> {
    return this.#change(async () => {
      await this.#parent(path)
      if (await this.#resolve(path)) throw new FsError('EEXIST')
      await this.journal.record([{ path, node: { kind: 'dir', opaque: true, mode: mode & 0o7777, mtimeMs: now() }, clear: true }])
    })
  }

  symlink(target: string, path: string): Promise<void> {
    return this.#change(async () => {
      await this.#parent(path)
      if (await this.#resolve(path)) throw new FsError('EEXIST')
      await this.journal.record([{ path, node: { kind: 'symlink', target, mtimeMs: now() }, clear: true }])
    })
  }

  unlink(path: string): Promise<void> {
    return this.#change(async () => {
      const f = await this.#resolve(path)
      if (!f) throw new FsError('ENOENT')
      if (f.entry.type === 'dir') throw new FsError('EISDIR')
      await this.journal.record([{ path, node: { kind: 'gone' }, clear: true }])
    })
  }

  rmdir(path: string): Promise<void> {
    return this.#change(async () => {
      const f = await this.#resolve(path)
      if (!f) throw new FsError('ENOENT')
      if (f.entry.type !== 'dir') throw new FsError('ENOTDIR')
      if (path === '') throw new FsError('EPERM')
      if ((await this.list(path))!.length > 0) throw new FsError('ENOTEMPTY')
      await this.journal.record([{ path, node: { kind: 'gone' }, clear: true }])
    })
  }

  rename(from: string, to: string): Promise<void> {
    return this.#change(async () => {
      if (from === to) return
      if (from === '' || to === '' || to.startsWith(from + '/')) throw new FsError('EINVAL')
      const src = await this.#resolve(from)
      if (!src) throw new FsError('ENOENT')
      await this.#parent(to)
      const dst = await this.#resolve(to)
      if (dst) {
        if (src.entry.type === 'dir' && dst.entry.type !== 'dir') throw new FsError('ENOTDIR')
        if (src.entry.type !== 'dir' && dst.entry.type === 'dir') throw new FsError('EISDIR')
        if (dst.entry.type === 'dir' && (await this.list(to))!.length > 0) throw new FsError('ENOTEMPTY')
      }
      // Whole states at the new paths, so the journal does not depend on the old ones.
      const moved: JournalChange[] = [{ path: to, node: this.#nodeOf(src), clear: true }]
      if (src.entry.type === 'dir') await this.#copyTree(from, to, moved)
      await this.journal.record([{ path: from, node: { kind: 'gone' }, clear: true }, ...moved])
    })
  }

  /** The journal state that stands for `f` on its own. */
  #nodeOf(f: Found): JournalNode {
    const e = f.entry
    if (f.node && f.node.kind !== 'dir') return f.node
    if (e.type === 'dir') return { kind: 'dir', opaque: true, mode: e.mode, mtimeMs: e.mtimeMs }
    if (e.type === 'symlink') return { kind: 'symlink', target: e.target ?? '', mtimeMs: e.mtimeMs }
    return { kind: 'vault-file', content: f.content ?? [], size: e.size, mode: e.mode, mtimeMs: e.mtimeMs }
  }

  async #copyTree(from: string, to: string, out: JournalChange[]): Promise<void> {
    for (const name of (await this.list(from)) ?? []) {
      const f = await this.#resolve(`${from}/${name}`)
      if (!f) continue
      out.push({ path: `${to}/${name}`, node: this.#nodeOf(f) })
      if (f.entry.type === 'dir') await this.#copyTree(`${from}/${name}`, `${to}/${name}`, out)
    }
  }

  chmod(path: string, mode: number): Promise<void> {
    return this.#meta(path, (n) => ('mode' in n ? { ...n, mode: mode & 0o7777 } : n))
  }

  utimens(path: string, mtimeMs: number): Promise<void> {
    return this.#meta(
      path,
      (n) => (n.kind === 'gone' ? n : { ...n, mtimeMs }),
      async (n) => {
        // A file's time is its data file's (Journal.open): set there too. libuv cuts a time to the
        // microsecond below it (1.564 s may land on 1.563999): half a microsecond more lands on it.
        const secs = mtimeMs / 1000 + 5e-7
        if (n.kind === 'file') await this.data.use(n.data, (fh) => fh.utimes(secs, secs))
      },
    )
  }

  #meta(path: string, edit: (n: JournalNode) => JournalNode, after?: (n: JournalNode) => Promise<void>): Promise<void> {
    return this.#change(async () => {
      const f = await this.#resolve(path)
      if (!f) throw new FsError('ENOENT')
      if (path === '') return // the space's root folder has no entry of its own
      let node = f.node ?? this.#nodeOf(f)
      // The base's folder keeps its entries: only its mode or time changes.
      if (!f.node && f.entry.type === 'dir') node = { kind: 'dir', opaque: false, mode: f.entry.mode, mtimeMs: f.entry.mtimeMs }
      const next = edit(node)
      await this.journal.record([{ path, node: next }])
      await after?.(next)
    })
  }

  /**
   * Cut or extend the file at `path` to `size` bytes. `recorded`: a truncate(2), not through an
   * open file (either way the data file says the new size).
   */
  truncate(path: string, size: number, recorded = true): Promise<void> {
    return this.#change(async () => {
      const node = await this.#writable(path)
      await this.data.use(node.data, async (fh) => ftruncateSync(fh.fd, size))
      if (recorded) await this.journal.record([{ path, node: { ...node, size, mtimeMs: now() } }])
      else this.journal.touchData(node.data, size, now())
    })
  }

  /** Write `buf` at `position` of the file at `path`; the bytes written. */
  write(path: string, buf: Buffer, position: number): Promise<number> {
    return this.#change(async () => {
      const node = await this.#writable(path)
      // Synchronous: a write into the page cache takes microseconds, a trip through libuv's
      // thread pool more, and a file copied in is a few of them (docs/MOUNT.md, "Durability").
      const bytesWritten = await this.data.use(node.data, async (fh) => writeSync(fh.fd, buf, 0, buf.length, position))
      this.journal.touchData(node.data, Math.max(node.size, position + bytesWritten), now())
      return bytesWritten
    })
  }

  /** Make the file at `path` durable against a machine crash (fsync); without a path, every record so far. */
  async sync(path?: string): Promise<void> {
    const node = path === undefined ? undefined : this.journal.get(path)
    if (node?.kind === 'file') await this.data.use(node.data, (fh) => this.journal.sync(path, fh))
    else await this.journal.sync(path)
    // A close during an up-sync leaves its state for the next one, which this arms.
    if (node) this.onChange()
  }

  /**
   * The file at `path` as a data file this write may change: a file still the vault's is copied
   * out of it, one an up-sync is reading is copied aside first.
   */
  async #writable(path: string): Promise<Extract<JournalNode, { kind: 'file' }>> {
    const node = this.journal.get(path)
    if (node?.kind === 'file' && !this.journal.frozen.has(node.data)) return node
    const f = await this.#resolve(path)
    if (!f) throw new FsError('ENOENT')
    if (f.entry.type === 'dir') throw new FsError('EISDIR')
    if (f.entry.type !== 'file') throw new FsError('EINVAL')
    return this.#copyOut(path, f)
  }

  async #copyOut(path: string, f: Found): Promise<Extract<JournalNode, { kind: 'file' }>> {
    const id = this.journal.newData()
    const target = this.journal.dataPath(id)
    const e = f.entry
    // Whoever reads the old data file directly would not see the new bytes: through the view again.
    if (f.node?.kind === 'file') this.#stopLeases(f.node.data)
    if (f.node?.kind === 'file') await copyFile(this.journal.dataPath(f.node.data), target)
    const fh = await this.journal.openFile(target, f.node?.kind === 'file' ? 'r+' : 'w', 0o600)
    try {
      if (f.node?.kind !== 'file') {
        for (let at = 0; at < e.size; at += COPY_STEP) {
          const bytes = await this.base.readContent(f.content ?? [], e.size, at, COPY_STEP)
          await fh.write(bytes, 0, bytes.length, at)
        }
      }
      // The record below replaces a state that was durable (closed, or the vault's): the copy
      // must be durable before it, or a machine crash could leave the path pointing at zeros.
      await fh.datasync()
    } finally {
      await fh.close()
    }
    const node = { kind: 'file' as const, data: id, size: e.size, mode: e.mode, mtimeMs: e.mtimeMs }
    await this.journal.record([{ path, node }])
    // An open during the copy may have taken the old data file again.
    if (f.node?.kind === 'file') this.#stopLeases(f.node.data)
    return node
  }

  /**
   * The file at `path` for the mount to read and write itself (docs/MOUNT.md, "Direct I/O"): a
   * data file, writable unless an up-sync is reading it. The lease is stopped before an
   * up-sync's snapshot and before the data file is deleted.
   */
  async direct(path: string, lease: DirectLease): Promise<boolean> {
    const node = this.journal.get(path)
    if (node?.kind !== 'file') return false
    const id = node.data
    const held = await this.data.hold(id)
    // Checked again after the wait, and started in the same step as the check.
    const now = this.journal.get(path)
    if (now?.kind !== 'file' || now.data !== id) {
      held.release()
      return false
    }
    const leases = this.#leasesOf(id)
    leases.add(lease)
    // The lease of a file the binding made replaces the stand-in its making left.
    const made = this.#made.get(id)
    if (made) {
      this.#made.delete(id)
      leases.delete(made)
    }
    let closed = false
    lease.start({
      fd: held.fd,
      writable: !this.journal.frozen.has(id),
      durable: this.journal.durableFlag,
      wrote: () => {
        // A file's size and time are its data file's (lib/mount/journal.ts).
        const st = fstatSync(held.fd, { bigint: true })
        this.journal.touchData(id, Number(st.size), mtimeMsOf(st))
        this.onChange()
      },
      close: () => {
        if (closed) return
        closed = true
        leases.delete(lease)
        if (leases.size === 0 && this.#leases.get(id) === leases) this.#leases.delete(id)
        held.release()
      },
    })
    return true
  }

  #leasesOf(id: string): Set<DirectLease> {
    let leases = this.#leases.get(id)
    if (!leases) this.#leases.set(id, (leases = new Set()))
    return leases
  }

  /** Take back the direct files of data file `id`, or of every one. */
  #stopLeases(id?: string): void {
    const sets = id === undefined ? [...this.#leases.values()] : [this.#leases.get(id) ?? new Set<DirectLease>()]
    // A lease stopped leaves its set: a Set goes on past what was deleted.
    for (const set of sets) for (const lease of set) lease.stop()
  }

  /** A consistent snapshot of the journal for an up-sync (no change half-done in it). */
  snapshot(): Promise<JournalSnapshot> {
    return this.pause(() => {
      // What was written directly is in the snapshot, and nothing is written to it after.
      this.#stopLeases()
      return this.journal.snapshot()
    })
  }

  async close(): Promise<void> {
    await this.data.close()
  }
}

function nodeEntry(node: Exclude<JournalNode, { kind: 'gone' }>): ViewEntry {
  switch (node.kind) {
    case 'file':
      // Bytes of this computer's: named by their data file (an up-sync then names them by chunks).
      return { type: 'file', mode: node.mode, size: node.size, mtimeMs: node.mtimeMs, version: `journal:${node.data}` }
    case 'vault-file':
      return { type: 'file', mode: node.mode, size: node.size, mtimeMs: node.mtimeMs, version: contentVersion(node.content) }
    case 'dir':
      return { type: 'dir', mode: node.mode, size: 4096, mtimeMs: node.mtimeMs }
    case 'symlink':
      return { type: 'symlink', mode: 0o777, size: Buffer.byteLength(node.target), mtimeMs: node.mtimeMs, target: node.target }
  }
}
