/**
 * The synchronization chain: one sealed record per device (computer + OS user) under
 * `devices/<deviceTag>`, written only by that device, and a separate sealed removal marker
 * `devices/<deviceTag>.removed` written by whoever takes a device out. Keeping the marker apart
 * means a removed device that is still running can never undo its removal by rewriting its own
 * record. The marker records the device's heads at that moment: what it published before stays
 * part of the chain's state, what it publishes after is ignored.
 */
import { NotFoundError, UsageError } from '../errors.js'
import type { Provider } from '../../providers/provider.js'
import { decodePayload, encodePayload } from '../store/codec.js'
import { decodeJson, type Head } from '../store/objects.js'
import { BlobType, open, seal } from '../vault/aead.js'
import type { Vault } from '../vault/vault.js'
import type { DeviceIdentity } from './up.js'

/** The space whose keys seal the chain's records (no data lives in it). */
export const CHAIN_SPACE = 'chain'
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
}

export interface RemovalRecord {
  format: 1
  /** Tag of the device that removed it. */
  by: string
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
}

/** The id a record is sealed under: a removal marker cannot pass for a device record, or back. */
function recordId(tag: string, removal: boolean): Buffer {
  return Buffer.concat([Buffer.from(tag, 'hex'), Buffer.from(removal ? REMOVED : '')])
}

function sealRecord(vault: Vault, tag: string, removal: boolean, value: object): Uint8Array {
  return seal(vault.space(CHAIN_SPACE).blobKey, BlobType.device, recordId(tag, removal), encodePayload(Buffer.from(JSON.stringify(value))))
}

function openRecord<T>(vault: Vault, tag: string, removal: boolean, sealed: Uint8Array): T | undefined {
  const payload = open(vault.space(CHAIN_SPACE).blobKey, BlobType.device, recordId(tag, removal), sealed)
  const plain = payload && decodePayload(payload)
  // A record that does not open is ignored, not fatal: the chain listing must still work.
  return plain ? decodeJson<T>(plain) : undefined
}

async function getOptional(provider: Provider, key: string): Promise<Uint8Array | undefined> {
  try {
    return await provider.get(key)
  } catch (e) {
    if (e instanceof NotFoundError) return undefined
    throw e
  }
}

/** Every device of the chain, removed ones included (with their removal). */
export async function listChain(vault: Vault): Promise<ChainDevice[]> {
  const records = new Map<string, ChainDevice>()
  const removals = new Map<string, RemovalRecord>()
  for await (const o of vault.provider.list(PREFIX)) {
    const name = o.key.slice(PREFIX.length)
    const m = /^([0-9a-f]{32})(\.removed)?$/.exec(name)
    if (!m) continue
    const sealed = await getOptional(vault.provider, o.key)
    if (!sealed) continue
    if (m[2]) {
      const r = openRecord<RemovalRecord>(vault, m[1]!, true, sealed)
      if (r) removals.set(m[1]!, r)
    } else {
      const r = openRecord<DeviceRecord>(vault, m[1]!, false, sealed)
      if (r) records.set(m[1]!, { ...r, tag: m[1]! })
    }
  }
  for (const [tag, removal] of removals) {
    const d = records.get(tag)
    if (d) d.removed = removal
  }
  return [...records.values()].sort((a, b) => a.joined.localeCompare(b.joined) || a.tag.localeCompare(b.tag))
}

/** The devices taken out of the chain, by tag. */
export async function removedDevices(vault: Vault): Promise<Map<string, RemovalRecord>> {
  const out = new Map<string, RemovalRecord>()
  for await (const o of vault.provider.list(PREFIX)) {
    const m = /^([0-9a-f]{32})\.removed$/.exec(o.key.slice(PREFIX.length))
    if (!m) continue
    const sealed = await getOptional(vault.provider, o.key)
    const r = sealed && openRecord<RemovalRecord>(vault, m[1]!, true, sealed)
    // A marker that does not open still removes the device (its later heads are not trusted).
    out.set(m[1]!, r || { format: 1, by: '', byName: '?', time: '' })
  }
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

/** The removal of this device, if another device took it out of the chain. */
export async function ownRemoval(vault: Vault, device: DeviceIdentity): Promise<RemovalRecord | undefined> {
  const tag = vault.deviceTag(device.id)
  const sealed = await getOptional(vault.provider, `${PREFIX}${tag}${REMOVED}`)
  return sealed && openRecord<RemovalRecord>(vault, tag, true, sealed)
}

/** Refuse to sync from a device that was taken out of the chain. */
export async function assertInChain(vault: Vault, device: DeviceIdentity): Promise<void> {
  const removal = await ownRemoval(vault, device)
  if (removal) {
    throw new UsageError(
      `this computer (${device.name}) was removed from the chain by ${removal.byName} on ${removal.time}; ` +
        'nothing was synced. To sync it again, remove its [vault] and [device] settings from config.toml and run "cloudy join".',
    )
  }
}

/**
 * Write (or refresh) this device's record. `touch` says what happened: joining, an up-sync or
 * just being seen (a down-sync); earlier fields are kept.
 */
export async function touchDevice(vault: Vault, device: DeviceIdentity, touch: 'join' | 'up' | 'seen'): Promise<DeviceRecord> {
  const tag = vault.deviceTag(device.id)
  const key = `${PREFIX}${tag}`
  const sealed = await getOptional(vault.provider, key)
  const previous = sealed ? openRecord<DeviceRecord>(vault, tag, false, sealed) : undefined
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
  }
  await vault.provider.put(key, sealRecord(vault, tag, false, record))
  return record
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
  self: DeviceIdentity,
  target: ChainDevice,
  heads: Record<string, string>,
): Promise<RemovalRecord> {
  const selfTag = vault.deviceTag(self.id)
  if (target.tag === selfTag) throw new UsageError('that is this computer; remove it from another computer of the chain')
  const removal: RemovalRecord = { format: 1, by: selfTag, byName: self.name, time: new Date().toISOString(), heads }
  await vault.provider.put(`${PREFIX}${target.tag}${REMOVED}`, sealRecord(vault, target.tag, true, removal))
  return removal
}
