/**
 * The JavaScript face of native/fuse3 (Cloudy's own binding to libfuse 3's low-level API,
 * docs/MOUNT.md): a mount whose requests are answered by an object of typed, promise-returning
 * operations on inode numbers. This module knows nothing of paths or views: it moves requests
 * in, answers out, turns refusals into errnos, and lets no answer reach a session that ended.
 */
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { constants } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { CloudyError, EXIT } from '../errors.js'
import type { BoundLog } from './journal.js'
import { FsError } from './fs-error.js'

const run = promisify(execFile)

/** What the kernel is told about an inode. Times are milliseconds since the epoch. */
export interface Attr {
  ino: number
  /** Type and permission bits, as in stat(2). */
  mode: number
  size: number
  mtimeMs: number
  /** Seconds the kernel may keep this answer (and the name that led to it); else the session's. */
  ttl?: number
}

/** What setattr asks to change; fields left out stay as they are. */
export interface SetAttr {
  mode?: number
  size?: number
  mtimeMs?: number
  /** Through an open file (ftruncate, futimens) rather than by path. */
  viaFile: boolean
}

export interface DirEntry {
  name: string
  attr: Attr
}

/** How an open file or folder is kept by the kernel. */
export interface Opened {
  fh: number
  /** The kernel keeps the file's cached pages (a folder's listing) from earlier opens. */
  keepCache?: boolean
  /** close(2) sends no FLUSH (nothing is done at close): one round trip less per file. */
  noFlush?: boolean
}

/** An open file's flags for the binding's replyOpen and replyCreate. */
const openFlags = (f: Opened) => (f.keepCache ? 1 : 0) | (f.noFlush ? 8 : 0)

/**
 * The file system's operations. Each may throw (or reject with) an FsError; anything else is
 * answered EIO and said on stderr. `lookup` returns undefined for a name that does not exist.
 */
export interface LowLevelOps {
  lookup(parent: number, name: string): Promise<Attr | undefined>
  forget(ino: number, count: number): void
  getattr(ino: number): Promise<Attr>
  setattr(ino: number, set: SetAttr): Promise<Attr>
  readlink(ino: number): Promise<string>
  /** A file made by mknod(2): only regular files are. */
  mknod(parent: number, name: string, mode: number): Promise<Attr>
  mkdir(parent: number, name: string, mode: number): Promise<Attr>
  unlink(parent: number, name: string): Promise<void>
  rmdir(parent: number, name: string): Promise<void>
  symlink(target: string, parent: number, name: string): Promise<Attr>
  /** `flags`: RENAME_NOREPLACE (1), RENAME_EXCHANGE (2). */
  rename(parent: number, name: string, newParent: number, newName: string, flags: number): Promise<void>
  link(ino: number, newParent: number, newName: string): Promise<Attr>
  open(ino: number, flags: number): Promise<Opened>
  create(parent: number, name: string, mode: number, flags: number): Promise<{ attr: Attr } & Opened>
  read(ino: number, fh: number, size: number, offset: number): Promise<Buffer>
  write(ino: number, fh: number, bytes: Buffer, offset: number): Promise<number>
  flush(ino: number, fh: number): Promise<void>
  /** The file's last close. For a file handed over (`setDirect`) the binding has answered already. */
  release(ino: number, fh: number): Promise<void>
  fsync(ino: number, fh: number, datasync: boolean): Promise<void>
  opendir(ino: number): Promise<Opened>
  /**
   * The folder's entries from `offset` (0 is the start; entry i is at offset i + 1). `added` is
   * told how many of them the kernel took (a reply has a size limit).
   */
  readdir(ino: number, fh: number, offset: number, plus: boolean): Promise<{ entries: DirEntry[]; added?: (count: number) => void }>
  releasedir(ino: number, fh: number): Promise<void>
  fsyncdir(ino: number): Promise<void>
  /** Open file `fh`, handed over with `FuseSession.setDirect`, was written (since the last call). */
  wrote(fh: number): void
  /**
   * The binding answered the creation of `name` in folder `parent` itself (docs/MOUNT.md,
   * "Creations answered by the binding"): it recorded `path` in the log of the journal it was
   * given new files for, as sequence number `seq`, with the new file given with handle `fh`, and
   * told the kernel inode `ino`, size 0, `mode` and `mtimeMs`. Called before any request that
   * came after the creation: the journal's map, the inode table and the open files take it in.
   */
  created?(parent: number, name: string, path: string, mode: number, ino: number, fh: number, mtimeMs: number, seq: number): void
}

