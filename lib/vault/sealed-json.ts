/**
 * Small JSON records of the whole chain (device records, removal markers, the move pointer,
 * OAuth clients): sealed with the `chain` space's blob key, bound to their kind and to what
 * names them (docs/FORMAT.md, "Sealing"), so none can pass for another.
 */
import { decodeJson } from '../store/objects.js'
import { decodePayload, encodePayload } from '../store/codec.js'
import { open, seal, type BlobType } from './aead.js'
import { openSealed, sealedWithOlderKey } from './epochs.js'
import type { Vault } from './vault.js'

/** The space whose blob key seals the chain's records: it holds no data of its own. */
export const CHAIN_SPACE = 'chain'

export function sealJson(vault: Vault, type: BlobType, ad: Uint8Array, value: object): Uint8Array {
  return seal(vault.space(CHAIN_SPACE).blobKey, type, ad, encodePayload(Buffer.from(JSON.stringify(value))))
}

/**
 * The record at provider key `key`, or undefined when it does not open (damaged, another
 * record's, or sealed in an earlier key epoch and not as the rekey found it).
 */
/** Whether the current epoch's key seals `sealed`. */
export function sealedNowJson(vault: Vault, type: BlobType, ad: Uint8Array, sealed: Uint8Array): boolean {
  return !!open(vault.space(CHAIN_SPACE).blobKey, type, ad, sealed)
}

/** Whether `sealed` is stale (lib/vault/epochs.ts, `sealedWithOlderKey`): not damage. */
export function staleJson(vault: Vault, type: BlobType, ad: Uint8Array, sealed: Uint8Array): boolean {
  return sealedWithOlderKey(vault.space(CHAIN_SPACE), type, ad, sealed)
}

export function openJson<T>(vault: Vault, type: BlobType, ad: Uint8Array, sealed: Uint8Array, key: string): T | undefined {
  const payload = openSealed(vault.space(CHAIN_SPACE), type, ad, sealed, { kind: 'named', key })
  const plain = payload && decodePayload(payload)
  return plain ? decodeJson<T>(plain) : undefined
}
