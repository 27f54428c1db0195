/** `cloudy sync up`. */
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { CloudyError, EXIT, LockedError } from '../../errors.js'
import { askMounts } from '../../mount/control.js'
import { APPS_REGISTRY } from '../../apps/app-spaces.js'
import { journaledSpaceNames, JournaledSpaces } from '../../mount/journaled-spaces.js'
import { assertInChain, touchDevice } from '../../sync/chain.js'
import { treeMetaKey, upSync, type UpSyncResult } from '../../sync/up.js'
import { openSession, type Session } from '../context.js'
import { formatBytes, printWarnings, Progress, type CliIo } from '../io.js'
import { sessionPlan } from '../spaces.js'
import { stageSource } from '../../sources/staged.js'
import { stageInventory } from '../../sources/inventory.js'
import type { SyncWarning } from '../../sync/warnings.js'
import { onlyItems, onlyTouches } from '../items.js'

export interface SyncUpArgs {
  only?: string[]
  passwordFile?: string
  json?: boolean
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

export async function syncUp(io: CliIo, args: SyncUpArgs): Promise<number> {
  const s = await openSession(io, args, { exclusive: true })
  try {
    await assertInChain(s.vault, s.device, s.db)
    const { sources, skipped } = await sessionPlan(s, { autoAdd: true })
    const only = onlyItems(args.only, sources, s.paths.home)
    const results: UpSyncResult[] = []
    const stagedWarnings: SyncWarning[] = []
    // One commit per changed space, each on its own: a failure in one leaves the others published.
    for (const source of sources.filter((src) => onlyTouches(only, src))) {
      // This computer's record of what is installed here (sources/inventory.ts).
      if (source.category === 'inventory') await stageInventory(source.root, s.vault.deviceTag(s.device.id), s.device.name, s.env)
      // dconf settings and /etc/hosts are collected as files Cloudy writes (sources/staged.ts).
      stagedWarnings.push(...(await stageSource(source, s.env, s.db)))
      // An application with nothing here and nothing sent before: no commit of an empty tree.
      if (source.app && !s.db.getMeta(treeMetaKey(source.space)) && !source.include.some((p) => existsSync(join(source.root, p)))) continue
      const progress = new Progress(io, `up-sync ${source.label}`)
      results.push({
        ...(await upSync({
          vault: s.vault,
          db: s.db,
          device: { ...s.device, home: source.root },
          space: source.space,
          include: source.include,
          excluded: source.excluded,
          onBytes: progress.add,
        })),
        space: source.label,
      })
      progress.done()
    }
    // What applications wrote through the mount belongs to the apps category, as their files do.
    const written = !only || args.only?.includes(APPS_REGISTRY) ? await upSyncWritten(s) : []
    await touchDevice(s.vault, s.device, results.some((r) => r.commit) || written.some((w) => w.commits.length) ? 'up' : 'seen')
    if (args.json) io.stdout.write(JSON.stringify({ spaces: results, written, skipped }) + '\n')
    else {
      for (const k of skipped) io.stdout.write(`${k.category}: skipped: ${k.why}\n`)
      for (const w of written)
        io.stdout.write(`${w.by}: ${w.commits.length ? `published ${w.commits.map((c) => c.slice(0, 12)).join(', ')}` : 'no change'}\n`)
      for (const r of results) {
        const what = r.commit ? `published ${r.commit.slice(0, 12)}` : 'no change'
        io.stdout.write(
          `${r.space}: ${what}; ${r.stats.blobsAdded} new blobs (${formatBytes(r.stats.plainBytes)}), ${r.stats.packsWritten} packs (${formatBytes(r.stats.packBytes)}) uploaded\n`,
        )
      }
    }
    const warnings = [...stagedWarnings, ...results.flatMap((r) => r.warnings)]
    printWarnings(io, warnings)
    return warnings.length ? EXIT.PARTIAL : EXIT.OK
  } finally {
    await s.close()
  }
}