/** A journal's data file that the binding reads and writes itself for one open file (docs/MOUNT.md, "Direct I/O"). */
export interface DirectIo {
  fd: number
  /** Writes too (else reads only). */
  writable: boolean
  /** Holds 1 while every record of the file's journal is durable: an fsync is then the data file's alone. */
  durable: Int32Array
}

export interface SessionOptions {
  /** Seconds the kernel may keep a name's answer and an inode's attributes, unless an answer says. */
  entryTtl: number
  attrTtl: number
  /** Seconds a "no such name" is kept; 0: not kept. */
  negativeTtl: number
  /** The largest write the kernel sends, in bytes (it may lower it). */
  maxWrite?: number
  /** Told of each failure that is not a refusal (an FsError): it is answered EIO. */
  onError: (e: unknown) => void
}

interface Binding {
  mount(dir: string, options: string, maxWrite: number, handler: (...args: unknown[]) => void, entryTtl: number, attrTtl: number): object
  replyErr(req: number, errno: number): void
  replyEntry(req: number, ino: number, mode: number, size: number, mtimeMs: number, entryTtl: number, attrTtl: number): void
  replyCreate(
    req: number,
    ino: number,
    mode: number,
    size: number,
    mtimeMs: number,
    entryTtl: number,
    attrTtl: number,
    fh: number,
    flags: number,
  ): void
  replyAttr(req: number, ino: number, mode: number, size: number, mtimeMs: number, attrTtl: number): void
  replyReadlink(req: number, target: string): void
  replyOpen(req: number, fh: number, flags: number): void
  replyBuf(req: number, bytes: Buffer, length?: number): void
  replyWrite(req: number, count: number): void
  replyDir(req: number, size: number, plus: boolean, names: string[], meta: Float64Array): number
  invalInode(handle: object, ino: number): void
  invalEntry(handle: object, parent: number, name: string): void
  setDirect(handle: object, fh: number, fd: number, writable: boolean, durable?: Int32Array): boolean
  knowEmpty(handle: object, ino: number, token?: number, rel?: string): void
  forgetKnown(handle: object, ino?: number): void
  attachLog(handle: object, token: number, fd: number, seq: Int32Array, durable: Int32Array): void
  appendLog(handle: object, token: number, line: Buffer, seq: number): void
  logDurable(handle: object, token: number, upTo: number): void
  logBusy(handle: object, token: number, delta: number): void
  truncateLog(handle: object, token: number, taken: number): boolean
  detachLog(handle: object, token: number): void
  giveNewFile(handle: object, token: number, ino: number, fh: number, fd: number, id: string): void
  unbusy(handle: object): void
}

const OP = {
  LOOKUP: 1,
  FORGET: 2,
  GETATTR: 3,
  SETATTR: 4,
  READLINK: 5,
  MKNOD: 6,
  MKDIR: 7,
  UNLINK: 8,
  RMDIR: 9,
  SYMLINK: 10,
  RENAME: 11,
  LINK: 12,
  OPEN: 13,
  READ: 14,
  WRITE: 15,
  FLUSH: 16,
  RELEASE: 17,
  FSYNC: 18,
  OPENDIR: 19,
  READDIR: 20,
  RELEASEDIR: 21,
  FSYNCDIR: 22,
  CREATE: 23,
  NOTES: 24,
  CREATED: 25,
  END: 99,
} as const

const NOTE_WROTE = 1
const NOTE_RELEASED = 2

const SET_MODE = 1 << 0
const SET_SIZE = 1 << 3
const SET_MTIME = 1 << 5
const SET_MTIME_NOW = 1 << 8
const VIA_FILE = 1 << 30

/** Where the built binding is: in dist/native (what the build copies), else in the checkout. */
function bindingPath(): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (;;) {
    const candidate = ['native/cloudy_fuse.node', 'native/fuse3/build/Release/cloudy_fuse.node']
      .map((f) => join(dir, f))
      .find((f) => existsSync(f))
    if (candidate) return candidate
    const up = dirname(dir)
    if (up === dir) break
    dir = up
  }
  throw new CloudyError(
    'ENOFUSE',
    EXIT.FAILED,
    'the mount is not built (native/fuse3, the libfuse 3 binding): install libfuse3-dev (apt-get install libfuse3-dev), then run `npm run build`',
  )
}

