/** What other computers of the chain have installed and this one lacks (the inventory category). */
import { missingHere, readInstalled, recordsIn, type InstalledApp } from '../sources/inventory.js'
import type { SpaceSource } from '../sources/sources.js'
import type { DownPlan } from './down.js'
import { treeMetaKey } from './up.js'
import type { Session } from '../session.js'

export interface Missing {
  app: InstalledApp
  /** Names of the computers that have it. */
  on: string[]
}

/**
 * The applications missing here, from the chain's inventory records (the merged tree when
 * something came in, the last synced one else); none when the category is not collected here.
 */
export async function missingApps(s: Session, sources: readonly SpaceSource[], plans: readonly DownPlan[]): Promise<Missing[] | undefined> {
  const i = sources.findIndex((src) => src.category === 'inventory')
  if (i < 0) return undefined
  const plan = plans[i]!
  const records = await recordsIn(plan.store, plan.target ?? s.db.getMeta(treeMetaKey('inventory')))
  const { apps } = await readInstalled(s.env)
  // `[here] skip = ["debian:steam"]`: not on this computer.
  const skip = new Set(s.config.here.skip.filter((x) => /^(debian|flatpak|snap):/.test(x)))
  return missingHere(records, s.vault.deviceTag(s.device.id), apps, skip)
}
