/**
 * `cloudy mount`: the vault as a folder. This file only turns a view of lib/mount/ into a
 * fuse-native operations table: every answer comes from the view; no logic of its own beyond
 * numbering open files and remembering which were written (their close makes them durable).
 */
import Fuse, { type Stat } from 'fuse-native'
import { execFile } from 'node:child_process'
import { realpath } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { dirname } from 'node:path'
import { getgid, getuid } from 'node:process'
import { promisify } from 'node:util'
import { FsError } from './lib/mount/journaled-view.js'
import { fuseMountIdsAt, isMountId } from './lib/mount/mountinfo.js'
import { isWritable, type MountView, type ViewEntry } from './lib/mount/view.js'

export interface MountHandle {
  /**
   * Unmount. While a program has a file open there the mount is detached lazily instead (the
   * kernel ends it at the last close): 'detached'. 'gone': it was unmounted from outside.
   */
  unmount(): Promise<'done' | 'detached' | 'gone'>
  /** Resolves once the kernel no longer has this mount: unmounted here or from outside. */
  readonly gone: Promise<void>
}

/** How often the mount table is read to notice an unmount from outside (fusermount -u, eject). */
const GONE_POLL_MS = 500

/**
 * Let go of fuse-native's side of a mount the kernel ended already: its own unmount runs
 * `fusermount -uz`, which then fails, and skips this step, whose handle keeps the process alive.
 */
function releaseNative(fuse: Fuse, dir: string): void {
  const main = createRequire(import.meta.url).resolve('fuse-native')
  const binding = createRequire(main)('node-gyp-build')(dirname(main)) as { fuse_native_unmount(dir: string, thread: Buffer): void }
  binding.fuse_native_unmount(dir, (fuse as unknown as { _thread: Buffer })._thread)
}

const run = promisify(execFile)

const S_IFDIR = 0o040000
const S_IFREG = 0o100000
const S_IFLNK = 0o120000
const O_ACCMODE = 3

// Every file is the mounting user's; asked once (a getattr per entry of an `ls -lR` adds up).
const UID = getuid?.() ?? 0
const GID = getgid?.() ?? 0

function statOf(e: ViewEntry): Stat {
  const kind = e.type === 'dir' ? S_IFDIR : e.type === 'symlink' ? S_IFLNK : S_IFREG
  const t = new Date(e.mtimeMs)
  return { mtime: t, atime: t, ctime: t, size: e.size, mode: kind | e.mode, uid: UID, gid: GID, nlink: 1 }
}

/** The errno for a failure: the view's own refusal, else EIO (and said on stderr). */
function errnoOf(e: unknown): number {
  if (e instanceof FsError) return (Fuse as unknown as Record<string, number>)[e.errno] ?? Fuse.EIO
  process.stderr.write(`cloudy mount: ${(e as Error).message}\n`)
  return Fuse.EIO
}

/** Answer a FUSE call from a promise: its value, or the errno of what it threw. */
function reply<T>(cb: (code: number, value?: T) => void, work: () => Promise<T | void>): void {
  // A synchronous throw is an answer too, never an exception out of the FUSE callback.
  Promise.resolve()
    .then(work)
    .then(
      (v) => (v === undefined ? cb(0) : cb(0, v)),
      (e: unknown) => cb(errnoOf(e)),
    )
}

/** Paths from FUSE start with '/'; views take them without. */
const rel = (path: string) => path.slice(1)

