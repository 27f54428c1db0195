/**
 * Writes whole small files on worker threads: temp file, data (zero blocks left as holes), mode,
 * time, rename into place, then the stat the file cache needs. One message per batch instead of
 * seven thread-pool round trips per file.
 */
import { HOLE_BLOCK } from '../fs/sparse.js'
import { WorkerPool, type FileOutcome } from '../workers/pool.js'

export interface WriteRequest {
  /** Temporary name, in the same folder as `path`. Bytes for a name that is not UTF-8 (`fsPath`). */
  tmp: string | Uint8Array
  path: string | Uint8Array
  data: Uint8Array
  mode: number
  /** Modification time, seconds (float). */
  mtime: number
  /** fdatasync before the rename: the file replaces an existing one. */
  durable: boolean
  /**
   * What must be at `path` for the rename to happen: nothing (`null`), or the local file the
   * plan saw (size and mtime in ms). Anything else is a change made while the down-sync ran;
   * the write is dropped with code `ECHANGED` rather than replacing it.
   */
  expect?: Expected
}

export type Expected = { size: number; mtimeMs: number } | null

/** One file written by a worker: its stat once in place, or the error. */
export type WriteResult = FileOutcome

const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads')
const fs = require('node:fs')
const umask = process.umask()
const BLOCK = ${HOLE_BLOCK}
const ZERO = Buffer.alloc(BLOCK)
// The [start, end) runs of data that are not whole zero blocks (lib/fs/sparse.ts, at offset 0).
function dataRuns(data) {
  const runs = []
  let start = -1
  for (let at = 0; at < data.length; at += BLOCK) {
    const end = Math.min(data.length, at + BLOCK)
    const zero = end - at === BLOCK && Buffer.from(data.buffer, data.byteOffset + at, BLOCK).equals(ZERO)
    if (!zero && start < 0) start = at
    if (zero && start >= 0) {
      runs.push([start, at])
      start = -1
    }
  }
  if (start >= 0) runs.push([start, data.length])
  return runs
}
parentPort.on('message', ({ batch }) => {
  const out = []
  for (const r of batch) {
    let fd
    let renamed = false
    try {
      fd = fs.openSync(r.tmp, 'wx', r.mode)
      // Whole zero blocks stay holes (a new file reads as zeros there): a sparse file stays sparse.
      fs.ftruncateSync(fd, r.data.length)
      for (const [start, end] of dataRuns(r.data)) {
        let done = start
        while (done < end) done += fs.writeSync(fd, r.data, done, end - done, done)
      }
      if (r.durable) fs.fdatasyncSync(fd)
      // open() applied the umask; only a mode it cut needs the extra call.
      if ((r.mode & umask) !== 0) fs.fchmodSync(fd, r.mode)
      fs.futimesSync(fd, r.mtime, r.mtime)
      if (r.expect !== undefined) {
        let st
        try { st = fs.lstatSync(r.path, { bigint: true }) } catch (e) { if (e.code !== 'ENOENT') throw e }
        const as = r.expect === null ? !st : !!st && Number(st.size) === r.expect.size && Number(st.mtimeNs / 1000000n) === r.expect.mtimeMs
        if (!as) throw Object.assign(new Error(r.path + ' changed here while the down-sync ran'), { code: 'ECHANGED' })
      }
      fs.renameSync(r.tmp, r.path)
      renamed = true
      // fstat after the rename: the ctime the file cache must see is the one rename set.
      const st = fs.fstatSync(fd, { bigint: true })
      out.push({ size: st.size, mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs, ino: st.ino })
    } catch (e) {
      if (!renamed) try { fs.unlinkSync(r.tmp) } catch {}
      out.push({ error: e.code || 'EIO', message: e.message })
    } finally {
      if (fd !== undefined) fs.closeSync(fd)
    }
  }
  parentPort.postMessage({ out })
})
`

/**
 * One writer thread: creating files in the same folders from several threads only contends on
 * the folder locks (measured: more system time, no gain).
 */
const WRITERS = 1
/** Requests gathered per message, and bytes per message at most. */
const BATCH = 32
const BATCH_BYTES = 4 * 1024 * 1024
/** Messages in flight before `write` waits (bounds memory held for writing). */
const MAX_IN_FLIGHT = 8

export class FileWriterPool {
  #pool = new WorkerPool<WriteRequest, WriteResult>(WORKER_SOURCE, WRITERS)
  #batch: WriteRequest[] = []
  #waiters: ((r: WriteResult) => void)[] = []
  #bytes = 0
  #inFlight = new Set<Promise<void>>()

  /**
   * Queue one file; `done` is called once it is in place (or failed). The returned promise only
   * says the request was taken (it waits while too much is in flight); `flush()` ends a run.
   */
  async add(req: WriteRequest, done: (r: WriteResult) => void): Promise<void> {
    this.#waiters.push(done)
    this.#batch.push(req)
    this.#bytes += req.data.length
    if (this.#batch.length >= BATCH || this.#bytes >= BATCH_BYTES) await this.#dispatch()
  }

  /** Send what is gathered; waits while too many batches are in flight. */
  async #dispatch(): Promise<void> {
    if (this.#batch.length === 0) return
    const batch = this.#batch
    const waiters = this.#waiters
    this.#batch = []
    this.#waiters = []
    this.#bytes = 0
    const p = this.#pool.run(batch).then(
      (out) => out.forEach((r, i) => waiters[i]!(r)),
      (e: unknown) => waiters.forEach((w) => w({ error: 'EIO', message: String(e) })),
    )
    const tracked = p.finally(() => this.#inFlight.delete(tracked))
    this.#inFlight.add(tracked)
    while (this.#inFlight.size >= MAX_IN_FLIGHT) await Promise.race(this.#inFlight)
  }

  /** Send the last partial batch and wait for every write. */
  async flush(): Promise<void> {
    await this.#dispatch()
    await Promise.all(this.#inFlight)
  }

  close(): Promise<void> {
    return this.#pool.close()
  }
}