let loaded: Binding | undefined
function binding(): Binding {
  return (loaded ??= createRequire(import.meta.url)(bindingPath()) as Binding)
}

const ERRNO = constants.errno as Record<string, number>

/**
 * The errno for a failure: the operation's own refusal; the system's error where the journal's
 * disk said one (a full disk is ENOSPC to the writing program, as on a local disk), reported
 * too; else EIO, reported.
 */
function errnoOf(e: unknown, report: (e: unknown) => void): number {
  if (e instanceof FsError) return ERRNO[e.errno] ?? ERRNO.EIO!
  report(e)
  const code = (e as NodeJS.ErrnoException | undefined)?.code
  const system = typeof (e as NodeJS.ErrnoException | undefined)?.errno === 'number' && code ? ERRNO[code] : undefined
  return system ?? ERRNO.EIO!
}

export interface FuseSession {
  /** Resolves when the kernel has ended the connection (an unmount from here or outside). */
  readonly ended: Promise<void>
  /** Drop the kernel's cached attributes and pages of `ino`. */
  invalidateInode(ino: number): void
  /** Drop the kernel's cached answer for `name` in folder `parent` (a name, or "no such name"). */
  invalidateEntry(parent: number, name: string): void
  /**
   * Let the binding answer open file `fh`'s reads and writes (and fsyncs while `durable`) on
   * `io` itself, or (without `io`) stop it: no direct write happens after this returns. True if
   * the file was written directly since `wrote` was last called for it.
   */
  setDirect(fh: number, io?: DirectIo): boolean
  /**
   * Folder `ino`, just made and empty, holds only the names made in it through the kernel from
   * now on: the binding answers a lookup of any other name there itself, "no such name"
   * (docs/MOUNT.md, "Names known here").
   */
  knowEmpty(ino: number, journal?: { token: number; rel: string }): void
  /**
   * Journal `token`'s log is appended to by the binding from now on (`fd` its descriptor, `seq`
   * its shared sequence counter, `durable` its flag), so creations may be answered there.
   */
  bindLog(token: number, fd: number, seq: Int32Array, durable: Int32Array): BoundLog
  /** A new file of journal `token` for a creation answered by the binding: inode number, handle, data file. */
  giveNewFile(token: number, ino: number, fh: number, fd: number, id: string): void
  /** Folder `ino` (without it: every folder) may hold names the binding has not seen made. */
  forgetKnown(ino?: number): void
  /** Unmount: 'detached' when a program still had a file open there (the kernel ends it at the last close). */
  unmount(): Promise<'done' | 'detached' | 'gone'>
}

