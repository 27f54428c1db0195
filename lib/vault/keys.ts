/**
 * The key hierarchy below the master key. Every derivation is BLAKE2b keyed by the parent key
 * over a fixed label, so it is one libsodium call and reproducible by any libsodium binding.
 *
 *   master key ──BLAKE2b("cloudy space v1\0" + space name)──▶ space key
 *   space key  ──BLAKE2b("blob")──▶ blob key   (seals every object of the space)
 *              ──BLAKE2b("id")──▶   id key     (blob ids = BLAKE2b keyed by it over plaintext)
 *              ──BLAKE2b("tag")──▶  space tag  (16 bytes, hex: the space's folder name)
 *              ──BLAKE2b("gear")──▶ chunker seed (keyed boundaries: chunk sizes leak nothing)
 *   app/<id> key ──BLAKE2b("home files")──▶ space key of app/<id>/home (the application's HOME files)
 *   master key ──BLAKE2b("cloudy device v1\0" + device id)──▶ device tag
 *
 * After a rekey (key epochs) the first epoch's master key still names everything (tags, blob
 * ids, chunk boundaries, device tags); each epoch's own master key seals what is written in it.
 *
 * Holding one space key opens that space and nothing else: app isolation is cryptographic.
 */
import { blake2b, secureKey } from './sodium.js'

const te = new TextEncoder()

/** The keys of one space. Only what a holder of this space's key can compute. */
export interface SpaceKeys {
  /** Space name: `settings`, `system`, `inventory`, `app/<id>`. */
  readonly name: string
  /** Seals and opens the space's objects (secure memory). */
  readonly blobKey: Buffer
  /** Keys the hash that names blobs (secure memory). */
  readonly idKey: Buffer
  /** Hex folder name of the space on the provider: `s/<tag>/`. */
  readonly tag: string
  /** Seed of the chunker's gear table. */
  readonly gearSeed: Uint8Array
  /**
   * Blob keys of the vault's earlier key epochs, newest first (docs/FORMAT.md, "Key epochs"):
   * what was sealed before the last rekey opens with one of them.
   */
  readonly older: readonly Buffer[]
  /** Which objects sealed in an earlier epoch are still to be trusted; absent in epoch 0. */
  readonly trust?: EpochTrust
}

/** What a rekey recorded as the vault's objects then (docs/FORMAT.md, "Key epochs"). */
export interface EpochTrust {
  /** Rewritable objects by provider key: BLAKE2b-256 (hex) of their sealed bytes at the rekey. */
  objects: ReadonlyMap<string, string>
  /** Index files by space tag: their names at the rekey. */
  indexes: ReadonlyMap<string, ReadonlySet<string>>
}

function derive(parent: Uint8Array, label: string, out: Uint8Array = secureKey()): Uint8Array {
  return blake2b([te.encode(label)], parent, out.length, out)
}

export function spaceKey(master: Uint8Array, space: string): Buffer {
  return derive(master, `cloudy space v1\0${space}`) as Buffer
}

/** The key of an application's home store (`app/<id>/home`), from the application's space key. */
export function homeStoreKey(appKey: Uint8Array): Buffer {
  return derive(appKey, 'home files') as Buffer
}

/**
 * The keys of a space from its key. After a rekey, names (tag, blob ids, chunk boundaries) still
 * come from the first epoch's space key `key`, so nothing stored is renamed, while objects are
 * sealed with the current epoch's `sealing` key; `older` are the earlier epochs' space keys,
 * newest first.
 */
export function spaceKeys(
  space: string,
  key: Uint8Array,
  sealing: Uint8Array = key,
  older: readonly Uint8Array[] = [],
  trust?: EpochTrust,
): SpaceKeys {
  const tag = derive(key, 'tag', Buffer.alloc(16))
  return {
    name: space,
    blobKey: derive(sealing, 'blob') as Buffer,
    idKey: derive(key, 'id') as Buffer,
    tag: Buffer.from(tag).toString('hex'),
    gearSeed: derive(key, 'gear', Buffer.alloc(32)),
    older: older.map((k) => derive(k, 'blob') as Buffer),
    trust,
  }
}

export function deviceTag(master: Uint8Array, deviceId: string): string {
  return Buffer.from(derive(master, `cloudy device v1\0${deviceId}`, Buffer.alloc(16))).toString('hex')
}

/** Blob id: BLAKE2b-256 keyed by the space's id key, over the plaintext. Leaks nothing. */
export function blobId(keys: SpaceKeys, plain: Uint8Array): Buffer {
  return blake2b([plain], keys.idKey) as Buffer
}