export function mountView(dir: string, view: MountView): Promise<MountHandle> {
  const w = isWritable(view) ? view : undefined
  /** Open files, by the number given to the kernel; true once written to. */
  const open = new Map<number, boolean>()
  let nextFd = 1
  const handle = () => {
    const fd = nextFd++
    open.set(fd, false)
    return fd
  }
  const writable = () => {
    if (!w) throw new FsError('EROFS')
    return w
  }
  /** An open file written to (or made) is made durable at close and fsync. */
  const durable = async (path: string, fd: number, closing: boolean) => {
    const dirty = open.get(fd)
    if (dirty && w) await w.sync(rel(path))
    // Clean only once synced: a failed sync is tried again by the next fsync or close.
    if (closing) open.delete(fd)
    else if (dirty && open.has(fd)) open.set(fd, false)
  }
  const ops: Record<string, unknown> = {
    getattr: (path: string, cb: (c: number, s?: Stat) => void) =>
      reply(cb, async () => {
        const e = await view.stat(rel(path))
        if (!e) throw new FsError('ENOENT')
        return statOf(e)
      }),
    readdir: (path: string, cb: (c: number, n?: string[]) => void) =>
      reply(cb, async () => {
        const names = await view.list(rel(path))
        if (names) return names
        throw new FsError((await view.stat(rel(path))) ? 'ENOTDIR' : 'ENOENT')
      }),
    readlink: (path: string, cb: (c: number, t?: string) => void) =>
      reply(cb, async () => {
        const e = await view.stat(rel(path))
        if (e?.type === 'symlink') return e.target!
        throw new FsError(e ? 'EINVAL' : 'ENOENT')
      }),
    open: (path: string, flags: number, cb: (c: number, fd?: number) => void) =>
      reply(cb, async () => {
        const e = await view.stat(rel(path))
        if (!e) throw new FsError('ENOENT')
        if ((flags & O_ACCMODE) !== 0 && !writable().canWrite(rel(path))) throw new FsError('EROFS')
        return handle()
      }),
    create: (path: string, mode: number, cb: (c: number, fd?: number) => void) =>
      reply(cb, async () => {
        await writable().create(rel(path), mode)
        // A new file, even empty (touch), is durable once closed.
        const fd = handle()
        open.set(fd, true)
        return fd
      }),
    read: (path: string, _fd: number, buffer: Buffer, length: number, position: number, cb: (n: number) => void) => {
      view.read(rel(path), position, length).then(
        (bytes) => cb(bytes.copy(buffer, 0, 0, Math.min(length, bytes.length))),
        (e: unknown) => cb(errnoOf(e)),
      )
    },
    write: (path: string, fd: number, buffer: Buffer, length: number, position: number, cb: (n: number) => void) => {
      // fuse-native reuses the buffer once this returns: the bytes are copied before any await.
      const bytes = Buffer.from(buffer.subarray(0, length))
      Promise.resolve()
        .then(() => writable().write(rel(path), bytes, position))
        .then(
          (n) => {
            if (open.has(fd)) open.set(fd, true)
            cb(n)
          },
          (e: unknown) => cb(errnoOf(e)),
        )
    },
    release: (path: string, fd: number, cb: (c: number) => void) => reply(cb, () => durable(path, fd, true)),
    fsync: (path: string, _datasync: boolean, fd: number, cb: (c: number) => void) => reply(cb, () => durable(path, fd, false)),
    fsyncdir: (_path: string, _datasync: boolean, _fd: number, cb: (c: number) => void) => reply(cb, async () => w?.sync()),
    // close(2) returns once FLUSH is answered; RELEASE comes later, unwaited: the durability
    // promise of close is kept here.
    flush: (path: string, fd: number, cb: (c: number) => void) => reply(cb, () => durable(path, fd, false)),
    truncate: (path: string, size: number, cb: (c: number) => void) => reply(cb, () => writable().truncate(rel(path), size, true)),
    ftruncate: (path: string, fd: number, size: number, cb: (c: number) => void) =>
      reply(cb, async () => {
        await writable().truncate(rel(path), size, false)
        if (open.has(fd)) open.set(fd, true)
      }),
    unlink: (path: string, cb: (c: number) => void) => reply(cb, () => writable().unlink(rel(path))),
    mkdir: (path: string, mode: number, cb: (c: number) => void) => reply(cb, () => writable().mkdir(rel(path), mode)),
    rmdir: (path: string, cb: (c: number) => void) => reply(cb, () => writable().rmdir(rel(path))),
    rename: (src: string, dest: string, cb: (c: number) => void) => reply(cb, () => writable().rename(rel(src), rel(dest))),
    symlink: (target: string, path: string, cb: (c: number) => void) => reply(cb, () => writable().symlink(target, rel(path))),
    link: (_src: string, _dest: string, cb: (c: number) => void) => cb(w ? Fuse.EPERM : Fuse.EROFS),
    chmod: (path: string, mode: number, cb: (c: number) => void) => reply(cb, () => writable().chmod(rel(path), mode)),
    chown: (_path: string, _uid: number, _gid: number, cb: (c: number) => void) => cb(w ? 0 : Fuse.EROFS),
    // fuse-native gives times as milliseconds, not Dates (a Date is taken too). Its native side
    // passes the access time in both places, and libfuse 2.9 passes on only calls that set both
    // times: the time recorded is the one set when both are set to one value (touch, touch -d).
    utimens: (path: string, _atime: number, mtime: number | Date, cb: (c: number) => void) =>
      reply(cb, () => writable().utimens(rel(path), typeof mtime === 'number' ? mtime : mtime.getTime())),
    statfs: (_path: string, cb: (c: number, s?: object) => void) =>
      // Free space is the storage account's, which the mount cannot know: generous figures, so
      // that tools that check before copying go on.
      cb(0, {
        bsize: 4096,
        frsize: 4096,
        blocks: 2 ** 32,
        bfree: 2 ** 31,
        bavail: 2 ** 31,
        files: 2 ** 24,
        ffree: 2 ** 23,
        favail: 2 ** 23,
        fsid: 0,
        flag: 0,
        namemax: 255,
      }),
  }
  const fuse = new Fuse(dir, ops as never, {
    force: true,
    mkdir: false,
    // No answer on fuse-native's behalf after 15 s: a pack read from a slow line may take
    // longer, and the provider layer has its own deadlines. (Its timeout also let a late read
    // write into a request buffer already given back.) A hung mount is aborted through
    // /sys/fs/fuse/connections/N/abort.
    timeout: false,
    // big_writes and max_read: 128 KiB requests instead of 4 KiB (docs/ARCHITECTURE.md, "Notes
    // from testing"). Not auto_cache (the kernel keeping a file's pages across opens while its
    // size and time stay the same): two computers' versions of a file can have both, and the
    // other one was then never read.
    fsname: 'cloudy,big_writes,max_read=131072,max_write=131072',
  })
  // The mount point's own path, found before it is mounted (afterwards this process answers it).
  return realpath(dir).then(
    (real) =>
      new Promise((resolve, reject) => {
        fuse.mount((err) => {
          if (err) return reject(err)
          resolve(watch(fuse, dir, real))
        })
      }),
  )
}