/** Mount `dir` (an existing folder) and answer its requests with `ops`. */
export function mountSession(dir: string, ops: LowLevelOps, o: SessionOptions): FuseSession {
  const b = binding()
  let over = false
  let ended = () => {}
  const endedP = new Promise<void>((resolve) => (ended = resolve))
  const fail = (req: number, e: unknown) => {
    if (!over) b.replyErr(req, errnoOf(e, o.onError))
  }
  /** The request being dispatched was counted by the binding as one that may change a journal. */
  let busyNow = false
  const unbusy = () => {
    if (!over) b.unbusy(handle)
  }
  /** Run `work` and answer with `done`, unless the session ended meanwhile. */
  const answer = <T>(req: number, work: () => Promise<T>, done: (v: T) => void) => {
    const busy = busyNow
    busyNow = false
    let p: Promise<T>
    try {
      p = work()
    } catch (e) {
      fail(req, e)
      if (busy) unbusy()
      return
    }
    p.then(
      (v) => {
        if (!over) done(v)
      },
      (e: unknown) => fail(req, e),
    ).finally(() => {
      if (busy) unbusy()
    })
  }
  const entry = (req: number, a: Attr) => b.replyEntry(req, a.ino, a.mode, a.size, a.mtimeMs, a.ttl ?? o.entryTtl, a.ttl ?? o.attrTtl)
  const attr = (req: number, a: Attr) => b.replyAttr(req, a.ino, a.mode, a.size, a.mtimeMs, a.ttl ?? o.attrTtl)
  const ok = (req: number) => () => b.replyErr(req, 0)

  /** Notes of direct files, triples (kind, fh, ino): written, or closed (answered by the binding). */
  const heed = (notes: Float64Array) => {
    for (let i = 0; i < notes.length; i += 3) {
      const fh = notes[i + 1]!
      try {
        if (notes[i] === NOTE_WROTE) ops.wrote(fh)
        else if (notes[i] === NOTE_RELEASED) ops.release(notes[i + 2]!, fh).catch(o.onError)
      } catch (e) {
        o.onError(e)
      }
    }
  }
  const handler = (
    op: number,
    req: number,
    ino: number,
    n1: number,
    n2: number,
    n3: number,
    n4: number,
    s1?: string,
    s2?: string | Buffer,
    notes?: Float64Array,
    n5?: number,
    busy?: boolean,
  ) => {
    // What direct files did before this request came (docs/MOUNT.md, "Direct I/O"): first.
    if (notes && !over) heed(notes)
    busyNow = busy === true
    try {
      switch (op) {
        case OP.LOOKUP:
          return answer(
            req,
            () => ops.lookup(ino, s1!),
            (a) => {
              if (a) entry(req, a)
              else if (o.negativeTtl > 0) b.replyEntry(req, 0, 0, 0, 0, o.negativeTtl, 0)
              else b.replyErr(req, ERRNO.ENOENT!)
            },
          )
        case OP.CREATED:
          try {
            if (!ops.created) throw new Error('a creation was answered by the binding, and nothing takes it in')
            ops.created(ino, s1!, s2 as string, n1, n2, n3, n4, n5 ?? 0)
          } catch (e) {
            o.onError(e)
          }
          return
        case OP.FORGET:
          return ops.forget(ino, n1)
        case OP.GETATTR:
          return answer(
            req,
            () => ops.getattr(ino),
            (a) => attr(req, a),
          )
        case OP.SETATTR: {
          const set: SetAttr = { viaFile: (n1 & VIA_FILE) !== 0 }
          if (n1 & SET_MODE) set.mode = n2
          if (n1 & SET_SIZE) set.size = n3
          if (n1 & (SET_MTIME | SET_MTIME_NOW)) set.mtimeMs = n4
          return answer(
            req,
            () => ops.setattr(ino, set),
            (a) => attr(req, a),
          )
        }
        case OP.READLINK:
          return answer(
            req,
            () => ops.readlink(ino),
            (t) => b.replyReadlink(req, t),
          )
        case OP.MKNOD:
          return answer(
            req,
            () => ops.mknod(ino, s1!, n1),
            (a) => entry(req, a),
          )
        case OP.MKDIR:
          return answer(
            req,
            () => ops.mkdir(ino, s1!, n1),
            (a) => entry(req, a),
          )
        case OP.UNLINK:
          return answer(req, () => ops.unlink(ino, s1!), ok(req))
        case OP.RMDIR:
          return answer(req, () => ops.rmdir(ino, s1!), ok(req))
        case OP.SYMLINK:
          return answer(
            req,
            () => ops.symlink(s2 as string, ino, s1!),
            (a) => entry(req, a),
          )
        case OP.RENAME:
          // s1 is the new name, s2 the old one (the binding checks names in that order).
          return answer(req, () => ops.rename(ino, s2 as string, n1, s1!, n2), ok(req))
        case OP.LINK:
          return answer(
            req,
            () => ops.link(ino, n1, s1!),
            (a) => entry(req, a),
          )
        case OP.OPEN:
          return answer(
            req,
            () => ops.open(ino, n1),
            (f) => b.replyOpen(req, f.fh, openFlags(f)),
          )
        case OP.CREATE:
          return answer(
            req,
            () => ops.create(ino, s1!, n1, n2),
            (c) =>
              b.replyCreate(
                req,
                c.attr.ino,
                c.attr.mode,
                c.attr.size,
                c.attr.mtimeMs,
                c.attr.ttl ?? o.entryTtl,
                c.attr.ttl ?? o.attrTtl,
                c.fh,
                openFlags(c),
              ),
          )
        case OP.READ:
          return answer(
            req,
            () => ops.read(ino, n3, n1, n2),
            (bytes) => b.replyBuf(req, bytes, n1),
          )
        case OP.WRITE:
          return answer(
            req,
            () => ops.write(ino, n3, s2 as Buffer, n1),
            (n) => b.replyWrite(req, n),
          )
        case OP.FLUSH:
          return answer(req, () => ops.flush(ino, n3), ok(req))
        case OP.RELEASE:
          return answer(req, () => ops.release(ino, n3), ok(req))
        case OP.FSYNC:
          return answer(req, () => ops.fsync(ino, n3, n1 !== 0), ok(req))
        case OP.OPENDIR:
          return answer(
            req,
            () => ops.opendir(ino),
            (d) => b.replyOpen(req, d.fh, d.keepCache ? 4 : 0),
          )
        case OP.READDIR:
          return answer(
            req,
            () => ops.readdir(ino, n3, n2, n4 === 1),
            ({ entries, added }) => {
              const meta = new Float64Array(entries.length * 6)
              entries.forEach((e, i) => {
                meta.set([e.attr.ino, e.attr.mode, e.attr.size, e.attr.mtimeMs, n2 + i + 1, e.attr.ttl ?? o.entryTtl], i * 6)
              })
              const count = b.replyDir(
                req,
                n1,
                n4 === 1,
                entries.map((e) => e.name),
                meta,
              )
              added?.(count)
            },
          )
        case OP.RELEASEDIR:
          return answer(req, () => ops.releasedir(ino, n3), ok(req))
        case OP.FSYNCDIR:
          return answer(req, () => ops.fsyncdir(ino), ok(req))
        case OP.NOTES:
          return
        case OP.END:
          over = true
          ended()
          return
        default:
          b.replyErr(req, ERRNO.ENOSYS!)
      }
    } finally {
      // Answered without `answer` (or not at all): done with at once.
      if (busyNow) {
        busyNow = false
        unbusy()
      }
    }
  }
  const options = 'fsname=cloudy,subtype=cloudy'
  let handle: object
  try {
    handle = b.mount(dir, options, o.maxWrite ?? 1024 * 1024, handler as (...args: unknown[]) => void, o.entryTtl, o.attrTtl)
  } catch (e) {
    throw new CloudyError(
      'EMOUNT',
      EXIT.FAILED,
      `could not mount ${dir}: ${(e as Error).message} (is /dev/fuse there, and fuse3 installed?)`,
    )
  }
  return {
    ended: endedP,
    invalidateInode: (ino) => {
      if (!over) b.invalInode(handle, ino)
    },
    invalidateEntry: (parent, name) => {
      if (!over) b.invalEntry(handle, parent, name)
    },
    setDirect: (fh, io) => (over ? false : b.setDirect(handle, fh, io?.fd ?? -1, io?.writable ?? false, io?.durable)),
    knowEmpty: (ino, journal) => {
      if (!over) b.knowEmpty(handle, ino, journal?.token, journal?.rel)
    },
    bindLog: (token, fd, seq, durable) => {
      b.attachLog(handle, token, fd, seq, durable)
      return {
        append: (line, n) => {
          if (over) return false
          b.appendLog(handle, token, line, n)
          return true
        },
        durable: (upTo) => {
          if (over) return false
          b.logDurable(handle, token, upTo)
          return true
        },
        truncate: (taken) => (over ? undefined : b.truncateLog(handle, token, taken)),
        busy: (delta) => {
          if (!over) b.logBusy(handle, token, delta)
        },
        detach: () => {
          if (!over) b.detachLog(handle, token)
        },
      }
    },
    giveNewFile: (token, ino, fh, fd, id) => {
      if (!over) b.giveNewFile(handle, token, ino, fh, fd, id)
    },
    forgetKnown: (ino) => {
      if (!over) b.forgetKnown(handle, ino)
    },
    unmount: async () => {
      if (over) return 'gone'
      try {
        await unmountDir(dir)
      } catch {
        if (over) return 'gone'
        // Still mounted when a program holds a file open there: detached lazily.
        await run('fusermount3', ['-uz', dir]).catch(() => run('umount', ['-l', dir]).catch(() => {}))
        return 'detached'
      }
      await endedP
      return 'done'
    },
  }
}

async function unmountDir(dir: string): Promise<void> {
  try {
    await run('fusermount3', ['-u', dir])
  } catch (e) {
    // Without fusermount3 (or its setuid bit), root unmounts directly.
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e
    await run('umount', [dir])
  }
}
