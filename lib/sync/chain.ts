/**
 * The synchronization chain: one sealed record per device (computer + OS user) under
 * `devices/<deviceTag>`, written only by that device, and a separate sealed removal marker
 * `devices/<deviceTag>.removed` written by whoever takes a device out. Keeping the marker apart
 * means a removed device that is still running can never undo its removal by rewriting its own
 * record. The marker records the device's heads at that moment: what it published before stays
 * part of the chain's state, what it publishes after is ignored.
 *
 * A marker can be deleted by whoever holds the storage account, so a removal is also kept where
 * deleting it is noticed: every computer that saw it remembers it in its state database, and
 * every device publishes the removals it saw in its own record at each sync. A removal known
 * either way whose marker is gone is refused (exit 7) until `chain remove` writes it again.
 */
import { RollbackError, UsageError } from '../errors.js'
import type { StateDb } from '../state/db.js'
import type { Head } from '../store/objects.js'
import { BlobType } from '../vault/aead.js'
import { openJson, sealJson, staleJson } from '../vault/sealed-json.js'
import type { Vault } from '../vault/vault.js'
import type { DeviceIdentity } from './up.js'

/** The space whose keys seal the chain's records (no data lives in it). */
export { CHAIN_SPACE } from '../vault/sealed-json.js'
const PREFIX = 'devices/'
const REMOVED = '.removed'

export interface DeviceRecord {
  format: 1
  /** Device tag (hex), the record's name on the provider. */
  tag: string
  name: string
  username: string
  hostname: string
  home: string
  /** ISO times. */
  joined: string
  lastUpSync?: string
  lastSeen: string
  /**
   * Every removal this device saw, by tag, published again at each of its syncs: a computer
   * that never saw a marker still learns of the removal, and of the marker being deleted.
   */
  removals?: Record<string, RemovalRecord>
  /**
   * The trees this device's state rests on, by space tag: what it last synced (and what it
   * keeps publishing after a lost state database). Prune keeps them and what they refer to, so
   * the next sync of this device finds its base whole though no kept commit may hold it.
   */
  bases?: Record<string, string[]>
}

export interface RemovalRecord {
  format: 1
  /** Tag of the device that removed it. */
  by: string
  /** Name of the device removed. */
  name?: string
  byName: string
  time: string
  /**
   * The device's head in each space when it was removed (space name -> commit id). What it
   * published before stays part of the chain's state; only what it publishes later is ignored.
   */
  heads?: Record<string, string>
}

export interface ChainDevice extends DeviceRecord {
  removed?: RemovalRecord
  /** The removal is known (remembered here or by another device) but its marker is gone. */
  markerGone?: boolean
}

/** The id a record is sealed under: a removal marker cannot pass for a device record, or back. */
function recordId(tag: string, removal: boolean): Buffer {
  return Buffer.concat([Buffer.from(tag, 'hex'), Buffer.from(removal ? REMOVED : '')])
}

function sealRecord(vault: Vault, tag: string, removal: boolean, value: object): Uint8Array {
  return sealJson(vault, BlobType.device, recordId(tag, removal), value)
}

/** A record that does not open is ignored, not fatal: the chain listing must still work. */
function openRecord<T>(vault: Vault, tag: string, removal: boolean, sealed: Uint8Array): T | undefined {
  return openJson<T>(vault, BlobType.device, recordId(tag, removal), sealed, `${PREFIX}${tag}${removal ? REMOVED : ''}`)
}

/** Something wrong with the chain's records on the provider (for `chain list` and `check`). */
export interface ChainProblem {
  object: string
  message: string
  /** A removal this computer knows of whose marker is gone: the removal would be undone. */
  markerGone?: boolean
  /** Stale (docs/FORMAT.md, "Key epochs"), not damage. */
  stale?: boolean
}

/** A removal as the chain knows it: from its marker, or only remembered here or by another device. */
export interface KnownRemoval {
  removal: RemovalRecord
  /** Where it is known from when its marker is gone. */
  from?: string
}

export interface ChainState {
  /** Every device, removed ones included, sorted by when they joined. */
  devices: ChainDevice[]
  /** Every removal known, by device tag (also of devices whose record is gone). */
  removals: Map<string, KnownRemoval>
  problems: ChainProblem[]
}

const REMEMBERED = 'chain.removals'

/** The removals this computer has seen (a marker deleted later must not undo them). */
export function rememberedRemovals(db: StateDb): Map<string, RemovalRecord> {
  const json = db.getMeta(REMEMBERED)
  return new Map(Object.entries(json ? (JSON.parse(json) as Record<string, RemovalRecord>) : {}))
}