/** The handle of a mount made: its unmount, and a watch of the mount table for its end. */
async function watch(fuse: Fuse, dir: string, real: string): Promise<MountHandle> {
  const id = (await fuseMountIdsAt(real)).at(-1)
  let released = false
  const release = () => {
    if (!released) releaseNative(fuse, dir)
    released = true
  }
  let timer: NodeJS.Timeout | undefined
  let ended = () => {}
  const gone = new Promise<void>((resolve) => (ended = resolve))
  if (id) {
    timer = setInterval(() => {
      isMountId(id).then(
        (mounted) => {
          if (mounted) return
          clearInterval(timer)
          release()
          ended()
        },
        () => {},
      )
    }, GONE_POLL_MS)
    timer.unref()
  }
  return {
    gone,
    unmount: async () => {
      clearInterval(timer)
      if (id && !(await isMountId(id))) {
        release()
        ended()
        return 'gone'
      }
      let busy = false
      await new Promise<void>((res) =>
        fuse.unmount((e) => {
          // Still mounted when a program holds a file open there: detached lazily below.
          if (e) busy = true
          else released = true
          res()
        }),
      )
      if (busy) {
        await run('fusermount', ['-uz', dir]).catch(() => run('umount', ['-l', dir]).catch(() => {}))
        release()
      }
      ended()
      return busy ? 'detached' : 'done'
    },
  }
}
