/**
 * Content-defined chunking, FastCDC style (Xia et al., 2016): a gear rolling hash, no hashing
 * at all before `min`, a stricter mask before `avg` and a looser one after it (normalized
 * chunking, level 2), a forced cut at `max`. An insertion or deletion moves only the cuts
 * around it, so the rest of an edited file dedups.
 *
 * Format decision (changing anything here breaks dedup with every existing vault; bump the
 * label to "v2" instead):
 *  - gear table: the 256 little-endian uint32 words of the first 1 KiB of the stream
 *    HMAC-SHA256(seed, "cloudy gear v1" || u32be(counter)) for counter = 0, 1, …, 31;
 *  - hash: h = (h << 1) + gear[byte] mod 2^32, restarted at 0 on the chunk's byte `min`;
 *  - cut after the byte where (h & mask) == 0; masks of log2(avg) + 2 bits before `avg` and
 *    log2(avg) - 2 bits from `avg` on, their bits spread evenly from bit 31 down (`spreadMask`).
 * The seed is secret per space: where chunks are cut, hence the chunk sizes the storage sees,
 * depends on the key and so tells nothing about content.
 */
import { createHmac } from 'node:crypto'

/** Chunk size bounds, in bytes. */
export interface ChunkerOptions {
  /** No cut before this many bytes (except at the end of the input). Integer, 1 <= min < avg. Default 512 KiB. */
  min?: number
  /** Target average size; a power of two from 64 to 1 GiB. Default 1 MiB. */
  avg?: number
  /** A cut is forced at this many bytes. Integer above avg. Default 8 MiB. */
  max?: number
}

/** The default chunk bounds (restic's, roughly): 512 KiB, 1 MiB, 8 MiB. */
export const DEFAULT_CHUNKING = { min: 512 * 1024, avg: 1024 * 1024, max: 8 * 1024 * 1024 } as const

const SEED_BYTES = 32

/** The chunker's gear table for a space: see the format note at the top of this file. */
export function gearTable(seed: Uint8Array): Uint32Array {
  if (seed.length !== SEED_BYTES) throw new RangeError(`gearTable: seed must be ${SEED_BYTES} bytes, got ${seed.length}`)
  const bytes = Buffer.alloc(1024)
  const counter = Buffer.alloc(4)
  for (let i = 0; i < 32; i++) {
    counter.writeUInt32BE(i, 0)
    createHmac('sha256', seed)
      .update('cloudy gear v1')
      .update(counter)
      .digest()
      .copy(bytes, i * 32)
  }
  const gear = new Uint32Array(256)
  for (let i = 0; i < 256; i++) gear[i] = bytes.readUInt32LE(i * 4)
  return gear
}

function resolve(o: ChunkerOptions): { min: number; avg: number; max: number } {
  const min = o.min ?? DEFAULT_CHUNKING.min
  const avg = o.avg ?? DEFAULT_CHUNKING.avg
  const max = o.max ?? DEFAULT_CHUNKING.max
  // Up to 2^30 so that the stricter mask (log2(avg) + 2 bits) still fits the 32-bit hash.
  if (!Number.isInteger(avg) || avg < 64 || avg > 2 ** 30 || (avg & (avg - 1)) !== 0)
    throw new RangeError(`chunker avg: ${avg} must be a power of two from 64 to 2^30 bytes`)
  if (!Number.isInteger(min) || min < 1 || min >= avg)
    throw new RangeError(`chunker min: ${min} must be an integer from 1 to below avg (${avg}) bytes`)
  if (!Number.isSafeInteger(max) || max <= avg) throw new RangeError(`chunker max: ${max} must be an integer above avg (${avg}) bytes`)
  return { min, avg, max }
}

/**
 * Streaming chunker: feed buffers in order with `push`, then call `finish` once.
 *
 * A chunk that lies inside one pushed buffer is returned as a view of it (no copy); only a
 * chunk that spans buffers is assembled into new memory. Both views and the carried tail of
 * the last buffer keep referring to the caller's memory: do not overwrite a buffer once pushed.
 */
export class Chunker {
  readonly #gear: Uint32Array
  readonly #min: number
  readonly #avg: number
  readonly #max: number
  readonly #maskS: number
  readonly #maskL: number
  /** Views of the current chunk's bytes from earlier buffers. */
  #parts: Uint8Array[] = []
  /** Bytes in `#parts`. */
  #have = 0
  /** Rolling hash of the current chunk, carried across buffers (in/out slot of `scan`). */
  readonly #hash = new Int32Array(1)

  constructor(gear: Uint32Array, options: ChunkerOptions = {}) {
    if (!(gear instanceof Uint32Array) || gear.length !== 256) throw new RangeError('chunker gear: must be a Uint32Array of 256 entries')
    const { min, avg, max } = resolve(options)
    this.#gear = gear
    this.#min = min
    this.#avg = avg
    this.#max = max
    const bits = Math.log2(avg)
    this.#maskS = spreadMask(bits + 2)
    this.#maskL = spreadMask(bits - 2)
  }

  /**
   * Where the chunk that starts at `buf[start]` ends, looking no further than `end`: the index
   * just past its cut (`start + max` at most), or -1 when it runs on past `end`. Stateless.
   */
  cutPoint(buf: Uint8Array, start = 0, end = buf.length): number {
    return this.#cut(buf, start, end, 0, new Int32Array(1))
  }

