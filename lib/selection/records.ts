/**
 * Where the selection lives (docs/FORMAT.md, "The selection"): one sealed record per device,
 * `selection/<deviceTag>`, written only by that device and holding the whole map as that device
 * knew it. Reading merges every record that opens with the map this computer saw last (kept in
 * its state database): a record replayed from the past, or deleted, can then never take back a
 * choice this computer has seen.
 */
import type { StateDb } from '../state/db.js'
import { BlobType } from '../vault/aead.js'
import { openJson, sealJson, sealedNowJson, staleJson } from '../vault/sealed-json.js'
import type { Vault } from '../vault/vault.js'
import { mergeSelections, setSelection, type SelectionMap } from './selection.js'

const PREFIX = 'selection/'
const SEEN = 'selection'

interface SelectionRecord {
  format: 1
  entries: SelectionMap
}

/** The id a record is sealed under: its device tag, and what it is (a device record cannot pass for one). */
function recordId(tag: string): Buffer {
  return Buffer.concat([Buffer.from(tag, 'hex'), Buffer.from('selection')])
}

/** A map as a record holds it, with the values that are not settings left out. */
function wellFormed(m: unknown): SelectionMap {
  const out: SelectionMap = {}
  if (typeof m !== 'object' || m === null) return out
  for (const [k, s] of Object.entries(m as Record<string, unknown>)) {
    const x = s as Record<string, unknown>
    if (typeof x?.v === 'boolean' && Number.isSafeInteger(x.clock) && typeof x.by === 'string' && typeof x.at === 'string')
      out[k] = { v: x.v, clock: x.clock as number, by: x.by, at: x.at }
  }
  return out
}

/** The map this computer saw last. */
function seen(db: StateDb | undefined): SelectionMap {
  const json = db?.getMeta(SEEN)
  return json ? wellFormed(JSON.parse(json)) : {}
}

/** Every record on the provider: its key, and its map when it opens under its own name. */
async function* records(vault: Vault): AsyncGenerator<{ key: string; map?: SelectionMap; stale?: boolean }> {
  const stored = vault.records(PREFIX)
  for await (const tag of stored.names()) {
    if (!/^[0-9a-f]{32}$/.test(tag)) continue
    const sealed = await stored.get(tag)
    // Deleted since it was listed.
    if (!sealed) continue
    const record = openJson<SelectionRecord>(vault, BlobType.selection, recordId(tag), sealed, stored.key(tag))
    if (!record && staleJson(vault, BlobType.selection, recordId(tag), sealed)) yield { key: stored.key(tag), stale: true }
    else yield { key: stored.key(tag), map: record?.format === 1 ? wellFormed(record.entries) : undefined }
  }
}

/**
 * The records that do not open under their own name (damaged, or moved from another), and those
 * that are stale (docs/FORMAT.md, "Key epochs"; not damage): for `check`.
 */
export async function selectionProblems(vault: Vault): Promise<{ problems: { object: string; message: string }[]; stale: string[] }> {
  const problems: { object: string; message: string }[] = []
  const stale: string[] = []
  for await (const r of records(vault))
    if (r.stale) stale.push(r.key)
    else if (!r.map)
      problems.push({ object: r.key, message: 'selection record fails authentication: damaged, or moved from another device' })
  return { problems, stale }
}

/**
 * This device's record sealed anew with the current epoch's key when an earlier epoch's seals it
 * (trusted as the rekey found it): after a rekey, the earlier keys then open none of it.
 */
export async function resealOwnSelection(vault: Vault, deviceId: string): Promise<void> {
  const tag = vault.deviceTag(deviceId)
  const stored = vault.records(PREFIX)
  const sealed = await stored.get(tag)
  if (!sealed || sealedNowJson(vault, BlobType.selection, recordId(tag), sealed)) return
  const record = openJson<SelectionRecord>(vault, BlobType.selection, recordId(tag), sealed, stored.key(tag))
  if (record) await stored.put(tag, sealJson(vault, BlobType.selection, recordId(tag), record))
}

/** The chain's selection map now: every device's record merged with what this computer saw. */
export async function loadSelectionMap(vault: Vault, db: StateDb | undefined): Promise<SelectionMap> {
  const maps: SelectionMap[] = [seen(db)]
  // A record that does not open is left out (`check` names it); the map seen here, and every
  // other device's record, still hold what it held.
  for await (const r of records(vault)) if (r.map) maps.push(r.map)
  const merged = mergeSelections(...maps)
  db?.setMeta(SEEN, JSON.stringify(merged))
  return merged
}

/** The selection as this computer last saw it, as stored (to notice that it changed). */
export function selectionSeen(db: StateDb): string | undefined {
  return db.getMeta(SEEN)
}

/**
 * Set `changes` in the chain's selection as device `deviceId` and publish this device's record.
 * Returns the new map. `db` is undefined where there is no local state yet (init).
 */
export async function changeSelection(
  vault: Vault,
  db: StateDb | undefined,
  deviceId: string,
  changes: Record<string, boolean>,
): Promise<SelectionMap> {
  const tag = vault.deviceTag(deviceId)
  // Never with keys a rekey on another computer replaced (docs/FORMAT.md, "Key epochs").
  await vault.assertLatestEpoch()
  const map = setSelection(await loadSelectionMap(vault, db), changes, tag)
  const record: SelectionRecord = { format: 1, entries: map }
  await vault.records(PREFIX).put(tag, sealJson(vault, BlobType.selection, recordId(tag), record))
  // A rekey that took stock in between makes the record stale: the change did not happen.
  await vault.assertLatestEpoch()
  // Seen here only once it is published: a failed put leaves nothing that looks chosen.
  db?.setMeta(SEEN, JSON.stringify(map))
  return map
}
