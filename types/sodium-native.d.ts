// The subset of sodium-native 5 that Cloudy uses. Only lib/vault/sodium.ts imports it.
declare module 'sodium-native' {
  interface Sodium {
    sodium_malloc(size: number): Buffer
    sodium_memzero(buf: Uint8Array): void
    /** Whether every byte of `buf` is zero (constant time). */
    sodium_is_zero(buf: Uint8Array): boolean
    randombytes_buf(buf: Uint8Array): void
    crypto_generichash(out: Uint8Array, input: Uint8Array, key?: Uint8Array): void
    crypto_generichash_batch(out: Uint8Array, inputs: Uint8Array[], key?: Uint8Array): void
    crypto_aead_xchacha20poly1305_ietf_encrypt(
      c: Uint8Array,
      m: Uint8Array,
      ad: Uint8Array | null,
      nsec: null,
      npub: Uint8Array,
      k: Uint8Array,
    ): number
    crypto_aead_xchacha20poly1305_ietf_decrypt(
      m: Uint8Array,
      nsec: null,
      c: Uint8Array,
      ad: Uint8Array | null,
      npub: Uint8Array,
      k: Uint8Array,
    ): number
    crypto_pwhash_async(
      out: Uint8Array,
      passwd: Uint8Array,
      salt: Uint8Array,
      opslimit: number,
      memlimit: number,
      alg: number,
    ): Promise<void>
    crypto_aead_xchacha20poly1305_ietf_ABYTES: number
    crypto_aead_xchacha20poly1305_ietf_KEYBYTES: number
    crypto_aead_xchacha20poly1305_ietf_NPUBBYTES: number
    crypto_pwhash_ALG_ARGON2ID13: number
    crypto_pwhash_SALTBYTES: number
    crypto_pwhash_OPSLIMIT_INTERACTIVE: number
    crypto_pwhash_MEMLIMIT_INTERACTIVE: number
    crypto_pwhash_OPSLIMIT_MODERATE: number
    crypto_pwhash_MEMLIMIT_MODERATE: number
    crypto_pwhash_OPSLIMIT_SENSITIVE: number
    crypto_pwhash_MEMLIMIT_SENSITIVE: number
    crypto_pwhash_OPSLIMIT_MIN: number
    crypto_pwhash_OPSLIMIT_MAX: number
    crypto_pwhash_MEMLIMIT_MIN: number
    crypto_pwhash_MEMLIMIT_MAX: number
  }
  const sodium: Sodium
  export default sodium
}
