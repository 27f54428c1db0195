/**
 * Hashing, compressing and sealing of large chunks on worker threads, so an up-sync of big
 * files uses every core: the main thread reads and cuts chunks while the workers turn them into
 * sealed blobs. The workers run the very same modules (keys, codec, aead) from the built code;
 * where those are not built (tests running the TypeScript sources) `SealPool.create` returns
 * undefined and the store seals on the main thread, with the same result.
 */
import { existsSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { fileURLToPath } from 'node:url'
import type { BlobType } from '../vault/aead.js'
import type { SpaceKeys } from '../vault/keys.js'
import { wipe } from '../vault/sodium.js'
import { asBuffer, WorkerPool } from '../workers/pool.js'

/** A chunk sealed by a worker. */
export interface Sealed {
  id: Buffer
  sealed: Buffer
}

// Each path goes up to lib/ first, so they hold from any lib/<folder>/, the bundled command
// line (lib/cli/cloudy.mjs) included.
const MODULES = {
  keys: new URL('../vault/keys.js', import.meta.url),
  codec: new URL('../store/codec.js', import.meta.url),
  aead: new URL('../vault/aead.js', import.meta.url),
  sodium: new URL('../vault/sodium.js', import.meta.url),
}

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads')
const ready = (async () => {
  const [{ blobId }, { encodePayload }, { seal }, { secureKey }] = await Promise.all([
    import(workerData.keys), import(workerData.codec), import(workerData.aead), import(workerData.sodium),
  ])
  const blobKey = secureKey(); blobKey.set(workerData.blobKey); workerData.blobKey.fill(0)
  const idKey = secureKey(); idKey.set(workerData.idKey); workerData.idKey.fill(0)
  return (type, plain, compress) => {
    const id = blobId({ idKey }, plain)
    return { id, sealed: seal(blobKey, type, id, encodePayload(plain, compress)) }
  }
})()
parentPort.on('message', async ({ batch }) => {
  const sealOne = await ready
  const out = []
  const transfer = []
  for (const { type, plain, compress } of batch) {
    const r = sealOne(type, plain, compress)
    // Only a buffer of its own can move; a small one from Node's pool is copied instead.
    const sealed = r.sealed.byteLength === r.sealed.buffer.byteLength ? r.sealed : new Uint8Array(r.sealed)
    out.push({ id: new Uint8Array(r.id), sealed })
    transfer.push(sealed.buffer)
  }
  parentPort.postMessage({ out }, transfer)
})
`

export class SealPool {
  #pool: WorkerPool<{ type: BlobType; plain: Uint8Array; compress: boolean }, { id: Uint8Array; sealed: Uint8Array }>
  /** The copies of the keys handed to the threads (which move them into secure memory). */
  #keyCopies: Uint8Array[]

  private constructor(keys: SpaceKeys, threads: number) {
    this.#keyCopies = [new Uint8Array(keys.blobKey), new Uint8Array(keys.idKey)]
    const data = {
      ...Object.fromEntries(Object.entries(MODULES).map(([k, u]) => [k, u.href])),
      blobKey: this.#keyCopies[0],
      idKey: this.#keyCopies[1],
    }
    this.#pool = new WorkerPool(WORKER_SOURCE, threads, data)
  }

  /** A pool for this space's keys, or undefined where the built modules are not there. */
  static create(keys: SpaceKeys, threads = Math.max(1, Math.min(4, availableParallelism()))): SealPool | undefined {
    if (!Object.values(MODULES).every((u) => existsSync(fileURLToPath(u)))) return undefined
    return new SealPool(keys, threads)
  }

  /** Id and sealed blob of one chunk. The chunk's bytes are copied once, into the message. */
  async seal(type: BlobType, chunk: Uint8Array, compress: boolean): Promise<Sealed> {
    const plain = new Uint8Array(chunk)
    const [r] = await this.#pool.run([{ type, plain, compress }], [plain.buffer as ArrayBuffer])
    return { id: asBuffer(r!.id), sealed: asBuffer(r!.sealed) }
  }

  async close(): Promise<void> {
    for (const k of this.#keyCopies) wipe(k)
    await this.#pool.close()
  }
}