function remember(db: StateDb, removals: Iterable<readonly [string, RemovalRecord]>): void {
  const known = rememberedRemovals(db)
  const before = known.size
  for (const [tag, r] of removals) if (!known.has(tag) && r.by) known.set(tag, r)
  if (known.size !== before) db.setMeta(REMEMBERED, JSON.stringify(Object.fromEntries(known)))
}

/** The removal markers on the provider: each opened, or `undefined` for one that does not open. */
async function readMarkers(vault: Vault): Promise<Map<string, RemovalRecord | undefined>> {
  const out = new Map<string, RemovalRecord | undefined>()
  const records = vault.records(PREFIX)
  for await (const name of records.names()) {
    const m = /^([0-9a-f]{32})\.removed$/.exec(name)
    if (!m) continue
    const sealed = await records.get(name)
    if (sealed) out.set(m[1]!, openRecord<RemovalRecord>(vault, m[1]!, true, sealed))
  }
  return out
}

const short = (tag: string) => tag.slice(0, 8)

/** A removal known from `from` whose marker is gone: a problem, and a reason to refuse. */
function goneMarker(tag: string, r: RemovalRecord, from: string): ChainProblem {
  return {
    object: `${PREFIX}${tag}${REMOVED}`,
    markerGone: true,
    message:
      `the removal marker of ${r.name ?? short(tag)} (${short(tag)}, removed by ${r.byName || '?'} on ${r.time || '?'}) is gone, ` +
      `though ${from} saw it: the storage account was tampered with or serves an old state, and the removed device would sync ` +
      `again. Write the marker again with "cloudy chain remove ${short(tag)}" (the recorded removal is restored as it was).`,
  }
}

/**
 * The whole chain: every device record, every removal (from its marker, remembered in `db`, or
 * recorded in another device's record) and what is wrong. A removal whose marker is gone, a
 * record that does not open under its own name (damaged, or another device's record moved or
 * copied there) are problems; removals seen are remembered in `db`.
 */
export async function readChain(vault: Vault, db?: StateDb): Promise<ChainState> {
  const problems: ChainProblem[] = []
  const sealedRecords = new Map<string, Uint8Array>()
  const stored = vault.records(PREFIX)
  for await (const name of stored.names()) {
    const m = /^([0-9a-f]{32})$/.exec(name)
    const sealed = m && (await stored.get(name))
    if (sealed) sealedRecords.set(m[1]!, sealed)
  }
  const markers = await readMarkers(vault)
  const remembered = db ? rememberedRemovals(db) : new Map<string, RemovalRecord>()
  const records = new Map<string, ChainDevice>()
  const unopened: string[] = []
  for (const [tag, sealed] of sealedRecords) {
    const r = openRecord<DeviceRecord>(vault, tag, false, sealed)
    if (r) records.set(tag, { ...r, tag })
    else unopened.push(tag)
  }
  // A record that does not open under its name may be another device's, swapped or moved.
  const candidates = new Set([...sealedRecords.keys(), ...markers.keys(), ...remembered.keys(), ...(db?.seenDevices() ?? [])])
  for (const tag of unopened) {
    if (staleJson(vault, BlobType.device, recordId(tag, false), sealedRecords.get(tag)!)) {
      problems.push({
        object: `${PREFIX}${tag}`,
        message: 'device record sealed with keys a rekey replaced, after the rekey took stock: not trusted (its device writes it anew)',
        stale: true,
      })
      continue
    }
    const owner = [...candidates].find((c) => c !== tag && openRecord<DeviceRecord>(vault, c, false, sealedRecords.get(tag)!))
    const name = owner && records.get(owner)?.name
    problems.push({
      object: `${PREFIX}${tag}`,
      message: owner
        ? `holds the record of another device (${name ? `${name}, ` : ''}${short(owner)}), moved or copied here: the storage account was tampered with`
        : 'device record fails authentication: damaged, or not a record of this vault',
    })
  }
  const removals = new Map<string, KnownRemoval>()
  for (const [tag, r] of markers) {
    if (r) removals.set(tag, { removal: r })
    else {
      // A marker that does not open still removes the device (its later heads are not trusted).
      removals.set(tag, { removal: remembered.get(tag) ?? { format: 1, by: '', byName: '?', time: '' } })
      problems.push({
        object: `${PREFIX}${tag}${REMOVED}`,
        message: 'removal marker fails authentication; the device is treated as removed',
      })
    }
  }
  // Removals remembered here, or recorded by a device still in the chain, whose marker is gone.
  const claims: [string, RemovalRecord, string][] = [...remembered].map(([tag, r]) => [tag, r, 'this computer'])
  for (const d of records.values())
    if (!removals.has(d.tag) && !remembered.has(d.tag))
      for (const [tag, r] of Object.entries(d.removals ?? {}))
        if (/^[0-9a-f]{32}$/.test(tag) && typeof r?.by === 'string') claims.push([tag, r, `${d.name} (${short(d.tag)})`])
  for (const [tag, r, from] of claims) {
    if (removals.has(tag)) continue
    removals.set(tag, { removal: r, from })
    problems.push(goneMarker(tag, r, from))
  }
  if (db)
    remember(
      db,
      [...removals].map(([tag, k]) => [tag, k.removal] as const),
    )
  for (const [tag, k] of removals) {
    const d = records.get(tag)
    if (d) d.removed = k.removal
    // A removed device whose record is gone is still listed, by what its removal says.
    else
      records.set(tag, {
        format: 1,
        tag,
        name: k.removal.name ?? '?',
        username: '',
        hostname: '',
        home: '',
        joined: '',
        lastSeen: '',
        removed: k.removal,
      })
    if (k.from) records.get(tag)!.markerGone = true
  }
  const devices = [...records.values()].sort((a, b) => a.joined.localeCompare(b.joined) || a.tag.localeCompare(b.tag))
  return { devices, removals, problems }
}

