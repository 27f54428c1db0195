/**
 * Files Cloudy writes from something that is not a file it can carry as it is, before each
 * sync, and applies back after a down-sync wrote them: dconf settings as text (dconf.ts), and
 * /etc/hosts without this computer's own name (hosts.ts). Staged before a down-sync plans too,
 * so that what changed here and was not sent is a local change the plan keeps.
 */
import type { SyncWarning } from '../sync/warnings.js'
import { loadDconf, stageDconf, type StageMemory } from './dconf.js'
import { applyHosts, SHARED_HOSTS, stageHosts } from './hosts.js'
import type { SpaceSource } from './sources.js'

const carriesHosts = (source: SpaceSource) => source.category === 'system' && source.include.includes(SHARED_HOSTS)

/** Write `source`'s staged files from what they stand for; what could not be, as warnings. `memory` keeps what was staged last. */
export async function stageSource(source: SpaceSource, env: NodeJS.ProcessEnv, memory: StageMemory): Promise<SyncWarning[]> {
  if (source.app?.dconf.length) return stageDconf(source.app, source.root, env, memory)
  if (carriesHosts(source)) return stageHosts(source.root)
  return []
}

/** Apply what a down-sync wrote of `source`'s staged files (`written`: paths relative to its root). */
export async function applyStaged(source: SpaceSource, env: NodeJS.ProcessEnv, written: ReadonlySet<string>): Promise<SyncWarning[]> {
  if (source.app?.dconf.length) return loadDconf(source.app, source.root, env, written)
  if (carriesHosts(source)) return applyHosts(source.root, written)
  return []
}
