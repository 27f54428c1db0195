/**
 * The pointer a moved vault leaves at its old place (docs/FORMAT.md, "Moving a vault"): where
 * it went, sealed with the chain's blob key, so only computers of the chain can read it and
 * nobody with the old storage account alone can send them elsewhere.
 */
import { CloudyError, EXIT } from '../errors.js'
import { BlobType } from './aead.js'
import { openJson, sealJson } from './sealed-json.js'
import type { Vault } from './vault.js'

/** The pointer's key at the old place. */
export const MOVED_KEY = 'moved'
const AD = Buffer.from('moved')

export interface MovedRecord {
  format: 1
  /** The provider URL and vault folder the vault lives at now. */
  provider: string
  root: string
  time: string
  /** The device that moved it. */
  byName: string
}

export async function writeMoved(vault: Vault, r: MovedRecord): Promise<void> {
  // Through the records, so the pulse tells followers at the old place at once.
  await vault.records('').put(MOVED_KEY, sealJson(vault, BlobType.moved, AD, r))
}

/** Where the vault went, if it moved; a pointer that does not open is damage (exit 7), never followed. */
export async function readMoved(vault: Vault): Promise<MovedRecord | undefined> {
  const sealed = await vault.records('').get(MOVED_KEY)
  if (!sealed) return undefined
  const r = openJson<MovedRecord>(vault, BlobType.moved, AD, sealed, MOVED_KEY)
  if (!r || typeof r.provider !== 'string' || typeof r.root !== 'string')
    throw new CloudyError(
      'EINTEGRITY',
      EXIT.INTEGRITY,
      `the vault's "moved" pointer fails authentication: damaged, or not written by a computer of this chain; it is not followed`,
    )
  return r
}
