/**
 * Key epochs (docs/FORMAT.md, "Key epochs"). `passwd --rekey` and `chain remove --rekey` start a
 * new epoch: a new random master key seals everything written from then on; the earlier
 * epochs' keys are sealed inside the new epoch's record, so history stays readable to whoever
 * opens the new key slot, and the old slots are deleted. An old key (an old slot and its
 * password, or a removed computer's memory) then opens nothing written since.
 *
 * An object that opens only with an earlier epoch's key is trusted only as the rekey found it:
 * content-addressed blobs and commits when they hash to their id, index files by name, and
 * rewritable objects (heads, records, marks) when their sealed bytes are the ones recorded. So
 * a holder of an old key cannot slip in a forged object either.
 */
import { decodePayload, encodePayload } from '../store/codec.js'
import { decodeJson } from '../store/objects.js'
import { BlobType, open, seal } from './aead.js'
import { blake2b, secureKey } from './sodium.js'
import { blobId, type EpochTrust, type SpaceKeys } from './keys.js'

/** `keys/epoch-<n>`: the record of epoch n (n ≥ 1). */
export const EPOCH_PREFIX = 'keys/epoch-'

export interface EpochRecord {
  format: 1
  epoch: number
  /** ISO time of the rekey, and who ran it. */
  time: string
  by: string
  byName: string
  /** `passwd` or `chain remove <name>`. */
  reason: string
  /** The master keys of epochs 0 to n-1, base64, oldest first. */
  previous: string[]
  /** What of the vault's earlier objects stays trusted (`EpochTrust`, as JSON). */
  trusted: { objects: Record<string, string>; indexes: Record<string, string[]> }
}

const te = new TextEncoder()

/** The key an epoch's record is sealed with, from that epoch's master key. */
function recordKey(master: Uint8Array): Buffer {
  return blake2b([te.encode('cloudy epoch v1')], master, 32, secureKey()) as Buffer
}

const recordAd = (vaultId: string, epoch: number) => Buffer.from(`${vaultId}/epoch-${epoch}`, 'latin1')

export function sealEpochRecord(vaultId: string, master: Uint8Array, record: EpochRecord): Uint8Array {
  const key = recordKey(master)
  try {
    return seal(key, BlobType.epoch, recordAd(vaultId, record.epoch), encodePayload(Buffer.from(JSON.stringify(record))))
  } finally {
    key.fill(0)
  }
}

/** Epoch `epoch`'s record if `master` is that epoch's key; undefined otherwise. */
export function openEpochRecord(vaultId: string, epoch: number, master: Uint8Array, sealed: Uint8Array): EpochRecord | undefined {
  const key = recordKey(master)
  try {
    const payload = open(key, BlobType.epoch, recordAd(vaultId, epoch), sealed)
    const plain = payload && decodePayload(payload)
    const r = plain && decodeJson<EpochRecord>(plain)
    return r &&
      r.format === 1 &&
      r.epoch === epoch &&
      Array.isArray(r.previous) &&
      r.previous.length === epoch &&
      typeof r.trusted === 'object'
      ? r
      : undefined
  } finally {
    key.fill(0)
  }
}

export function trustOf(record: EpochRecord): EpochTrust {
  return {
    objects: new Map(Object.entries(record.trusted.objects ?? {})),
    indexes: new Map(Object.entries(record.trusted.indexes ?? {}).map(([tag, names]) => [tag, new Set(names)])),
  }
}

/** The hash a rekey records of a rewritable object's sealed bytes. */
export function sealedHash(sealed: Uint8Array): string {
  return Buffer.from(blake2b([sealed], undefined, 32)).toString('hex')
}

/** Where a sealed object comes from, which says how one sealed in an earlier epoch is trusted. */
export type Provenance =
  /** A blob or commit named by the keyed hash of its plaintext: trusted when it hashes to its id. */
  | { kind: 'content' }
  /** An index file: trusted when the rekey listed it. */
  | { kind: 'index'; name: string }
  /** A rewritable object at `key` (a head, a record, a mark): trusted when its bytes are the ones the rekey recorded. */
  | { kind: 'named'; key: string }
  /** Only the current epoch: a pack header taken in without an index file. */
  | { kind: 'current' }

/**
 * How `sealed` opens: its payload, and whether the current epoch's key sealed it; `stale` when
 * only an earlier epoch's key opens it and `from` does not trust it; undefined when nothing
 * opens it (damage).
 */
export function openInEpoch(
  keys: SpaceKeys,
  type: BlobType,
  id: Uint8Array,
  sealed: Uint8Array,
  from: Provenance,
): { payload: Buffer; now: boolean } | 'stale' | undefined {
  const now = open(keys.blobKey, type, id, sealed)
  if (now) return { payload: now, now: true }
  if (from.kind === 'current') return undefined
  for (const key of keys.older) {
    const payload = open(key, type, id, sealed)
    if (payload) return trusted(keys, id, sealed, payload, from) ? { payload, now: false } : 'stale'
  }
  return undefined
}

/**
 * Open `sealed` with the space's current blob key, else with an earlier epoch's when `from`
 * trusts it. Returns the payload (codec byte first, as `open` does), or undefined.
 */
export function openSealed(keys: SpaceKeys, type: BlobType, id: Uint8Array, sealed: Uint8Array, from: Provenance): Buffer | undefined {
  const opened = openInEpoch(keys, type, id, sealed, from)
  return typeof opened === 'object' ? opened.payload : undefined
}

/**
 * Whether a key of an earlier epoch opens `sealed`: an object written with keys a rekey
 * replaced, after the rekey took stock (a computer that had checked for a newer epoch just
 * before, or a removed computer). Not trusted, and not damage either.
 */
export function sealedWithOlderKey(keys: SpaceKeys, type: BlobType, id: Uint8Array, sealed: Uint8Array): boolean {
  return keys.older.some((key) => !!open(key, type, id, sealed))
}

function trusted(keys: SpaceKeys, id: Uint8Array, sealed: Uint8Array, payload: Buffer, from: Provenance): boolean {
  switch (from.kind) {
    case 'content': {
      const plain = decodePayload(payload)
      return !!plain && blobId(keys, plain).equals(Buffer.from(id))
    }
    case 'index':
      return !!keys.trust?.indexes.get(keys.tag)?.has(from.name)
    case 'named':
      return keys.trust?.objects.get(from.key) === sealedHash(sealed)
    default:
      return false
  }
}
