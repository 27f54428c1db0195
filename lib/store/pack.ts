/**
 * Pack files: many sealed blobs in one provider object, so a folder of 20,000 small files is
 * a handful of uploads, and the provider sees only opaque random-named objects of ~16 MiB.
 *
 *   sealed blob 1 || sealed blob 2 || … || sealed header || u32le length of sealed header
 *
 * Header plaintext: u32le count, then per blob (in file order, offsets implicit):
 *   u8 type || 32-byte blob id || u32le sealed length || u32le plaintext length
 * sealed with type `packHeader` and the 32-byte pack id as associated id, so a header cannot be
 * moved onto another pack. Pack ids are random (writes stream out before the end is known);
 * integrity comes from the AEAD of every blob and of the header, which `check` verifies.
 */
import type { Provider } from '../../providers/provider.js'
import { BlobType, open } from '../vault/aead.js'

export const ID_BYTES = 32
const ENTRY_BYTES = 1 + ID_BYTES + 4 + 4

/** One blob as listed in a pack header / index. */
export interface PackEntry {
  type: BlobType
  id: Buffer
  /** Offset of the sealed blob in the pack. */
  offset: number
  /** Sealed length in bytes. */
  length: number
  /** Plaintext length (after decompression) in bytes. */
  rawLength: number
}

export function encodeHeader(entries: readonly PackEntry[]): Buffer {
  const out = Buffer.allocUnsafe(4 + entries.length * ENTRY_BYTES)
  out.writeUInt32LE(entries.length, 0)
  let p = 4
  for (const e of entries) {
    out[p] = e.type
    e.id.copy(out, p + 1)
    out.writeUInt32LE(e.length, p + 1 + ID_BYTES)
    out.writeUInt32LE(e.rawLength, p + 5 + ID_BYTES)
    p += ENTRY_BYTES
  }
  return out
}

/** Parse a header plaintext; `undefined` if malformed. */
export function decodeHeader(buf: Buffer): PackEntry[] | undefined {
  if (buf.length < 4) return undefined
  const n = buf.readUInt32LE(0)
  if (buf.length !== 4 + n * ENTRY_BYTES) return undefined
  const entries: PackEntry[] = []
  let offset = 0
  for (let i = 0, p = 4; i < n; i++, p += ENTRY_BYTES) {
    const length = buf.readUInt32LE(p + 1 + ID_BYTES)
    entries.push({
      type: buf[p] as BlobType,
      id: Buffer.from(buf.subarray(p + 1, p + 1 + ID_BYTES)),
      offset,
      length,
      rawLength: buf.readUInt32LE(p + 5 + ID_BYTES),
    })
    offset += length
  }
  return entries
}

export function packKey(spaceTag: string, packId: string): string {
  return `s/${spaceTag}/packs/${packId.slice(0, 2)}/${packId}`
}

/**
 * Read and authenticate the header of pack `pack` (at `key`, `size` bytes) with one of
 * `blobKeys`: its blobs, or what is wrong with it. `whole`: read the whole pack (returned as `data`) instead of two ranges.
 */
export async function readPackHeader(
  provider: Provider,
  blobKeys: readonly Uint8Array[],
  key: string,
  pack: string,
  size: number,
  whole?: boolean,
): Promise<{ entries: PackEntry[]; data?: Uint8Array } | { error: string }> {
  if (size < 4) return { error: `pack is truncated (${size} bytes)` }
  let data: Uint8Array | undefined
  let trailer: Uint8Array
  if (whole) {
    data = await provider.get(key)
    if (data.length !== size) return { error: 'pack changed size while being read' }
    trailer = data.subarray(size - 4)
  } else trailer = await provider.get(key, { offset: size - 4, length: 4 })
  const hlen = Buffer.from(trailer).readUInt32LE(0)
  if (hlen + 4 > size) return { error: 'pack is truncated: its trailer points before its start' }
  const sealed = data ? data.subarray(size - 4 - hlen, size - 4) : await provider.get(key, { offset: size - 4 - hlen, length: hlen })
  // Pack headers are sealed without the payload codec byte (see pack.ts).
  // Any of `blobKeys` (the current epoch's first): a pack keeps the epoch it was written in.
  let plain: Buffer | undefined
  for (const key of blobKeys) if ((plain = open(key, BlobType.packHeader, Buffer.from(pack, 'hex'), sealed))) break
  const entries = plain && decodeHeader(plain)
  if (!entries) return { error: 'pack header fails authentication (pack truncated or damaged)' }
  const last = entries[entries.length - 1]
  if ((last ? last.offset + last.length : 0) !== size - 4 - hlen) return { error: 'pack length does not match its header' }
  return { entries, data }
}
