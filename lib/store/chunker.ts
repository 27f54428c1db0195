/**
 * Content-defined chunking, FastCDC style (Xia et al., 2016): a gear rolling hash, no cut
 * before `min`, a stricter mask before `avg` and a looser one after it (normalized chunking,
 * level 2), a forced cut at `max`. An insertion shifts only the chunks around it.
 *
 * The gear table is derived from a secret per-space seed (format decision: changing the
 * derivation breaks dedup with existing vaults): 256 uint32 = the first 1 KiB of
 * HMAC-SHA256(seed, "cloudy gear v1" || u32be counter) for counter = 0, 1, … So where chunks
 * are cut — and the chunk sizes the storage could otherwise observe — depends on the key.
 */
import { createHmac } from 'node:crypto'

/** Chunk size bounds in bytes. */
export interface ChunkerOptions {
  /** No cut before this many bytes. Default 512 KiB. */
  min?: number
  /** Target average; a power of two. Default 1 MiB. */
  avg?: number
  /** Forced cut at this many bytes. Default 8 MiB. */
  max?: number
}

export const DEFAULT_CHUNKING = { min: 512 * 1024, avg: 1024 * 1024, max: 8 * 1024 * 1024 } as const

export function gearTable(seed: Uint8Array): Uint32Array {
  const bytes = Buffer.alloc(1024)
  for (let i = 0; i < 32; i++) {
    const counter = Buffer.alloc(4)
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

function validate(o: ChunkerOptions): { min: number; avg: number; max: number } {
  const min = o.min ?? DEFAULT_CHUNKING.min
  const avg = o.avg ?? DEFAULT_CHUNKING.avg
  const max = o.max ?? DEFAULT_CHUNKING.max
  if (!Number.isInteger(avg) || avg < 64 || (avg & (avg - 1)) !== 0)
    throw new RangeError(`chunker avg: ${avg} must be a power of two >= 64`)
  if (!Number.isInteger(min) || min < 1 || min >= avg)
    throw new RangeError(`chunker min: ${min} must be a positive integer below avg (${avg})`)
  if (!Number.isInteger(max) || max <= avg) throw new RangeError(`chunker max: ${max} must be an integer above avg (${avg})`)
  return { min, avg, max }
}

/** Streaming chunker: feed buffers, get whole chunks. */
export class Chunker {
  readonly #gear: Uint32Array
  readonly #min: number
  readonly #avg: number
  readonly #max: number
  readonly #maskS: number
  readonly #maskL: number
  /** Bytes of the current chunk carried over from earlier buffers. */
  #carry: Uint8Array[] = []
  #carryLen = 0
  /** Rolling hash state when a chunk continues past the end of a buffer. */
  #h = 0

  constructor(gear: Uint32Array, options: ChunkerOptions = {}) {
    if (gear.length !== 256) throw new RangeError('chunker gear table must have 256 entries')
    const { min, avg, max } = validate(options)
    this.#gear = gear
    this.#min = min
    this.#avg = avg
    this.#max = max
    const bits = Math.log2(avg)
    // Spread mask bits over the high half of the hash: FastCDC's padded masks.
    this.#maskS = spreadMask(bits + 2)
    this.#maskL = spreadMask(bits - 2)
  }

  /**
   * Cut point in `buf[start, end)` for a chunk that already has `have` bytes: the index just past
   * the cut, or -1 when the chunk continues beyond `end`.
   */
  cutPoint(buf: Uint8Array, start: number, end: number, have = 0): number {
    const gear = this.#gear
    const maskS = this.#maskS
    const maskL = this.#maskL
    let i = start + Math.max(0, this.#min - have)
    if (i >= end) return have + (end - start) >= this.#max ? start + (this.#max - have) : -1
    const normal = start + Math.max(0, this.#avg - have)
    const limit = start + (this.#max - have)
    // The hash starts at zero at the chunk's `min` byte, and carries on across buffers.
    let h = have > this.#min ? this.#h : 0
    const e1 = Math.min(normal, end, limit)
    for (; i < e1; i++) {
      h = ((h << 1) + gear[buf[i]!]!) | 0
      if ((h & maskS) === 0) return i + 1
    }
    const e2 = Math.min(end, limit)
    for (; i < e2; i++) {
      h = ((h << 1) + gear[buf[i]!]!) | 0
      if ((h & maskL) === 0) return i + 1
    }
    if (i >= limit) return limit
    this.#h = h
    return -1
  }

  /** Feed the next bytes; returns the chunks completed by them, in order. */
  push(buf: Uint8Array): Uint8Array[] {
    const out: Uint8Array[] = []
    let pos = 0
    while (pos < buf.length) {
      const cut = this.cutPoint(buf, pos, buf.length, this.#carryLen)
      if (cut < 0) {
        this.#carry.push(buf.subarray(pos))
        this.#carryLen += buf.length - pos
        break
      }
      if (this.#carryLen) {
        this.#carry.push(buf.subarray(pos, cut))
        out.push(Buffer.concat(this.#carry))
        this.#carry = []
        this.#carryLen = 0
      } else out.push(buf.subarray(pos, cut))
      pos = cut
    }
    return out
  }

  /** The last, partial chunk, if any bytes are left. */
  finish(): Uint8Array | undefined {
    if (!this.#carryLen) return undefined
    const last = this.#carry.length === 1 ? this.#carry[0]! : Buffer.concat(this.#carry)
    this.#carry = []
    this.#carryLen = 0
    return last
  }
}

function spreadMask(bits: number): number {
  // Take `bits` bits spread evenly over positions 31..0, top bits first (they mix the most bytes).
  let mask = 0
  const step = 32 / bits
  for (let k = 0; k < bits; k++) mask |= 1 << (31 - Math.floor(k * step))
  return mask | 0
}

/** Chunks of a stream of buffers. */
export async function* chunkStream(
  source: AsyncIterable<Uint8Array>,
  gear: Uint32Array,
  options?: ChunkerOptions,
): AsyncGenerator<Uint8Array> {
  const c = new Chunker(gear, options)
  for await (const buf of source) yield* c.push(buf)
  const last = c.finish()
  if (last) yield last
}
