/**
 * Blob payload codec: compression decided per blob, recorded in the first byte.
 *
 *   0x00 || bytes           stored as is
 *   0x01 || deflate-raw     RFC 1951, zlib level 1
 *
 * Why these choices: deflate is in every runtime (Node 20 has no zstd), level 1 runs at
 * hundreds of MB/s on text, and inflate at ~2 GB/s. Compressing incompressible data is the
 * expensive mistake (~60 MB/s for nothing), so an order-0 entropy estimate of a 4 KiB sample
 * (microseconds) skips media, archives and encrypted files before zlib ever runs; a blob is
 * kept compressed only when that saves at least 1/8 of its size.
 */
import { deflateRawSync, inflateRawSync } from 'node:zlib'

export const RAW = 0
export const DEFLATE = 1

const SAMPLE = 4096
/** Bits per byte above which a sample is taken as incompressible. */
const ENTROPY_LIMIT = 7.2
const MIN_COMPRESS = 256
const counts = new Uint32Array(256)

/** Shannon entropy (bits per byte) of up to 4 KiB taken from the middle of `buf`. */
export function sampleEntropy(buf: Uint8Array): number {
  const n = Math.min(SAMPLE, buf.length)
  if (n === 0) return 0
  const start = (buf.length - n) >> 1
  counts.fill(0)
  for (let i = start, end = start + n; i < end; i++) counts[buf[i]!]!++
  let h = 0
  for (let i = 0; i < 256; i++) {
    const c = counts[i]!
    if (c) {
      const p = c / n
      h -= p * Math.log2(p)
    }
  }
  return h
}

/** Encode a payload, compressing it when that pays. `compress: false` stores it as is. */
export function encodePayload(plain: Uint8Array, compress = true): Buffer {
  if (compress && plain.length >= MIN_COMPRESS && sampleEntropy(plain) < ENTROPY_LIMIT) {
    const z = deflateRawSync(plain, { level: 1 })
    if (z.length + (z.length >> 3) < plain.length) {
      const out = Buffer.allocUnsafe(z.length + 1)
      out[0] = DEFLATE
      z.copy(out, 1)
      return out
    }
  }
  const out = Buffer.allocUnsafe(plain.length + 1)
  out[0] = RAW
  out.set(plain, 1)
  return out
}

/** Decode a payload; `undefined` if its codec byte is unknown or the data is corrupt. */
export function decodePayload(payload: Uint8Array): Buffer | undefined {
  const body = payload.subarray(1)
  switch (payload[0]) {
    case RAW:
      return Buffer.from(body.buffer, body.byteOffset, body.byteLength)
    case DEFLATE:
      try {
        return inflateRawSync(body)
      } catch {
        return undefined
      }
    default:
      return undefined
  }
}
