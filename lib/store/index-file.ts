/**
 * Index files: which pack holds which blob, so a reader finds a blob with one ranged read and
 * a writer knows what is already stored without downloading packs.
 *
 * Plaintext (then compressed and sealed with type `index`, the 32-byte index id as id):
 *   u8 version (1) || u32le pack count || pack ids (32 bytes each)
 *   || u32le entry count || entries: u8 type || 32-byte id || u32le pack number
 *      || u32le offset || u32le sealed length || u32le plaintext length
 */
import type { BlobType } from '../vault/aead.js'
import type { BlobLocation } from '../state/db.js'
import { ID_BYTES } from './pack.js'

const ENTRY = 1 + ID_BYTES + 16

export interface IndexEntry extends BlobLocation {
  id: Buffer
}

export function encodeIndex(entries: readonly IndexEntry[]): Buffer {
  const packs = [...new Set(entries.map((e) => e.pack))]
  const packNo = new Map(packs.map((p, i) => [p, i]))
  const out = Buffer.allocUnsafe(1 + 4 + packs.length * ID_BYTES + 4 + entries.length * ENTRY)
  let p = 0
  out[p++] = 1
  out.writeUInt32LE(packs.length, p)
  p += 4
  for (const id of packs) p += out.write(id, p, 'hex')
  out.writeUInt32LE(entries.length, p)
  p += 4
  for (const e of entries) {
    out[p] = e.type
    e.id.copy(out, p + 1)
    out.writeUInt32LE(packNo.get(e.pack)!, p + 1 + ID_BYTES)
    out.writeUInt32LE(e.offset, p + 5 + ID_BYTES)
    out.writeUInt32LE(e.length, p + 9 + ID_BYTES)
    out.writeUInt32LE(e.rawLength, p + 13 + ID_BYTES)
    p += ENTRY
  }
  return out
}

/** Parse an index plaintext; `undefined` if malformed. */
export function decodeIndex(buf: Buffer): IndexEntry[] | undefined {
  if (buf.length < 9 || buf[0] !== 1) return undefined
  const np = buf.readUInt32LE(1)
  let p = 5
  if (buf.length < p + np * ID_BYTES + 4) return undefined
  const packs: string[] = []
  for (let i = 0; i < np; i++, p += ID_BYTES) packs.push(buf.toString('hex', p, p + ID_BYTES))
  const n = buf.readUInt32LE(p)
  p += 4
  if (buf.length !== p + n * ENTRY) return undefined
  const entries: IndexEntry[] = []
  for (let i = 0; i < n; i++, p += ENTRY) {
    const pack = packs[buf.readUInt32LE(p + 1 + ID_BYTES)]
    if (pack === undefined) return undefined
    entries.push({
      type: buf[p] as BlobType,
      id: Buffer.from(buf.subarray(p + 1, p + 1 + ID_BYTES)),
      pack,
      offset: buf.readUInt32LE(p + 5 + ID_BYTES),
      length: buf.readUInt32LE(p + 9 + ID_BYTES),
      rawLength: buf.readUInt32LE(p + 13 + ID_BYTES),
    })
  }
  return entries
}
