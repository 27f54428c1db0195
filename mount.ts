/**
 * `cloudy mount`: the vault as a folder. This file only turns a view of lib/mount/ into the
 * operations of a FUSE session (lib/mount/fuse3.ts, over Cloudy's libfuse 3 binding in
 * native/fuse3): the kernel names inodes, the views paths, and the inode table
 * (lib/mount/inodes.ts) goes between. Every answer comes from the view; the only state kept
 * here is which inodes and files the kernel holds (docs/MOUNT.md).
 */
import { FsError } from './lib/mount/fs-error.js'
import { mountSession, type Attr, type DirEntry, type LowLevelOps } from './lib/mount/fuse3.js'
import { Inodes, type Inode, type Seen } from './lib/mount/inodes.js'
import type { BoundLog } from './lib/mount/journal.js'
import { isWritable, type DirectFile, type MountView, type NewFiles, type ViewEntry } from './lib/mount/view.js'

export interface MountHandle {
  /**
   * Unmount. While a program has a file open there the mount is detached lazily instead (the
   * kernel ends it at the last close): 'detached'. 'gone': it was unmounted from outside.
   */
  unmount(): Promise<'done' | 'detached' | 'gone'>
  /** Resolves once the kernel no longer has this mount: unmounted here or from outside. */
  readonly gone: Promise<void>
  /**
   * The views may have changed without the kernel (another computer's change came in): what
   * the kernel caches of what changed is dropped (docs/MOUNT.md, "Caching").
   */
  revalidate(): Promise<void>
  /**
   * The views are about to change without the kernel (a sync job): until the returned function
   * is called, no folder's names are answered from those made through the kernel alone
   * (docs/MOUNT.md, "Names known here").
   */
  changing(): () => void
}

const S_IFMT = 0o170000
const S_IFDIR = 0o040000
const S_IFREG = 0o100000
const S_IFLNK = 0o120000
const O_ACCMODE = 3
const O_TRUNC = 0o1000
const RENAME_NOREPLACE = 1
const RENAME_EXCHANGE = 2

/**
 * Seconds the kernel keeps names, attributes (and, across opens, pages and listings) before
 * asking again. Long: what changes without the kernel is invalidated when it changes
 * (`revalidate`). What reflects the local disk (`volatile`) is kept a second only, and its
 * pages not across opens.
 */
const TTL = 3600
const VOLATILE_TTL = 1

const modeOf = (e: ViewEntry) => (e.type === 'dir' ? S_IFDIR : e.type === 'symlink' ? S_IFLNK : S_IFREG) | e.mode

/**
 * The answer for `node` in state `e`, noted as what the kernel was told. `dropOld` is called
 * when the kernel may hold pages (a listing) of an older state that changed without it: new
 * attributes alone do not make it drop them.
 */
function attrOf(node: Inode, e: ViewEntry, dropOld?: (node: Inode) => void): Attr {
  if (dropOld && node.seen && stale(node.seen, e)) dropOld(node)
  node.seen = seenOf(e)
  return { ino: node.ino, mode: modeOf(e), size: e.size, mtimeMs: e.mtimeMs, ttl: e.volatile ? VOLATILE_TTL : undefined }
}

/** What the kernel knows of an inode once told state `e` (nothing kept of a volatile one). */
function seenOf(e: ViewEntry): Seen | undefined {
  return e.volatile ? undefined : { mode: modeOf(e), size: e.size, mtimeMs: e.mtimeMs, version: e.version }
}

/** Whether the kernel's idea of an inode (`seen`) is out of date with the view's `e`. */
function stale(seen: Seen, e: ViewEntry): boolean {
  return seen.mode !== modeOf(e) || seen.size !== e.size || seen.mtimeMs !== e.mtimeMs || seen.version !== e.version
}

/**
 * New files kept given to the binding per journal, for the creations it answers itself
 * (docs/MOUNT.md, "Creations answered by the binding"); more are made once half are used.
 */
