/**
 * Where each space of this computer stands: its last up-sync, the local changes not yet sent
 * (by stat, as the up-sync would see them), the incoming changes and the conflicts among them.
 * `cloudy status` prints it, from this process or from the service.
 */
import { readChain } from './chain.js'
import type { Session } from '../session.js'
import { pendingCopies } from './copies.js'
import { pendingChanges, treeFiles } from './pending.js'
import { planSpace } from './plan-space.js'
import { shownItems } from './plan.js'
import { pendingReceived } from './received.js'
import { sessionSources } from './spaces.js'
import { treeMetaKey } from './up.js'

export interface SpaceStatus {
  space: string
  lastUpSync?: string
  pending: { added: number; changed: number; deleted: number }
  incoming: { add: number; update: number; delete: number }
  conflicts: string[]
  /** The files behind the counts (`status -v`): HOME-relative local paths, incoming items as the plan names them. */
  files: {
    pending: { added: string[]; changed: string[]; deleted: string[] }
    incoming: { op: string; item: string; device?: string }[]
  }
}

/** A computer of the chain and its last activity, as `status` shows it. */
export interface DeviceActivity {
  name: string
  tag: string
  self: boolean
  lastUpSync?: string
  lastSeen?: string
  removed: boolean
}

export async function spacesStatus(s: Session): Promise<{ device: string; spaces: SpaceStatus[]; devices: DeviceActivity[] }> {
  const sources = await sessionSources(s)
  const spaces: SpaceStatus[] = []
  for (const source of sources) {
    const plan = await planSpace(s, source)
    const own = (await plan.store.readHeads()).get(s.vault.deviceTag(s.device.id))
    const synced = await treeFiles((id) => plan.store.readTree(id), s.db.getMeta(treeMetaKey(source.space)))
    const cache = s.db.files(source.space)
    const pending = await pendingChanges(source.root, source.include, source.excluded, cache, synced, plan.store.keys)
    // What this computer received, and the conflict copies it made, are sent too.
    const received = await pendingReceived(
      source.root,
      source.include,
      source.excluded,
      cache,
      synced,
      pendingCopies(s.db, source.space),
      plan.store.keys,
    )
    for (const k of ['added', 'changed', 'deleted'] as const) pending[k].push(...received[k])
    const shown = shownItems(plan.items)
    const count = (op: string) => shown.filter((it) => it.op === op).length
    const sorted = (paths: string[]) => [...paths].sort()
    spaces.push({
      space: source.label,
      lastUpSync: own?.time,
      pending: { added: pending.added.length, changed: pending.changed.length, deleted: pending.deleted.length },
      incoming: { add: count('add'), update: count('update'), delete: count('delete') },
      conflicts: plan.items.filter((it) => it.op === 'conflict').map((it) => it.item),
      files: {
        pending: { added: sorted(pending.added), changed: sorted(pending.changed), deleted: sorted(pending.deleted) },
        incoming: shown.map((it) => ({ op: it.op, item: it.item, ...(it.incoming ? { device: it.incoming.device } : {}) })),
      },
    })
  }
  const self = s.vault.deviceTag(s.device.id)
  const devices = (await readChain(s.vault, s.db)).devices.map((d) => ({
    name: d.name,
    tag: d.tag.slice(0, 8),
    self: d.tag === self,
    ...(d.lastUpSync ? { lastUpSync: d.lastUpSync } : {}),
    ...(d.lastSeen ? { lastSeen: d.lastSeen } : {}),
    removed: !!d.removed,
  }))
  return { device: s.device.name, spaces, devices }
}
