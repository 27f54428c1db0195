/**
 * Bringing back a file or folder as it was at a time (`cloudy restore`): planned as a change
 * from the version last synced here to the one asked for, in its parent folder, and written as a
 * down-sync writes (atomically). A local version that was never synced is kept beside it under a
 * conflict name; nothing is deleted. The next up-sync sends the restored version to the chain.
 */
import { formatTime } from '../text/format.js'
import { CloudyError, EXIT, UsageError } from '../errors.js'
import type { Session } from '../session.js'
import type { SpaceSource } from '../sources/sources.js'
import { applyItems, folderJournal } from './apply.js'
import { noProgress, type ProgressFor } from './progress.js'
import { assertInChain } from './chain.js'
import { recordCopies } from './copies.js'
import { CommitGraph } from './graph.js'
import { allCommits, commitAt } from './history.js'
import { planName } from './items.js'
import { entryAt } from './merge.js'
import { planDiff, type PlanItem } from './plan.js'
import { sessionSources } from './spaces.js'
import { treeMetaKey } from './up.js'
import { Warnings, type SyncWarning } from './warnings.js'

const when = formatTime

/** A space's store and every commit of it, newest first. */
export async function spaceHistory(s: Session, space: string) {
  const store = s.vault.store(space, s.db)
  await store.open()
  const graph = new CommitGraph(store, s.db)
  const heads = await store.readHeads()
  const commits = await allCommits(
    graph,
    [...heads.values()].map((h) => h.commit),
  )
  return { store, commits }
}

/**
 * The source a path argument names (`settings/…`, `apps/<id>/…`, an application id, or a local
 * path), and the path inside it ('' for the whole space).
 */
export function sourceOf(sources: readonly SpaceSource[], arg: string, home: string): { source: SpaceSource; item: string; path: string } {
  const app = sources.find((src) => src.app?.id === arg)
  const item = app ? app.label : planName(arg, home, process.cwd(), sources)
  const source = sources.find((src) => item === src.label || item.startsWith(src.label + '/'))
  if (!source)
    throw new UsageError(`${arg}: no space collected here holds it; spaces: ${sources.map((src) => src.label).join(', ') || 'none'}`)
  return { source, item, path: item.slice(source.label.length + 1) }
}

export interface Restored {
  /** The item as the plan names it, and the commit it was taken from. */
  item: string
  commit: string
  time: string
  device: string
  /** The items written, and the names local versions were kept under. */
  restored: string[]
  kept: string[]
  /** What could not be restored (data damaged in the vault: `EINTEGRITY`). */
  warnings: SyncWarning[]
}

/** Restore `arg` (a plan name or a local path) as of `at` (a time or a commit id). The caller holds the sync lock. */
export async function restorePath(s: Session, arg: string, at: string, progress: ProgressFor = noProgress): Promise<Restored> {
  await assertInChain(s.vault, s.device, s.db)
  const { source, item, path } = sourceOf(await sessionSources(s), arg, s.paths.home)
  const space = source.space
  const { store, commits } = await spaceHistory(s, space)
  if (!path) throw new CloudyError('EUSAGE', EXIT.USAGE, 'restore: name a file or folder under HOME, not the whole space')
  const chosen = commitAt(commits, at)
  const entry = await entryAt(store, chosen.commit.tree, path)
  if (!entry)
    throw new CloudyError(
      'ENOVERSION',
      EXIT.FAILED,
      `${item} did not exist at ${when(chosen.commit.time)} (commit ${chosen.id.slice(0, 12)} from ${chosen.commit.deviceName}); "cloudy history ${arg}" lists its versions`,
    )
  // A local file that is the synced version is replaced; any other is kept.
  const current = await entryAt(store, s.db.getMeta(treeMetaKey(space)), path)
  const parent = path.includes('/') ? path.slice(0, path.lastIndexOf('/')) : ''
  const items: PlanItem[] = []
  for await (const it of planDiff(
    {
      store,
      home: s.paths.home,
      label: source.label,
      cache: s.db.files(space),
      device: chosen.commit.deviceName,
      thisDevice: s.device.name,
      prefer: 'incoming',
      everything: true,
    },
    store.virtualTree({ entries: current ? [current] : [] }),
    store.virtualTree({ entries: [entry] }),
    parent,
  ))
    if (it.op !== 'delete') items.push(it)
  const warnings = new Warnings()
  // Before the apply moves anything aside (see applyDown).
  recordCopies(s.db, space, items)
  const bar = progress(`restore ${item}`)
  const files = items.filter((it) => it.entry?.type === 'file')
  bar.total?.(
    files.length,
    files.reduce((n, it) => n + (it.entry!.size ?? 0), 0),
  )
  const changes = await applyItems(
    {
      store,
      home: s.paths.home,
      warnings,
      journal: folderJournal(s.db, space),
      onBytes: (n) => bar.add(n),
      onFile: (path, size) => bar.file?.(path, size),
    },
    items,
  )
  bar.done()
  s.db.updateFiles(space, changes)
  return {
    item,
    commit: chosen.id,
    time: chosen.commit.time,
    device: chosen.commit.deviceName,
    restored: items.map((it) => it.item),
    kept: items.filter((it) => it.resolution?.keep === 'incoming').map((it) => it.resolution!.copy),
    warnings: warnings.list,
  }
}
