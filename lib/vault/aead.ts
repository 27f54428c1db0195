/**
 * Sealed blobs: XChaCha20-Poly1305 (IETF) with a random 24-byte nonce.
 *
 * Format of a sealed blob: `nonce (24) || ciphertext || tag (16)` — exactly what libsodium's
 * `crypto_aead_xchacha20poly1305_ietf_encrypt` produces, prefixed by its nonce.
 * Associated data: `"cloudy1" || type (1 byte) || id`, so a blob cannot be moved to another
 * id or passed off as another kind of object: the swap fails authentication.
 */
import { KEY_BYTES, NONCE_BYTES, TAG_BYTES, sodium } from './sodium.js'

/** Kinds of sealed objects; part of the associated data, so part of the format. */
export const BlobType = {
  data: 1,
  tree: 2,
  commit: 3,
  head: 4,
  index: 5,
  packHeader: 6,
  keySlot: 7,
  device: 8,
  pulse: 9,
  selection: 10,
  moved: 11,
  client: 12,
  forgotten: 13,
  pruneMark: 14,
  epoch: 15,
} as const
export type BlobType = (typeof BlobType)[keyof typeof BlobType]

/** Bytes a sealed blob adds to its plaintext. */
export const SEAL_OVERHEAD = NONCE_BYTES + TAG_BYTES

const AD_PREFIX = Buffer.from('cloudy1', 'latin1')

// Nonces come from a pool refilled by one CSPRNG call per 1,024 seals: a getrandom() per blob
// was a measurable share of up-syncing many small files.
const NONCE_POOL = Buffer.alloc(NONCE_BYTES * 1024)
let noncePos = NONCE_POOL.length

function nextNonce(into: Uint8Array): void {
  if (noncePos === NONCE_POOL.length) {
    sodium.randombytes_buf(NONCE_POOL)
    noncePos = 0
  }
  into.set(NONCE_POOL.subarray(noncePos, noncePos + NONCE_BYTES))
  // Each pool byte is used once: wipe it so a nonce can never repeat from a stale pool.
  NONCE_POOL.fill(0, noncePos, noncePos + NONCE_BYTES)
  noncePos += NONCE_BYTES
}

export function associatedData(type: BlobType, id: Uint8Array): Buffer {
  const ad = Buffer.allocUnsafe(AD_PREFIX.length + 1 + id.length)
  AD_PREFIX.copy(ad, 0)
  ad[AD_PREFIX.length] = type
  ad.set(id, AD_PREFIX.length + 1)
  return ad
}

/** Encrypt `plain` under `key`, bound to `type` and `id`. Writes into `out` when given. */
export function seal(key: Uint8Array, type: BlobType, id: Uint8Array, plain: Uint8Array, out?: Uint8Array): Uint8Array {
  if (key.length !== KEY_BYTES) throw new RangeError(`seal: key must be ${KEY_BYTES} bytes`)
  // A key wiped when its vault was closed: what it would seal no one could ever open. Work that
  // outlived its run fails here instead of storing an object that reads as damage.
  if (sodium.sodium_is_zero(key)) throw new Error('seal: the key was wiped (its vault is closed)')
  const sealed = out ?? Buffer.allocUnsafe(plain.length + SEAL_OVERHEAD)
  const nonce = sealed.subarray(0, NONCE_BYTES)
  nextNonce(nonce)
  sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(
    sealed.subarray(NONCE_BYTES, NONCE_BYTES + plain.length + TAG_BYTES),
    plain,
    associatedData(type, id),
    null,
    nonce,
    key,
  )
  return sealed
}

/**
 * Decrypt a sealed blob. Returns `undefined` when authentication fails (wrong key, damaged
 * bytes, or a blob sealed for another id or type); callers turn that into the right error.
 */
export function open(key: Uint8Array, type: BlobType, id: Uint8Array, sealed: Uint8Array): Buffer | undefined {
  if (sealed.length < SEAL_OVERHEAD) return undefined
  const plain = Buffer.allocUnsafe(sealed.length - SEAL_OVERHEAD)
  try {
    sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(
      plain,
      null,
      sealed.subarray(NONCE_BYTES),
      associatedData(type, id),
      sealed.subarray(0, NONCE_BYTES),
      key,
    )
  } catch {
    return undefined
  }
  return plain
}
