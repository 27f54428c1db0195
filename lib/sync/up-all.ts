/**
 * Up-sync of everything this computer collects: each space of the session's selection (its
 * staged files written first: the inventory record, dconf text, /etc/hosts), then what was
 * written through a mount. The command line, the mount and the service all call this.
 */
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { APPS_REGISTRY } from '../apps/app-spaces.js'
import { CloudyError, EXIT, LockedError } from '../errors.js'
import { askMounts } from '../mount/control.js'
import { journaledSpaceNames, JournaledSpaces } from '../mount/journaled-spaces.js'
import type { Session } from '../session.js'
import { stageInventory } from '../sources/inventory.js'
import { stageSource } from '../sources/staged.js'
import { ownRecordsSealed, ownRecordsToSeal } from '../state/epoch-change.js'
import { resealOwnSelection } from '../selection/records.js'
import { assertInChain, touchDevice } from './chain.js'
import { onlyItems, onlyTouches } from './items.js'
import { toSend } from './to-send.js'
import { noProgress, type ProgressFor } from './progress.js'
import { sessionPlan } from './spaces.js'
import { treeMetaKey, upSync, type UpSyncResult } from './up.js'
import type { SyncWarning } from './warnings.js'

/** When this computer's device record last said it was seen, and how often a no-change up-sync says it again. */
const SEEN_AT = 'device.touched-at'
const SEEN_EVERY_MS = 10 * 60_000

export interface UpAllOptions {
  /** `--only` arguments: categories, application ids, plan names, local paths. */
  only?: readonly string[]
  progress?: ProgressFor
}

export interface UpAllResult {
  /** One result per space up-synced, named by its label (`settings`, `apps/vim`). */
  spaces: UpSyncResult[]
  /** What mounts' journals published, by who published it. */
  written: { by: string; commits: string[] }[]
  /** Categories the selection has on that this computer does not collect, with why. */
  skipped: { category: string; why: string }[]
  /** Everything that was not collected as it should have been (the run goes on; exit 6). */
  warnings: SyncWarning[]
}

/**
 * What was written through a mount (application spaces): a running mount publishes its own
 * journals when asked (only the owner of a journal may); a journal no mount holds — left by a
 * mount that stopped or crashed — is published here.
 */
async function upSyncWritten(s: Session): Promise<{ by: string; commits: string[] }[]> {
  const out: { by: string; commits: string[] }[] = []
  for (const [pid, reply] of await askMounts(s.paths.stateDir, { op: 'up' })) {
    // A refused upload is the storage's failure (exit 5), as in an up-sync run here.
    if (!reply.ok)
      throw new CloudyError('EMOUNTSYNC', reply.exitCode ?? EXIT.PARTIAL, `the mount (process ${pid}) could not up-sync: ${reply.error}`)
    out.push({ by: `mount (process ${pid})`, commits: reply.commits ?? [] })
  }
  const spaces = new JournaledSpaces({ vault: s.vault, db: s.db, device: s.device, stateDir: s.paths.stateDir })
  try {
    for (const name of journaledSpaceNames(s.paths.stateDir)) {
      // Held by a running mount, which was just asked.
      await spaces.get(name).catch((e: unknown) => {
        if (!(e instanceof LockedError)) throw e
      })
    }
    const commits = await spaces.upSync()
    if ((await spaces.opened()).length) out.push({ by: 'journals of stopped mounts', commits })
  } finally {
    await spaces.close()
  }
  return out
}

/** Up-sync every space this computer collects (or those `only` names). One commit per changed space. */
export async function syncUpAll(s: Session, o: UpAllOptions = {}): Promise<UpAllResult> {
  const progress = o.progress ?? noProgress
  await assertInChain(s.vault, s.device, s.db)
  const { sources, skipped } = await sessionPlan(s, { autoAdd: true })
  const only = onlyItems(o.only, sources, s.paths.home)
  const spaces: UpSyncResult[] = []
  const warnings: SyncWarning[] = []
  // Each space on its own: a failure in one leaves the ones before it published.
  for (const source of sources.filter((src) => onlyTouches(only, src))) {
    // This computer's record of what is installed here (sources/inventory.ts).
    if (source.category === 'inventory') await stageInventory(source.root, s.vault.deviceTag(s.device.id), s.device.name, s.env)
    // dconf settings and /etc/hosts are collected as files Cloudy writes (sources/staged.ts).
    warnings.push(...(await stageSource(source, s.env, s.db)))
    // An application with nothing here and nothing sent before: no commit of an empty tree.
    if (source.app && !s.db.getMeta(treeMetaKey(source.space)) && !source.include.some((p) => existsSync(join(source.root, p)))) continue
    const bar = progress(`up-sync ${source.label}`)
    if (bar.total) {
      const { files, bytes } = await toSend(s, source)
      bar.total(files, bytes)
    }
    const result = await upSync({
      vault: s.vault,
      db: s.db,
      device: { ...s.device, home: source.root },
      space: source.space,
      include: source.include,
      excluded: source.excluded,
      onBytes: (n) => bar.add(n),
      onFile: (rel, size) => bar.file?.(rel, size),
    })
    bar.done()
    spaces.push({ ...result, space: source.label })
    warnings.push(...result.warnings)
  }
  // What applications wrote through the mount belongs to the apps category, as their files do.
  const written = !only || o.only?.includes(APPS_REGISTRY) ? await upSyncWritten(s) : []
  const published = spaces.some((r) => r.commit) || written.some((w) => w.commits.length)
  // A no-change up-sync (the service runs many: after each change it applied, at each start)
  // refreshes "last seen" at most every ten minutes: each record write wakes every follower.
  const seenAt = Number(s.db.getMeta(SEEN_AT) ?? 0)
  // After a rekey, this device's records are sealed anew once (lib/state/epoch-change.ts).
  const reseal = ownRecordsToSeal(s.db)
  if (published || reseal || Date.now() - seenAt > SEEN_EVERY_MS) {
    await touchDevice(s.vault, s.device, published ? 'up' : 'seen', s.db)
    s.db.setMeta(SEEN_AT, String(Date.now()))
  }
  if (reseal) {
    await resealOwnSelection(s.vault, s.device.id)
    ownRecordsSealed(s.db)
  }
  return { spaces, written, skipped, warnings }
}
