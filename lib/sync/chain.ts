/**
 * The synchronization chain: one sealed record per device (computer + OS user) under
 * `devices/<deviceTag>`, written only by that device, and a separate sealed removal marker
 * `devices/<deviceTag>.removed` written by whoever takes a device out. Keeping the marker apart
 * means a removed device that is still running can never undo its removal by rewriting its own
 * record; the chain ignores its heads from then on.
 */
import { NotFoundError, UsageError } from '../errors.js'
import type { Provider } from '../../providers/provider.js'
import { decodePayload, encodePayload } from '../store/codec.js'
import { decodeJson } from '../store/objects.js'
import { BlobType, open, seal } from '../vault/aead.js'
import type { Vault } from '../vault/vault.js'
import type { DeviceIdentity } from './up.js'

/** The space whose keys seal the chain's records (no data lives in it). */
const CHAIN_SPACE = 'chain'
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

/** Tags of the devices taken out of the chain. */
export async function removedDevices(vault: Vault): Promise<Set<string>> {
  const out = new Set<string>()
  for await (const o of vault.provider.list(PREFIX)) {
    const m = /^([0-9a-f]{32})\.removed$/.exec(o.key.slice(PREFIX.length))
    if (m) out.add(m[1]!)
  }
  return out
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

/** Take a device out of the chain: its heads are ignored by every down-sync from now on. */
export async function removeDevice(vault: Vault, self: DeviceIdentity, target: ChainDevice): Promise<RemovalRecord> {
  const selfTag = vault.deviceTag(self.id)
  if (target.tag === selfTag) throw new UsageError('that is this computer; remove it from another computer of the chain')
  const removal: RemovalRecord = { format: 1, by: selfTag, byName: self.name, time: new Date().toISOString() }
  await vault.provider.put(`${PREFIX}${target.tag}${REMOVED}`, sealRecord(vault, target.tag, true, removal))
  return removal
}