const NEW_FILES = 32

/** A journal's new files held by the binding: how many, whether more are being made, and its log there. */
interface Pool {
  files: NewFiles
  given: number
  stocking: boolean
  log?: BoundLog
}

/** The name a file deleted while open has until its last close (as libfuse's high-level API names it). */
const hiddenName = (node: Inode) => `.fuse_hidden${node.ino.toString(16).padStart(16, '0')}`

export function mountView(dir: string, view: MountView): Promise<MountHandle> {
  const w = isWritable(view) ? view : undefined
  const inodes = new Inodes()
  /** Open files and folders, by the number given to the kernel; `write`: opened for writing. */
  const files = new Map<number, { node: Inode; write: boolean }>()
  /** Open files whose reads and writes the binding answers itself (docs/MOUNT.md, "Direct I/O"). */
  const directs = new Map<number, { file: DirectFile; writable: boolean }>()
  const dirs = new Map<number, { node: Inode; entries?: DirEntry[]; nodes?: (Inode | undefined)[] }>()
  let nextFh = 1
  /** Files the binding made that are being handed over (`arm`), and whether it wrote them meanwhile. */
  const arming = new Map<number, { wrote: boolean; armed: Promise<void> }>()
  /** Journals whose new files the binding holds, by the token it knows them by; and the file given with each handle. */
  const journals = new Map<NewFiles, number>()
  const pools = new Map<number, Pool>()
  const given = new Map<number, { token: number; id: string }>()
  const tokenOf = (files: NewFiles) => {
    let token = journals.get(files)
    if (token === undefined) {
      const t = journals.size + 1
      journals.set(files, (token = t))
      const pool: Pool = { files, given: 0, stocking: false }
      pools.set(token, pool)
      files.bind((fd, seqs, durable) => (pool.log = session!.bindLog(t, fd, seqs, durable)))
    }
    void stock(token)
    return token
  }
  /** Give the binding new files for journal `token` until it holds NEW_FILES. */
  const stock = async (token: number) => {
    const pool = pools.get(token)!
    if (pool.stocking) return
    pool.stocking = true
    try {
      while (pool.given < NEW_FILES && session) {
        const { id, fd } = await pool.files.take()
        if (!session) break
        const fh = nextFh++
        given.set(fh, { token, id })
        session.giveNewFile(token, inodes.reserve(), fh, fd, id)
        pool.given++
      }
    } catch {
      // A disk that refuses new files (full, read-only) leaves creations to the view.
    } finally {
      pool.stocking = false
    }
  }

  const writable = () => {
    if (!w) throw new FsError('EROFS')
    return w
  }
  const nodeOf = (ino: number) => {
    const n = inodes.get(ino)
    if (!n) throw new FsError('ESTALE')
    return n
  }
  const pathOf = (n: Inode) => {
    const p = inodes.pathOf(n)
    if (p === undefined) throw new FsError('ENOENT')
    return p
  }
  const pathIn = (parent: number, name: string) => {
    const p = inodes.pathIn(nodeOf(parent), name)
    if (p === undefined) throw new FsError('ENOENT')
    return p
  }
  const statOf = async (path: string) => {
    const e = await view.stat(path)
    if (!e) throw new FsError('ENOENT')
    return e
  }
  /**
   * A change came in between two looks at the inode (`revalidate` runs after each sync job, a
   * lookup or listing may come first): the kernel drops the pages of the old state.
   */
  const dropPages = (n: Inode) => session?.invalidateInode(n.ino)
  /** The answer naming `name` in `parent` after a change made through the kernel: it holds one more reference to its inode. */
  const entry = async (parent: number, name: string): Promise<Attr> => {
    const e = await statOf(pathIn(parent, name))
    const n = inodes.child(nodeOf(parent), name)
    inodes.hold(n)
    return attrOf(n, e)
  }
  /**
   * A file written to is made durable against a machine crash by fsync, as on a local disk
   * (docs/MOUNT.md, "Durability"); against a crash of the mount it is as soon as a write returns.
   */
  const durable = async (n: Inode) => {
    if (!n.dirty || !w) return
    n.dirty = false
    try {
      await w.sync(pathOf(n))
    } catch (e) {
      // Tried again by the next fsync.
      n.dirty = true
      throw e
    }
  }
  /** After a change through the kernel: what it knows of `n` now (its own writes are no news to it). */
  const note = async (n: Inode, path: string) => {
    const e = await view.stat(path)
    if (e && !e.volatile) n.seen = seenOf(e)
  }
  const open = (n: Inode, write: boolean, fh = nextFh++) => {
    n.opens++
    files.set(fh, { node: n, write })
    return fh
  }
  /**
   * Hand open file `fh` to the binding if the view has it as a data file: its reads, writes
   * and (while the journal is durable) fsyncs no longer come here. Done before the open is
   * answered, so no request of the file races it.
   */
  const arm = async (fh: number, path: string) => {
    if (!w?.direct || directs.has(fh)) return
    try {
      await w.direct(path, {
        start: (file) => {
          const f = files.get(fh)
          if (!f || !session) {
            // A file the binding made, written and closed before it could be handed over here.
            if (arming.get(fh)?.wrote) file.wrote()
            return file.close()
          }
          const writable = f.write && file.writable
          directs.set(fh, { file, writable })
          try {
            // Written before it was handed over here (a file the binding made): noted now.
            if (session.setDirect(fh, { fd: file.fd, writable, durable: file.durable })) wroteTo(fh, file)
          } catch (e) {
            directs.delete(fh)
            file.close()
            throw e
          }
        },
        stop: () => disarm(fh, true),
      })
    } catch (e) {
      // Best effort: the file is then read and written through the view.
      process.stderr.write(`cloudy mount: ${path} is served without direct I/O: ${(e as Error).message}\n`)
    }
  }
  /**
   * Take open file `fh` back from the binding; what it wrote there is noted. `stopped`: the view
   * takes it back at a time of its own (an up-sync's snapshot): a note of its writes may still be
   * on its way to this thread, so they are taken as written.
   */
  const disarm = (fh: number, stopped = false) => {
    const d = directs.get(fh)
    if (!d) return
    directs.delete(fh)
    if (session?.setDirect(fh) || (stopped && d.writable)) wroteTo(fh, d.file)
    d.file.close()
  }
  /** Direct writes went to `file` through open file `fh`. */
  const wroteTo = (fh: number, file: DirectFile) => {
    file.wrote()
    const n = files.get(fh)?.node
    if (!n) return
    n.dirty = true
    // Its own writes are no news to the kernel: nothing to drop until `note` has the new state.
    n.seen = undefined
    const path = inodes.pathOf(n)
    if (path !== undefined) void note(n, path).catch(() => {})
  }

  const ops: LowLevelOps = {
    lookup: async (parent, name) => {
      const path = pathIn(parent, name)
      const e = await view.stat(path)
      if (!e) return undefined
      const n = inodes.child(nodeOf(parent), name)
      inodes.hold(n)
      return attrOf(n, e, dropPages)
    },
    forget: (ino, count) => inodes.forget(ino, count),
    getattr: async (ino) => {
      const n = nodeOf(ino)
      return attrOf(n, await statOf(pathOf(n)), dropPages)
    },
    setattr: async (ino, set) => {
      const n = nodeOf(ino)
      const path = pathOf(n)
      if (set.mode !== undefined) await writable().chmod(path, set.mode & 0o7777)
      if (set.size !== undefined) {
        await writable().truncate(path, set.size, !set.viaFile)
        n.dirty = true
      }
      if (set.mtimeMs !== undefined) await writable().utimens(path, set.mtimeMs)
      return attrOf(n, await statOf(path))
    },
    readlink: async (ino) => {
      const e = await statOf(pathOf(nodeOf(ino)))
      if (e.type !== 'symlink') throw new FsError('EINVAL')
      return e.target!
    },
    mknod: async (parent, name, mode) => {
      if ((mode & S_IFMT) !== S_IFREG) throw new FsError(w ? 'EPERM' : 'EROFS')
      await writable().create(pathIn(parent, name), mode)
      return entry(parent, name)
    },
    mkdir: async (parent, name, mode) => {
      const path = pathIn(parent, name)
      const since = changesBegun
      await writable().mkdir(path, mode)
      const attr = await entry(parent, name)
      // Made here, and empty: a name the kernel did not make in it since is surely not there.
      // Unless a change behind the kernel began meanwhile (it may have put one there).
      const names = await view.list(path)
      // Creations in it may be answered by the binding (docs/MOUNT.md, "Creations answered by the binding").
      const made = await w?.newFiles?.(path)
      if (changes === 0 && changesBegun === since && names?.length === 0)
        session?.knowEmpty(attr.ino, made ? { token: tokenOf(made.files), rel: made.rel } : undefined)
      return attr
    },
    symlink: async (target, parent, name) => {
      await writable().symlink(target, pathIn(parent, name))
      return entry(parent, name)
    },
    link: () => Promise.reject(new FsError(w ? 'EPERM' : 'EROFS')),
    unlink: async (parent, name) => {
      const p = nodeOf(parent)
      const path = pathIn(parent, name)
      const n = inodes.peek(p, name)
      // Deleted while open: what has it open reads and writes on until its last close.
      if (n?.opens) return hide(p, name, n)
      await writable().unlink(path)
      inodes.detach(p, name)
    },
    rmdir: async (parent, name) => {
      await writable().rmdir(pathIn(parent, name))
      inodes.detach(nodeOf(parent), name)
    },
    rename: async (parent, name, newParent, newName, flags) => {
      if (flags & RENAME_EXCHANGE) throw new FsError('EINVAL')
      const from = pathIn(parent, name)
      const to = pathIn(newParent, newName)
      const target = await view.stat(to)
      if (target && flags & RENAME_NOREPLACE) throw new FsError('EEXIST')
      const np = nodeOf(newParent)
      const replaced = inodes.peek(np, newName)
      if (replaced?.opens && target?.type === 'file' && from !== to) await hide(np, newName, replaced)
      await writable().rename(from, to)
      inodes.move(nodeOf(parent), name, np, newName)
    },
    open: async (ino, flags) => {
      const n = nodeOf(ino)
      const path = pathOf(n)
      const e = await statOf(path)
      if ((flags & O_ACCMODE) !== 0 && !writable().canWrite(path)) throw new FsError('EROFS')
      // The kernel leaves O_TRUNC to the open (libfuse asks for atomic_o_trunc): one request less.
      if (flags & O_TRUNC) {
        await writable().truncate(path, 0, false)
        n.dirty = true
        await note(n, path)
      }
      const fh = open(n, (flags & O_ACCMODE) !== 0)
      await arm(fh, path)
      return { fh, keepCache: !e.volatile, noFlush: true }
    },
    create: async (parent, name, mode) => {
      await writable().create(pathIn(parent, name), mode)
      const attr = await entry(parent, name)
      const n = nodeOf(attr.ino)
      // A new file, even empty, is made durable by its fsync.
      n.dirty = true
      const fh = open(n, true)
      await arm(fh, pathOf(n))
      return { attr, fh, keepCache: true, noFlush: true }
    },
    read: async (ino, _fh, size, offset) => view.read(pathOf(nodeOf(ino)), offset, size),
    write: async (ino, fh, bytes, offset) => {
      // A file the binding made, still being handed over: handed over first, then taken back below.
      await arming.get(fh)?.armed
      const n = nodeOf(ino)
      const path = pathOf(n)
      const written = await writable().write(path, bytes, offset)
      n.dirty = true
      await note(n, path)
      // Written here: a file still the vault's is a data file now, one an up-sync read a new one.
      disarm(fh)
      await arm(fh, path)
      return written
    },
    created: (parent, name, path, mode, ino, fh, mtimeMs, seq) => {
      const g = given.get(fh)
      given.delete(fh)
      const pool = g && pools.get(g.token)
      if (!g || !pool) throw new Error(`the binding made ${name} with a file it was not given (handle ${fh})`)
      pool.given--
      if (pool.given <= NEW_FILES / 2) void stock(g.token)
      // In the journal's map first: whatever comes next about it finds it there. Taken back
      // from the binding (a snapshot) before its lease starts: its writes go through the view.
      pool.files.taken(path, mode, g.id, mtimeMs, seq, () => {
        const a = arming.get(fh)
        if (session?.setDirect(fh) && a) a.wrote = true
      })
      const p = nodeOf(parent)
      // A node left of an earlier file of that name: this one is another.
      const old = inodes.peek(p, name)
      if (old && old.ino !== ino) inodes.detach(p, name)
      const n = inodes.child(p, name, ino)
      inodes.hold(n)
      n.seen = seenOf({ type: 'file', mode, size: 0, mtimeMs, version: `journal:${g.id}` })
      // A new file, even empty, is made durable by its fsync.
      n.dirty = true
      open(n, true, fh)
      // Its lease (an up-sync takes direct files back) and the journal's durability flag. A note
      // of its writes that comes first is kept for then (`wrote`).
      const a = { wrote: false, armed: Promise.resolve() }
      arming.set(fh, a)
      a.armed = arm(fh, pathOf(n)).finally(() => {
        const wrote = arming.get(fh)?.wrote
        arming.delete(fh)
        const d = directs.get(fh)
        if (wrote && d) wroteTo(fh, d.file)
      })
    },
    wrote: (fh) => {
      const a = arming.get(fh)
      if (a) a.wrote = true
      const d = directs.get(fh)
      if (d) wroteTo(fh, d.file)
    },
    // Nothing to do at close: what was written is in the journal already (opens ask the kernel
    // not to send FLUSH at all).
    flush: async () => {},
    release: async (ino, fh) => {
      disarm(fh)
      const n = files.get(fh)?.node ?? nodeOf(ino)
      files.delete(fh)
      n.opens--
      if (n.opens === 0 && n.hidden && n.parent) {
        const path = inodes.pathOf(n)
        if (path !== undefined) await w?.unlink(path).catch(() => {})
        inodes.detach(n.parent, n.name)
      }
      inodes.release(n)
    },
    fsync: async (ino) => durable(nodeOf(ino)),
    opendir: async (ino) => {
      const n = nodeOf(ino)
      const e = await statOf(pathOf(n))
      const fh = nextFh++
      dirs.set(fh, { node: n })
      return { fh, keepCache: !e.volatile }
    },
    readdir: async (ino, fh, offset, plus) => {
      const d = dirs.get(fh) ?? { node: nodeOf(ino) }
      if (!d.entries || offset === 0) await list(d)
      const entries = d.entries!.slice(offset)
      const nodes = d.nodes!.slice(offset)
      return {
        entries,
        added: (count) => {
          // Each entry of a READDIRPLUS answer but . and .. is a reference the kernel holds;
          // the others are let go when the folder is closed.
          if (plus) for (const n of nodes.slice(0, count)) if (n) inodes.hold(n)
        },
      }
    },
    releasedir: async (_ino, fh) => {
      for (const n of dirs.get(fh)?.nodes ?? []) if (n) inodes.release(n)
      dirs.delete(fh)
    },
    fsyncdir: async () => w?.sync(),
  }

  /** Rename the file at `name` in `parent` to a hidden name, for its open files; deleted at their last close. */
  async function hide(parent: Inode, name: string, n: Inode): Promise<void> {
    const hidden = hiddenName(n)
    // A name made here, not through the kernel: the binding no longer knows all of the folder's.
    session?.forgetKnown(parent.ino)
    await writable().rename(pathIn(parent.ino, name), pathIn(parent.ino, hidden))
    inodes.move(parent, name, parent, hidden)
    n.hidden = true
  }

  /** The folder's listing with each entry's attributes, taken once per pass from its start. */
  async function list(d: { node: Inode; entries?: DirEntry[]; nodes?: (Inode | undefined)[] }): Promise<void> {
    const path = pathOf(d.node)
    for (const n of d.nodes ?? []) if (n) inodes.release(n)
    const names = await view.list(path)
    if (!names) throw new FsError((await view.stat(path)) ? 'ENOTDIR' : 'ENOENT')
    const self = await statOf(path)
    const up = d.node.parent ?? d.node
    const entries: DirEntry[] = [
      { name: '.', attr: attrOf(d.node, self, dropPages) },
      { name: '..', attr: { ino: up.ino, mode: S_IFDIR | 0o755, size: 4096, mtimeMs: self.mtimeMs } },
    ]
    const nodes: (Inode | undefined)[] = [undefined, undefined]
    const stats = await Promise.all(names.map((name) => view.stat(path === '' ? name : `${path}/${name}`)))
    names.forEach((name, i) => {
      const e = stats[i]
      // Gone between the listing and its attributes: left out.
      if (!e) return
      const n = inodes.child(d.node, name)
      entries.push({ name, attr: attrOf(n, e, dropPages) })
      nodes.push(n)
    })
    d.entries = entries
    d.nodes = nodes
  }

  let session: ReturnType<typeof mountSession> | undefined
  /** Changes of the views under way without the kernel (see `changing`), and how many began so far. */
  let changes = 0
  let changesBegun = 0
  let sweeping: Promise<void> | undefined
  /** Drop what the kernel caches of every inode whose state moved without it. */
  async function sweep(): Promise<void> {
    for (const n of inodes.all()) {
      if (!n.seen || !n.parent || !session) continue
      const path = inodes.pathOf(n)
      if (path === undefined) continue
      const e = await view.stat(path).catch(() => undefined)
      if (!n.parent || !n.seen) continue
      if (!e || modeOf(e) >> 12 !== n.seen.mode >> 12) {
        // Gone, or another kind of thing (an inode's type never changes): the kernel forgets the
        // name, and a lookup makes a new inode.
        session.invalidateEntry(n.parent.ino, n.name)
        session.invalidateInode(n.ino)
        inodes.detach(n.parent, n.name)
      } else if (stale(n.seen, e)) {
        n.seen = seenOf(e)
        session.invalidateInode(n.ino)
      }
    }
  }
  const revalidate = async () => {
    // One sweep at a time; one asked during it runs after it (it may have missed the change).
    while (sweeping) await sweeping
    sweeping = sweep().finally(() => (sweeping = undefined))
    return sweeping
  }

  try {
    session = mountSession(dir, ops, {
      entryTtl: TTL,
      attrTtl: TTL,
      negativeTtl: 0,
      onError: (e) => process.stderr.write(`cloudy mount: ${(e as Error)?.message ?? String(e)}\n`),
    })
    const s = session
    const changing = () => {
      changes++
      changesBegun++
      s.forgetKnown()
      // No creation is recorded by the binding while the journals change without the kernel.
      for (const pool of pools.values()) pool.log?.busy(1)
      let done = false
      return () => {
        if (!done) {
          changes--
          for (const pool of pools.values()) pool.log?.busy(-1)
        }
        done = true
      }
    }
    return Promise.resolve({ gone: s.ended, unmount: () => s.unmount(), revalidate, changing })
  } catch (e) {
    return Promise.reject(e as Error)
  }
}
