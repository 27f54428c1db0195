/**
 * How the write journal opens its files (the log, the data files). Node's `FileHandle` has what
 * it needs, and so has a test double that can lose what was not synced (test/helpers/power-loss.ts).
 * The default works on plain descriptors: it opens at once, or (data files made ahead) in
 * batches on a thread of its own, and closes at once or in such a batch. Every file copied into
 * the mount is a new data file, and a trip through libuv's thread pool to make or close each was
 * most of a small file's cost (docs/MOUNT.md, "Durability"). Reads and writes go through `fd`,
 * synchronously too; only the syncs, which wait for the disk, leave the JavaScript thread.
 */
import { closeSync, fdatasync, fstat, futimes, openSync, write } from 'node:fs'
import { promisify } from 'node:util'
import { WorkerPool } from '../workers/pool.js'

export interface JournalFile {
  readonly fd: number
  datasync(): Promise<void>
  utimes(atime: number, mtime: number): Promise<void>
  stat(): Promise<{ size: number }>
  write(buffer: Buffer, offset: number, length: number, position: number): Promise<unknown>
  close(): Promise<void>
  /** Close off the JavaScript thread, unwaited (a handle nobody uses any more). */
  closeSoon?(): void
}

/** `background`: the caller does not wait for it; opened off the JavaScript thread. */
export type OpenFile = (path: string, flags: string, mode?: number, background?: boolean) => Promise<JournalFile>

const datasyncFd = promisify(fdatasync)
const utimesFd = promisify(futimes)
const statFd = promisify(fstat)
const writeFd = promisify(write)

/**
 * The thread that opens and closes files for `background` opens and `closeSoon`. Descriptors
 * are the process's, so it hands back numbers. Whatever is asked while it works goes in its
 * next batch, one message each way: a copy of many small files costs the JavaScript thread a
 * message per batch instead of a thread-pool trip per file.
 */
const FILES_WORKER = `
const { parentPort } = require('node:worker_threads')
const fs = require('node:fs')
// Background work: at a lower priority, so that its waking does not take the core from the
// thread that answers the kernel (Linux's setpriority takes a thread's id).
try {
  require('node:os').setPriority(Number(fs.readlinkSync('/proc/thread-self').split('/').pop()), 10)
} catch {}
parentPort.on('message', ({ batch }) => {
  parentPort.postMessage({ out: batch.map((r) => {
    try {
      if (r.close !== undefined) fs.closeSync(r.close)
      else return { fd: fs.openSync(r.path, r.flags, r.mode) }
    } catch (e) {
      return { code: e.code, message: e.message }
    }
    return {}
  }) })
})`

type FileRequest = { path: string; flags: string; mode?: number } | { close: number }
interface FileAnswer {
  fd?: number
  code?: string
  message?: string
}

/** Closes sent together when no open comes first. */
const CLOSE_BATCH = 32

class FilesThread {
  // One thread, referenced only while it works: an idle one keeps no process alive. Its
  // descriptors are the main thread's to keep and close: not tracked, nor closed at its exit.
  readonly #pool = new WorkerPool<FileRequest, FileAnswer>(FILES_WORKER, 1, undefined, { unrefWhenIdle: true, trackUnmanagedFds: false })
  #closes: number[] = []
  #closeTimer: NodeJS.Timeout | undefined
  #queue: { req: FileRequest; done: (a: FileAnswer) => void }[] = []
  #busy = false

  ask(req: FileRequest): Promise<FileAnswer> {
    return new Promise((done) => {
      this.#queue.push({ req, done })
      // Everything asked in this turn of the loop goes together.
      if (this.#queue.length === 1 && !this.#busy) queueMicrotask(() => this.#send())
    })
  }

  /**
   * Close `fd` with the next batch: a descriptor nobody uses may stay open a moment, and a copy
   * of many files closes one per file, which would else be a message each.
   */
  closeSoon(fd: number): void {
    this.#closes.push(fd)
    if (this.#closes.length >= CLOSE_BATCH) this.#flushCloses()
    else this.#closeTimer ??= setTimeout(() => this.#flushCloses(), 100).unref()
  }

  #flushCloses(): void {
    clearTimeout(this.#closeTimer)
    this.#closeTimer = undefined
    for (const fd of this.#closes.splice(0)) void this.ask({ close: fd })
  }

  /** One batch out at a time: what is asked meanwhile waits for the next. */
  #send(): void {
    if (this.#busy || this.#queue.length === 0) return
    // Closes waiting for a batch go with this one.
    if (this.#closes.length) this.#flushCloses()
    const batch = this.#queue.splice(0)
    this.#busy = true
    this.#pool
      .run(batch.map((b) => b.req))
      .then(
        (answers) => batch.forEach((b, i) => b.done(answers[i] ?? {})),
        // Not expected (the thread catches what the calls throw): this batch's callers hear of it,
        // the next batch gets a new thread.
        (e: unknown) => batch.forEach((b) => b.done({ code: 'EIO', message: String(e) })),
      )
      .finally(() => {
        this.#busy = false
        this.#send()
      })
  }
}

const filesThread = new FilesThread()

async function openInBackground(path: string, flags: string, mode?: number): Promise<number> {
  const a = await filesThread.ask({ path, flags, mode })
  if (a.fd !== undefined) return a.fd
  throw Object.assign(new Error(a.message ?? `cannot open ${path}`), { code: a.code })
}

function fileOf(fd: number): JournalFile {
  return {
    fd,
    datasync: () => datasyncFd(fd),
    utimes: (atime, mtime) => utimesFd(fd, atime, mtime),
    stat: () => statFd(fd),
    write: (buffer, offset, length, position) => writeFd(fd, buffer, offset, length, position),
    // Closing a file flushes nothing on ext4: at once, not through the thread pool.
    close: () => {
      try {
        closeSync(fd)
        return Promise.resolve()
      } catch (e) {
        return Promise.reject(e as Error)
      }
    },
    closeSoon: () => filesThread.closeSoon(fd),
  }
}

/** Open `path` at once (`flags` as node's `open` takes them), or on the files thread when `background`. */
export const openNow: OpenFile = async (path, flags, mode, background) => {
  if (background) return fileOf(await openInBackground(path, flags, mode))
  return fileOf(openSync(path, flags, mode))
}
