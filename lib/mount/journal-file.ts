/**
 * How the write journal opens its files (the log, the data files). Node's `FileHandle` has what
 * it needs, and so has a test double that can lose what was not synced (test/helpers/power-loss.ts).
 * The default works on plain descriptors: it opens at once (data files made ahead, in the
 * thread pool) and closes at once. Every file copied into the mount is a new data file, and a
 * trip through libuv's thread pool to open or close it was most of a small file's cost
 * (docs/MOUNT.md, "Durability"). Reads and writes go through `fd`, synchronously too; only the
 * syncs, which wait for the disk, leave the JavaScript thread.
 */
import { closeSync, fdatasync, fstat, futimes, open, openSync, write } from 'node:fs'
import { promisify } from 'node:util'

export interface JournalFile {
  readonly fd: number
  datasync(): Promise<void>
  utimes(atime: number, mtime: number): Promise<void>
  stat(): Promise<{ size: number }>
  write(buffer: Buffer, offset: number, length: number, position: number): Promise<unknown>
  close(): Promise<void>
}

/** `background`: the caller does not wait for it; opened off the JavaScript thread. */
export type OpenFile = (path: string, flags: string, mode?: number, background?: boolean) => Promise<JournalFile>

const datasyncFd = promisify(fdatasync)
const utimesFd = promisify(futimes)
const statFd = promisify(fstat)
const writeFd = promisify(write)
const openFd = promisify(open)

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
  }
}

/** Open `path` at once (`flags` as node's `open` takes them), or in libuv's thread pool when `background`. */
export const openNow: OpenFile = async (path, flags, mode, background) => {
  if (background) return fileOf(await openFd(path, flags, mode))
  return fileOf(openSync(path, flags, mode))
}
