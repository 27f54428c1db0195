/**
 * A small pool of worker threads that run batches of blocking file-system calls. Each batch is
 * one message each way, and buffers are transferred, not copied: the main thread keeps hashing
 * and sealing while the disk works on several files at once.
 */
import { Worker } from 'node:worker_threads'

interface Job<Res> {
  batch: unknown[]
  transfer: ArrayBuffer[]
  resolve: (r: Res[]) => void
  reject: (e: unknown) => void
}

export interface PoolOptions {
  /** Referenced only while a job runs: idle threads keep no process alive (a pool never closed). */
  unrefWhenIdle?: boolean
  /** Worker's `trackUnmanagedFds`: false where the threads open descriptors for the main thread. */
  trackUnmanagedFds?: boolean
}

export class WorkerPool<Req, Res> {
  readonly size: number
  #source: string
  #workerData: unknown
  #options: PoolOptions
  #workers: Worker[] = []
  #idle: Worker[] = []
  #queue: Job<Res>[] = []
  #running = new Map<Worker, Job<Res>>()
  #closed = false

  /**
   * @param source CommonJS source of the worker: it receives `{ batch }` messages and answers
   *   `{ out }` with one result per request, in order. Plain JS so that it runs the same from
   *   the TypeScript sources (tests) and from dist/.
   * @param size number of threads, started on demand.
   * @param workerData given to every thread as `workerData`.
   */
  constructor(source: string, size: number, workerData?: unknown, options: PoolOptions = {}) {
    this.#source = source
    this.size = size
    this.#workerData = workerData
    this.#options = options
  }

  /** Run a batch of requests on one thread; results in order. */
  run(batch: Req[], transfer: ArrayBuffer[] = []): Promise<Res[]> {
    // A closed pool starts no thread: a late caller would otherwise keep the process alive, and
    // the seal pool's threads would start with keys that closing wiped.
    if (this.#closed) return Promise.reject(new Error('the worker pool is closed'))
    return new Promise((resolve, reject) => {
      this.#queue.push({ batch, transfer, resolve, reject })
      this.#pump()
    })
  }

  /** Jobs queued or running. */
  get busy(): number {
    return this.#queue.length + this.#running.size
  }

  #spawn(): Worker {
    const { trackUnmanagedFds } = this.#options
    const w = new Worker(this.#source, { eval: true, workerData: this.#workerData, trackUnmanagedFds })
    w.on('message', ({ out }: { out: Res[] }) => {
      const job = this.#running.get(w)
      this.#running.delete(w)
      this.#idle.push(w)
      if (this.#options.unrefWhenIdle) w.unref()
      job?.resolve(out)
      this.#pump()
    })
    w.on('error', (e) => {
      const job = this.#running.get(w)
      this.#running.delete(w)
      this.#workers = this.#workers.filter((x) => x !== w)
      job?.reject(e)
      this.#pump()
    })
    this.#workers.push(w)
    return w
  }

  #pump(): void {
    while (this.#queue.length) {
      const w = this.#idle.pop() ?? (this.#workers.length < this.size ? this.#spawn() : undefined)
      if (!w) return
      const job = this.#queue.shift()!
      this.#running.set(w, job)
      if (this.#options.unrefWhenIdle) w.ref()
      w.postMessage({ batch: job.batch }, job.transfer)
    }
  }

  async close(): Promise<void> {
    this.#closed = true
    // Queued and running jobs will never be answered now.
    const orphaned = [...this.#queue, ...this.#running.values()]
    this.#queue = []
    this.#running.clear()
    for (const job of orphaned) job.reject(new Error('the worker pool is closed'))
    await Promise.all(this.#workers.map((w) => w.terminate()))
    this.#workers = []
    this.#idle = []
  }
}

/** Buffers that arrive after a transfer are plain Uint8Array views: make them Buffers again. */
export function asBuffer(u: Uint8Array): Buffer {
  return Buffer.from(u.buffer, u.byteOffset, u.byteLength)
}

/** What a file worker answers for one file: its stat after the operation, or the error. */
export interface FileOutcome {
  size?: bigint
  mtimeNs?: bigint
  ctimeNs?: bigint
  ino?: bigint
  /** errno code when the operation failed. */
  error?: string
  message?: string
}
