/**
 * What this computer does once, when it first opens the vault with the keys of a newer epoch
 * than its state database knew (docs/FORMAT.md, "Key epochs"): objects it wrote, or took in,
 * with the earlier keys after that rekey took stock are stale for the chain, and are not
 * counted on from then on.
 */
import type { StateDb } from './db.js'
import type { Vault } from '../vault/vault.js'

/** State database meta: the key epoch of its last session. */
const EPOCH_KEY = 'key-epoch'
/** State database meta: the spaces whose head this device wrote that its next up-sync looks at. */
const HEADS_KEY = 'key-epoch-heads'
/** State database meta: set while this device's records (device, selection) are to be sealed anew. */
const RECORDS_KEY = 'key-epoch-records'

/**
 * The index files taken in that the epoch's record does not list leave the local copy of the
 * index, with the file cache entries naming their blobs: what they list is stored anew, and an
 * index file that is not stale is read again. And each space's next up-sync looks at this
 * device's head once (`ownHeadToLook`), and the next up-sync writes this device's records anew
 * (`ownRecordsToSeal`): the earlier keys then open nothing this device keeps in the vault.
 */
export function settleEpoch(vault: Vault, db: StateDb): void {
  if (vault.epoch <= Number(db.getMeta(EPOCH_KEY) ?? 0)) return
  const spaces = db.indexSpaces()
  for (const space of spaces) {
    const trusted = vault.trustedIndexes(space)
    db.dropIndexes(
      space,
      db.indexNames(space).filter((n) => !trusted.has(n)),
    )
  }
  db.setMeta(HEADS_KEY, JSON.stringify([...new Set([...headsToLook(db), ...spaces])]))
  db.setMeta(RECORDS_KEY, '1')
  db.setMeta(EPOCH_KEY, String(vault.epoch))
}

function headsToLook(db: StateDb): string[] {
  const v = db.getMeta(HEADS_KEY)
  return v ? (JSON.parse(v) as string[]) : []
}

/**
 * Whether the next up-sync of `space` looks at this device's head: if it is stale, it is written
 * anew even when nothing changed here (a computer that never saw it would not see this device's
 * state otherwise).
 */
export function ownHeadToLook(db: StateDb, space: string): boolean {
  return headsToLook(db).includes(space)
}

/** The head of `space` was looked at, and written anew if it had to be. */
export function ownHeadLooked(db: StateDb, space: string): void {
  const rest = headsToLook(db).filter((s) => s !== space)
  if (rest.length) db.setMeta(HEADS_KEY, JSON.stringify(rest))
  else db.deleteMeta(HEADS_KEY)
}

/** Whether the next up-sync seals this device's own records anew (with the current epoch's key). */
export function ownRecordsToSeal(db: StateDb): boolean {
  return db.getMeta(RECORDS_KEY) !== undefined
}

export function ownRecordsSealed(db: StateDb): void {
  db.deleteMeta(RECORDS_KEY)
}
