/**
 * Password -> key-encryption key, with Argon2id (libsodium `crypto_pwhash`). The parameters
 * travel in each key slot, so a vault made with one profile opens on any computer and a
 * profile can be strengthened later with `cloudy passwd --kdf`.
 */
import { UsageError } from '../errors.js'
import { KEY_BYTES, secureKey, sodium } from './sodium.js'

/** Argon2id parameters as stored in a key slot. */
export interface KdfParams {
  alg: 'argon2id13'
  /** Number of passes (libsodium opslimit). */
  opslimit: number
  /** Memory in bytes (libsodium memlimit). */
  memlimit: number
  /** Base64 salt, `crypto_pwhash_SALTBYTES` (16) bytes. */
  salt: string
}

export const KDF_PROFILES = {
  /** ≈ 64 MiB, 2 passes: fast unlock, for tests and weak machines. */
  interactive: { opslimit: sodium.crypto_pwhash_OPSLIMIT_INTERACTIVE, memlimit: sodium.crypto_pwhash_MEMLIMIT_INTERACTIVE },
  /** ≈ 256 MiB, 3 passes: the default (≈ 0.4 s here). */
  moderate: { opslimit: sodium.crypto_pwhash_OPSLIMIT_MODERATE, memlimit: sodium.crypto_pwhash_MEMLIMIT_MODERATE },
  /** ≈ 1 GiB, 4 passes: for the paranoid, several seconds per unlock. */
  sensitive: { opslimit: sodium.crypto_pwhash_OPSLIMIT_SENSITIVE, memlimit: sodium.crypto_pwhash_MEMLIMIT_SENSITIVE },
} as const
export type KdfProfile = keyof typeof KDF_PROFILES

export function kdfParams(profile: string, salt: Uint8Array): KdfParams {
  if (!(profile in KDF_PROFILES)) {
    throw new UsageError(`--kdf: unknown profile "${profile}"; use one of ${Object.keys(KDF_PROFILES).join(', ')}`)
  }
  const p = KDF_PROFILES[profile as KdfProfile]
  return { alg: 'argon2id13', opslimit: p.opslimit, memlimit: p.memlimit, salt: Buffer.from(salt).toString('base64') }
}

/** Checks parameters read from storage: a hostile slot must not make us allocate terabytes. */
export function validKdfParams(p: unknown): p is KdfParams {
  if (typeof p !== 'object' || p === null) return false
  const k = p as Record<string, unknown>
  return (
    k.alg === 'argon2id13' &&
    Number.isInteger(k.opslimit) &&
    (k.opslimit as number) >= sodium.crypto_pwhash_OPSLIMIT_MIN &&
    (k.opslimit as number) <= 64 &&
    Number.isInteger(k.memlimit) &&
    (k.memlimit as number) >= sodium.crypto_pwhash_MEMLIMIT_MIN &&
    (k.memlimit as number) <= 4 * 1024 ** 3 &&
    typeof k.salt === 'string' &&
    Buffer.from(k.salt, 'base64').length === sodium.crypto_pwhash_SALTBYTES
  )
}

/** Derive the key-encryption key, off the event loop, into secure memory. */
export async function deriveKek(password: string, params: KdfParams): Promise<Buffer> {
  const kek = secureKey(KEY_BYTES)
  const pw = Buffer.from(password.normalize('NFC'), 'utf8')
  try {
    await sodium.crypto_pwhash_async(
      kek,
      pw,
      Buffer.from(params.salt, 'base64'),
      params.opslimit,
      params.memlimit,
      sodium.crypto_pwhash_ALG_ARGON2ID13,
    )
  } finally {
    sodium.sodium_memzero(pw)
  }
  return kek
}