/** Every device of the chain, removed ones included (with their removal). */
export async function listChain(vault: Vault): Promise<ChainDevice[]> {
  return (await readChain(vault)).devices
}

/** Refuse with exit 7 when a removal known here lost its marker: it would be undone. */
function refuseGoneMarkers(problems: readonly ChainProblem[]): void {
  const gone = problems.filter((p) => p.markerGone)
  if (gone.length) throw new RollbackError(`${gone.map((p) => `${p.object}: ${p.message}`).join('\n')}\nNothing was synced.`)
}

/**
 * The devices taken out of the chain, by tag. A removal this computer saw before whose marker
 * is gone is refused (exit 7): deleting the marker must not bring the device back.
 */
export async function removedDevices(vault: Vault, db: StateDb): Promise<Map<string, RemovalRecord>> {
  const remembered = rememberedRemovals(db)
  const out = new Map<string, RemovalRecord>()
  for (const [tag, r] of await readMarkers(vault))
    // A marker that does not open still removes the device (its later heads are not trusted).
    out.set(tag, r ?? remembered.get(tag) ?? { format: 1, by: '', byName: '?', time: '' })
  refuseGoneMarkers([...remembered].filter(([tag]) => !out.has(tag)).map(([tag, r]) => goneMarker(tag, r, 'this computer')))
  remember(db, out)
  return out
}

/**
 * The head of a removed device that still counts in `space`: the one recorded at its removal,
 * else (a space the remover did not know) the head if it is older than the removal.
 */
export function frozenHead(removal: RemovalRecord, space: string, head: Head | undefined): Head | undefined {
  const frozen = removal.heads?.[space]
  if (frozen) return { commit: frozen, seq: 0, time: removal.time }
  return head && removal.time && head.time <= removal.time ? head : undefined
}

/**
 * Refuse to sync from a device that was taken out of the chain (exit 2), and refuse to sync at
 * all when a removal this computer or another device of the chain saw lost its marker (exit 7).
 */
export async function assertInChain(vault: Vault, device: DeviceIdentity, db: StateDb): Promise<void> {
  const chain = await readChain(vault, db)
  refuseGoneMarkers(chain.problems)
  const removal = chain.removals.get(vault.deviceTag(device.id))?.removal
  if (removal) {
    throw new UsageError(
      `this computer (${device.name}) was removed from the chain by ${removal.byName} on ${removal.time}; ` +
        'nothing was synced. To sync it again, run "cloudy join --again" (it comes back as a new device; where files differ, both are kept).',
    )
  }
}

/**
 * Write (or refresh) this device's record. `touch` says what happened: joining, an up-sync or
 * just being seen (a down-sync); earlier fields are kept.
 */