  /** Feeds the next bytes; returns the chunks they complete, in order (often none). */
  push(buf: Uint8Array): Uint8Array[] {
    const out: Uint8Array[] = []
    const end = buf.length
    let pos = 0
    while (pos < end) {
      const cut = this.#cut(buf, pos, end, this.#have, this.#hash)
      if (cut < 0) {
        this.#parts.push(pos === 0 ? buf : buf.subarray(pos))
        this.#have += end - pos
        break
      }
      if (this.#have === 0) out.push(buf.subarray(pos, cut))
      else {
        this.#parts.push(buf.subarray(pos, cut))
        out.push(Buffer.concat(this.#parts, this.#have + cut - pos))
      }
      this.#reset()
      pos = cut
    }
    return out
  }

  /** The last chunk: the bytes pushed since the last cut, or undefined if there are none. */
  finish(): Uint8Array | undefined {
    const parts = this.#parts
    const have = this.#have
    this.#reset()
    if (have === 0) return undefined
    return parts.length === 1 ? parts[0] : Buffer.concat(parts, have)
  }

  #reset(): void {
    if (this.#have) this.#parts = []
    this.#have = 0
    this.#hash[0] = 0
  }

  /** `cutPoint` for a chunk that already holds `have` bytes, with its hash in `hash[0]`. */
  #cut(buf: Uint8Array, start: number, end: number, have: number, hash: Int32Array): number {
    const limit = start + this.#max - have
    const stop = limit < end ? limit : end
    const from = start + Math.max(0, this.#min - have)
    // Before `min` nothing is hashed; min < max, so the chunk cannot be full yet.
    if (from >= stop) return -1
    const normal = Math.min(Math.max(start + this.#avg - have, from), stop)
    const gear = this.#gear
    let cut = scan(gear, buf, from, normal, this.#maskS, hash)
    if (cut < 0) cut = scan(gear, buf, normal, stop, this.#maskL, hash)
    if (cut >= 0) return cut
    return stop === limit ? limit : -1
  }
}

/**
 * The hot loop: the index just past the first byte in `buf[i, stop)` after which
 * `(hash & mask) == 0`, or -1 with the hash left in `hash[0]`.
 */
function scan(gear: Uint32Array, buf: Uint8Array, i: number, stop: number, mask: number, hash: Int32Array): number {
  let h = hash[0]!
  // Unrolled: measured 3.4 GB/s against 1.2 for one byte a turn, 2.3 for four, 3.0 for eight (V8, Node 20).
  for (const e = stop - 15; i < e; i += 16) {
    h = ((h << 1) + gear[buf[i + 0]!]!) | 0
    if ((h & mask) === 0) return i + 1
    h = ((h << 1) + gear[buf[i + 1]!]!) | 0
    if ((h & mask) === 0) return i + 2
    h = ((h << 1) + gear[buf[i + 2]!]!) | 0
    if ((h & mask) === 0) return i + 3
    h = ((h << 1) + gear[buf[i + 3]!]!) | 0
    if ((h & mask) === 0) return i + 4
    h = ((h << 1) + gear[buf[i + 4]!]!) | 0
    if ((h & mask) === 0) return i + 5
    h = ((h << 1) + gear[buf[i + 5]!]!) | 0
    if ((h & mask) === 0) return i + 6
    h = ((h << 1) + gear[buf[i + 6]!]!) | 0
    if ((h & mask) === 0) return i + 7
    h = ((h << 1) + gear[buf[i + 7]!]!) | 0
    if ((h & mask) === 0) return i + 8
    h = ((h << 1) + gear[buf[i + 8]!]!) | 0
    if ((h & mask) === 0) return i + 9
    h = ((h << 1) + gear[buf[i + 9]!]!) | 0
    if ((h & mask) === 0) return i + 10
    h = ((h << 1) + gear[buf[i + 10]!]!) | 0
    if ((h & mask) === 0) return i + 11
    h = ((h << 1) + gear[buf[i + 11]!]!) | 0
    if ((h & mask) === 0) return i + 12
    h = ((h << 1) + gear[buf[i + 12]!]!) | 0
    if ((h & mask) === 0) return i + 13
    h = ((h << 1) + gear[buf[i + 13]!]!) | 0
    if ((h & mask) === 0) return i + 14
    h = ((h << 1) + gear[buf[i + 14]!]!) | 0
    if ((h & mask) === 0) return i + 15
    h = ((h << 1) + gear[buf[i + 15]!]!) | 0
    if ((h & mask) === 0) return i + 16
  }
  for (; i < stop; i++) {
    h = ((h << 1) + gear[buf[i]!]!) | 0
    if ((h & mask) === 0) return i + 1
  }
  hash[0] = h
  return -1
}

/** A mask of `bits` bits spread evenly from bit 31 down (FastCDC's padded masks): high bits mix the most bytes. */
function spreadMask(bits: number): number {
  let mask = 0
  const step = 32 / bits
  for (let k = 0; k < bits; k++) mask |= 1 << (31 - Math.floor(k * step))
  return mask
}

/** The chunks of a stream of buffers (same rules as `Chunker`: buffers must not be reused). */
export async function* chunkStream(
  source: AsyncIterable<Uint8Array>,
  gear: Uint32Array,
  options?: ChunkerOptions,
): AsyncGenerator<Uint8Array> {
  const chunker = new Chunker(gear, options)
  for await (const buf of source) yield* chunker.push(buf)
  const last = chunker.finish()
  if (last) yield last
}
