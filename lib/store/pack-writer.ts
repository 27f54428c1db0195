/**
 * Streams one pack to the provider while blobs are still being added: the pack is never held
 * whole in memory, and the upload overlaps with chunking and encryption of what comes next.
 */
import type { Provider } from '../../providers/provider.js'
import { BlobType, seal } from '../vault/aead.js'
import { randomBytes } from '../vault/sodium.js'
import { encodeHeader, packKey, type PackEntry } from './pack.js'

/** Bytes queued for the provider before `add` waits for the upload to catch up. */
const QUEUE_LIMIT = 8 * 1024 * 1024
/** Small sealed blobs are gathered into writes of about this size: one write per 8 KiB blob costs. */
const BATCH = 1024 * 1024

export class PackWriter {
  readonly id: string
  readonly key: string
  readonly entries: PackEntry[] = []
  /** Bytes written so far (sealed blobs only). */
  size = 0
  /** Bytes of the whole pack, header and trailer included, once finished. */
  total = 0
  #batch: Uint8Array[] = []
  #batchLen = 0
  #queue: Uint8Array[] = []
  #queued = 0
  #ended = false
  #wakeReader: (() => void) | undefined
  /** Adders waiting for the queue to drain (several files add blobs at once). */
  #writers: (() => void)[] = []
  #failed: unknown
  #aborted: Error | undefined
  readonly #upload: Promise<void>

  constructor(
    provider: Provider,
    spaceTag: string,
    private readonly blobKey: Uint8Array,
  ) {
    this.id = randomBytes(32).toString('hex')
    this.key = packKey(spaceTag, this.id)
    this.#upload = provider.put(this.key, this.#drain(), { ifAbsent: true }).catch((e: unknown) => {
      this.#failed = e
      this.#wakeWriters()
      throw e
    })
    // The caller awaits `finish()`; this keeps an early failure from being reported as unhandled.
    this.#upload.catch(() => {})
  }

  async *#drain(): AsyncGenerator<Uint8Array> {
    for (;;) {
      const next = this.#queue.shift()
      if (this.#aborted) throw this.#aborted
      if (next) {
        this.#queued -= next.length
        if (this.#queued < QUEUE_LIMIT) this.#wakeWriters()
        yield next
      } else if (this.#ended) {
        return
      } else {
        await new Promise<void>((r) => (this.#wakeReader = r))
        this.#wakeReader = undefined
      }
    }
  }

  #wakeWriters(): void {
    const w = this.#writers
    this.#writers = []
    for (const r of w) r()
  }

  #push(buf: Uint8Array): void {
    if (buf.length < BATCH) {
      this.#batch.push(buf)
      this.#batchLen += buf.length
      if (this.#batchLen < BATCH) return
    } else this.#flushBatch()
    this.#enqueue(this.#batchLen ? this.#takeBatch() : buf)
  }

  #takeBatch(): Uint8Array {
    const b = this.#batch.length === 1 ? this.#batch[0]! : Buffer.concat(this.#batch, this.#batchLen)
    this.#batch = []
    this.#batchLen = 0
    return b
  }

  #flushBatch(): void {
    if (this.#batchLen) this.#enqueue(this.#takeBatch())
  }

  #enqueue(buf: Uint8Array): void {
    this.#queue.push(buf)
    this.#queued += buf.length
    this.#wakeReader?.()
  }

  /** Append a sealed blob (plaintext length `rawLength`). */
  async add(type: BlobType, id: Buffer, sealed: Uint8Array, rawLength: number): Promise<void> {
    if (this.#failed ?? this.#aborted) throw this.#failed ?? this.#aborted
    this.entries.push({ type, id, offset: this.size, length: sealed.length, rawLength })
    this.size += sealed.length
    this.#push(sealed)
    if (this.#queued >= QUEUE_LIMIT) {
      await new Promise<void>((r) => this.#writers.push(r))
      if (this.#failed ?? this.#aborted) throw this.#failed ?? this.#aborted
    }
  }

  /**
   * Give the pack up (the store failed elsewhere): the upload is broken off, so the provider
   * keeps nothing of it. Resolves once the upload has ended.
   */
  async abort(reason: Error): Promise<void> {
    this.#aborted ??= reason
    this.#ended = true
    this.#wakeReader?.()
    this.#wakeWriters()
    await this.#upload.catch(() => {})
  }

  /** Write the sealed header and trailer, and wait until the provider has the whole pack. */
  async finish(): Promise<void> {
    const header = seal(this.blobKey, BlobType.packHeader, Buffer.from(this.id, 'hex'), encodeHeader(this.entries))
    const trailer = Buffer.allocUnsafe(4)
    trailer.writeUInt32LE(header.length, 0)
    this.total = this.size + header.length + trailer.length
    this.#push(header)
    this.#push(trailer)
    this.#flushBatch()
    this.#ended = true
    this.#wakeReader?.()
    await this.#upload
  }
}
