/**
 * The one door to sodium-native. Default import only: named imports lose half of the addon's
 * exports under ESM. Everything cryptographic in Cloudy goes through the helpers below so the
 * on-storage format stays plain libsodium, readable by libsodium-wrappers-sumo as well.
 */
import sodium from 'sodium-native'

export { sodium }

export const KEY_BYTES = sodium.crypto_aead_xchacha20poly1305_ietf_KEYBYTES
export const NONCE_BYTES = sodium.crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
export const TAG_BYTES = sodium.crypto_aead_xchacha20poly1305_ietf_ABYTES

/** A key-sized buffer in sodium's guarded memory (not swapped out, zeroed on free). */
export function secureKey(bytes = KEY_BYTES): Buffer {
  return sodium.sodium_malloc(bytes)
}

export function randomBytes(n: number): Buffer {
  const b = Buffer.allocUnsafe(n)
  sodium.randombytes_buf(b)
  return b
}

/** BLAKE2b of `parts` (concatenated), keyed when `key` is given, `outBytes` long (16..64). */
export function blake2b(parts: Uint8Array[], key?: Uint8Array, outBytes = 32, out?: Uint8Array): Uint8Array {
  const o = out ?? Buffer.allocUnsafe(outBytes)
  if (parts.length === 1) sodium.crypto_generichash(o, parts[0]!, key)
  else sodium.crypto_generichash_batch(o, parts, key)
  return o
}

export function wipe(buf: Uint8Array): void {
  sodium.sodium_memzero(buf)
}
