/**
 * Small JSON records of the whole chain (device records, removal markers, the move pointer,
 * OAuth clients): sealed with the `chain` space's blob key, bound to their kind and to what
 * names them (docs/FORMAT.md, "Sealing"), so none can pass for another.
 */
import { decodeJson } from '../store/objects.js'
import { decodePayload, encodePayload } from '../store/codec.js'
import { open, seal, type BlobType } from './aead.js'
import type { Vault } from './vault.js'

/** The space whose blob key seals the chain's records: it holds no data of its own. */
export const CHAIN_SPACE = 'chain'

export function sealJson(vault: Vault, type: BlobType, ad: Uint8Array, value: object): Uint8Array {
  return seal(vault.space(CHAIN_SPACE).blobKey, type, ad, encodePayload(Buffer.from(JSON.stringify(value))))
}

/** The record, or undefined when it does not open (damaged, or another record's). */
export function openJson<T>(vault: Vault, type: BlobType, ad: Uint8Array, sealed: Uint8Array): T | undefined {
  const payload = open(vault.space(CHAIN_SPACE).blobKey, type, ad, sealed)
  const plain = payload && decodePayload(payload)
  return plain ? decodeJson<T>(plain) : undefined
}