export async function touchDevice(
  vault: Vault,
  device: DeviceIdentity,
  touch: 'join' | 'up' | 'seen',
  db?: StateDb,
): Promise<DeviceRecord> {
  const tag = vault.deviceTag(device.id)
  await vault.assertLatestEpoch()
  const records = vault.records(PREFIX)
  const sealed = await records.get(tag)
  const previous = sealed ? openRecord<DeviceRecord>(vault, tag, false, sealed) : undefined
  const bases = db ? basesOf(vault, db, previous?.bases) : previous?.bases
  // Removals only accumulate: those published before, and every marker there is now.
  const removals = { ...previous?.removals }
  for (const [t, r] of await readMarkers(vault)) if (r) removals[t] ??= r
  const now = new Date().toISOString()
  const record: DeviceRecord = {
    format: 1,
    tag,
    name: device.name,
    username: device.username,
    hostname: device.hostname,
    home: device.home,
    joined: previous?.joined ?? now,
    lastUpSync: touch === 'up' ? now : previous?.lastUpSync,
    lastSeen: now,
    removals: Object.keys(removals).length ? removals : undefined,
    bases: bases && Object.keys(bases).length ? bases : undefined,
  }
  await records.put(tag, sealRecord(vault, tag, false, record))
  // Another process of this computer (a mount, the service, a command) may have recorded a
  // newer base in the state database and written its record before this one landed: the record
  // must end with the bases the database holds, or a prune could delete a tree this computer
  // rests on (docs/FORMAT.md, "Retention and prune"). The last writer looks again and writes anew.
  const after = db && basesOf(vault, db, previous?.bases)
  if (after && JSON.stringify(after) !== JSON.stringify(bases)) return touchDevice(vault, device, touch, db)
  return record
}

/** The bases the chain's devices (removed ones aside) published for the space of tag `tag`. */
export function basesIn(devices: readonly ChainDevice[], tag: string): { tree: string; from: string }[] {
  return devices
    .filter((d) => !d.removed && !d.markerGone)
    .flatMap((d) => (d.bases?.[tag] ?? []).map((tree) => ({ tree, from: `${PREFIX}${d.tag} (base of ${d.name})` })))
}

/**
 * The trees this computer's state rests on per space tag (`DeviceRecord.bases`), from the state
 * database; spaces this process holds no key for keep what the record said (a mount of one
 * application writes only its own).
 */
export function basesOf(vault: Vault, db: StateDb, previous: Record<string, string[]> = {}): Record<string, string[]> {
  const bySpace = new Map<string, Set<string>>()
  for (const [key, value] of db.metaWithPrefix('tree:', 'kept:')) {
    const space = key.slice(key.indexOf(':') + 1)
    if (!vault.holds(space)) continue
    let trees = bySpace.get(space)
    if (!trees) bySpace.set(space, (trees = new Set()))
    trees.add(value)
  }
  const out: Record<string, string[]> = { ...previous }
  for (const [space, trees] of bySpace) out[vault.space(space).tag] = [...trees].sort()
  return out
}

/** Find one device by name or tag prefix; a name that fits several devices is refused. */
export function findDevice(devices: readonly ChainDevice[], which: string): ChainDevice {
  const byTag = devices.filter((d) => which.length >= 4 && d.tag.startsWith(which.toLowerCase()))
  const byName = devices.filter((d) => d.name === which)
  const found = byTag.length ? byTag : byName
  const names = devices.map((d) => `${d.name} (${d.tag.slice(0, 8)})`).join(', ')
  if (found.length === 0) throw new UsageError(`no device "${which}" in the chain; devices: ${names || 'none'}`)
  if (found.length > 1)
    throw new UsageError(
      `"${which}" names ${found.length} devices; name one by its tag instead: ${found.map((d) => d.tag.slice(0, 8)).join(', ')}`,
    )
  return found[0]!
}

/**
 * Take a device out of the chain: what it publishes from now on is ignored by every down-sync.
 * `heads` are its heads now, per space: what it already published stays.
 */
export async function removeDevice(
  vault: Vault,
  db: StateDb,
  self: DeviceIdentity,
  target: ChainDevice,
  heads: Record<string, string>,
): Promise<RemovalRecord> {
  const selfTag = vault.deviceTag(self.id)
  if (target.tag === selfTag) throw new UsageError('that is this computer; remove it from another computer of the chain')
  const removal: RemovalRecord = { format: 1, by: selfTag, byName: self.name, name: target.name, time: new Date().toISOString(), heads }
  await writeRemoval(vault, db, self, target.tag, removal)
  return removal
}

/**
 * Write a removal marker (again, for one whose marker is gone), remember it here and publish it
 * in this device's record, so that deleting the marker later does not undo it.
 */
export async function writeRemoval(vault: Vault, db: StateDb, self: DeviceIdentity, tag: string, removal: RemovalRecord): Promise<void> {
  await vault.records(PREFIX).put(`${tag}${REMOVED}`, sealRecord(vault, tag, true, removal))
  remember(db, [[tag, removal]])
  await touchDevice(vault, self, 'seen')
}
