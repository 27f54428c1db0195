/**
 * Reads many small files in parallel on worker threads. From a cold cache each small read waits
 * on the disk; a few in flight at once keep it busy while the main thread hashes and seals what
 * already arrived.
 */
import { availableParallelism } from 'node:os'
import { asBuffer, WorkerPool, type FileOutcome } from '../workers/pool.js'

/** One file read by a worker: its bytes and the fstat taken after reading them. */
export interface ReadResult extends FileOutcome {
  data?: Buffer
}

const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads')
const fs = require('node:fs')
parentPort.on('message', ({ batch }) => {
  const out = []
  const transfer = []
  for (const p of batch) {
    let fd
    try {
      fd = fs.openSync(p, 'r')
      const buf = Buffer.allocUnsafeSlow(fs.fstatSync(fd).size)
      let done = 0
      while (done < buf.length) {
        const n = fs.readSync(fd, buf, done, buf.length - done, null)
        if (n === 0) break
        done += n
      }
      const st = fs.fstatSync(fd, { bigint: true })
      out.push({ data: buf.subarray(0, done), size: st.size, mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs, ino: st.ino })
      transfer.push(buf.buffer)
    } catch (e) {
      out.push({ error: e.code || 'EIO', message: e.message })
    } finally {
      if (fd !== undefined) fs.closeSync(fd)
    }
  }
  parentPort.postMessage({ out }, transfer)
})
`

export class FileReaderPool {
  #pool = new WorkerPool<string, ReadResult>(WORKER_SOURCE, Math.max(2, Math.min(4, availableParallelism() * 2)))

  /** Read the files (one batch, one thread); results in the same order. */
  async read(paths: string[]): Promise<ReadResult[]> {
    const out = await this.#pool.run(paths)
    for (const r of out) if (r.data) r.data = asBuffer(r.data)
    return out
  }

  close(): Promise<void> {
    return this.#pool.close()
  }
}
