/** `cloudy history [PATH]` and `cloudy restore --at WHEN PATH`. */
import { EXIT, CloudyError, UsageError } from '../../errors.js'
import { formatBytes, type CliIo } from '../io.js'
import { openSession, type Session } from '../context.js'
import { planName } from '../../sync/items.js'
import { sessionSources } from '../../sync/spaces.js'
import type { SpaceSource } from '../../sources/sources.js'
import { table } from '../../text/table.js'
import { applyItems, folderJournal } from '../../sync/apply.js'
import { assertInChain } from '../../sync/chain.js'
import { CommitGraph } from '../../sync/graph.js'
import { allCommits, commitAt, versionsOf } from '../../sync/history.js'
import { entryAt } from '../../sync/merge.js'
import { planDiff, type PlanItem } from '../../sync/plan.js'
import { recordCopies } from '../../sync/copies.js'
import { treeMetaKey } from '../../sync/up.js'
import { Warnings } from '../../sync/warnings.js'

export interface HistoryArgs {
  path?: string
  passwordFile?: string
  json?: boolean
}

export interface RestoreArgs {
  at: string
  path: string
  passwordFile?: string
  json?: boolean
}

const when = (iso: string) => iso.slice(0, 19).replace('T', ' ')

/** A space's store and every commit of it, newest first. */
async function spaceHistory(s: Session, space: string) {
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
function sourceOf(sources: readonly SpaceSource[], arg: string, home: string): { source: SpaceSource; item: string; path: string } {
  const app = sources.find((src) => src.app?.id === arg)
  const item = app ? app.label : planName(arg, home, process.cwd(), sources)
  const source = sources.find((src) => item === src.label || item.startsWith(src.label + '/'))
  if (!source)
    throw new UsageError(`${arg}: no space collected here holds it; spaces: ${sources.map((src) => src.label).join(', ') || 'none'}`)
  return { source, item, path: item.slice(source.label.length + 1) }
}

export async function history(io: CliIo, args: HistoryArgs): Promise<number> {
  const s = await openSession(io, args)
  try {
    const sources = await sessionSources(s)
    const named = args.path ? sourceOf(sources, args.path, s.paths.home) : undefined
    if (!named?.path) {
      // The commits of every space (or of the one named), newest first.
      const rows = []
      for (const source of named ? [named.source] : sources) {
        const { commits } = await spaceHistory(s, source.space)
        for (const c of commits)
          rows.push({ space: source.label, commit: c.id, time: c.commit.time, device: c.commit.deviceName, username: c.commit.username })
      }
      rows.sort((x, y) => y.time.localeCompare(x.time))
      if (args.json) io.stdout.write(JSON.stringify({ commits: rows }) + '\n')
      else
        io.stdout.write(
          table(
            ['TIME (UTC)', 'SPACE', 'DEVICE', 'OS USER', 'COMMIT'],
            rows.map((r) => [when(r.time), r.space, r.device, r.username, r.commit.slice(0, 12)]),
          ),
        )
      return EXIT.OK
    }
    const { item, path: itemPath } = named
    const { store, commits } = await spaceHistory(s, named.source.space)
    const versions = await versionsOf(store, commits, itemPath)
    const rows = versions.map((v) => ({
      commit: v.commit.id,
      time: v.commit.commit.time,
      device: v.commit.commit.deviceName,
      kind: v.entry?.type ?? 'deleted',
      size: v.entry?.size,
      mtime: v.entry ? new Date(Number(BigInt(v.entry.mtimeNs) / 1_000_000n)).toISOString() : undefined,
    }))
    if (args.json) io.stdout.write(JSON.stringify({ item, versions: rows }) + '\n')
    else if (rows.length === 0) io.stdout.write(`${item}: no version in the vault\n`)
    else
      io.stdout.write(
        table(
          ['TIME (UTC)', 'DEVICE', 'VERSION', 'MODIFIED', 'COMMIT'],
          rows.map((r) => [
            when(r.time),
            r.device,
            r.kind === 'file' ? formatBytes(r.size ?? 0) : r.kind,
            r.mtime ? when(r.mtime) : '-',
            r.commit.slice(0, 12),
          ]),
        ),
      )
    return EXIT.OK
  } finally {
    await s.close()
  }
}

/**
 * Bring back `path` as it was at `--at`. The restored version is written like a down-sync
 * writes (atomically); a local version that was never synced is kept beside it under a
 * conflict name. Nothing is deleted. The next up-sync sends the restored version to the chain.
 */
export async function restore(io: CliIo, args: RestoreArgs): Promise<number> {
  const s = await openSession(io, args, { exclusive: true })
  try {
    await assertInChain(s.vault, s.device, s.db)
    const { source, item, path } = sourceOf(await sessionSources(s), args.path, s.paths.home)
    const space = source.space
    const { store, commits } = await spaceHistory(s, space)
    if (!path) throw new CloudyError('EUSAGE', EXIT.USAGE, 'restore: name a file or folder under HOME, not the whole space')
    const at = commitAt(commits, args.at)
    const entry = await entryAt(store, at.commit.tree, path)
    if (!entry)
      throw new CloudyError(
        'ENOVERSION',
        EXIT.FAILED,
        `${item} did not exist at ${when(at.commit.time)} (commit ${at.id.slice(0, 12)} from ${at.commit.deviceName}); "cloudy history ${args.path}" lists its versions`,
      )
    // Planned as a change from the version last synced here to the one asked for, in the
    // parent folder: a local file that is the synced version is replaced; any other is kept.
    const current = await entryAt(store, s.db.getMeta(treeMetaKey(space)), path)
    const parent = path.includes('/') ? path.slice(0, path.lastIndexOf('/')) : ''
    const items: PlanItem[] = []
    for await (const it of planDiff(
      {
        store,
        home: s.paths.home,
        label: source.label,
        cache: s.db.files(space),
        device: at.commit.deviceName,
        thisDevice: s.device.name,
        prefer: 'incoming',
      },
      store.virtualTree({ entries: current ? [current] : [] }),
      store.virtualTree({ entries: [entry] }),
      parent,
    ))
      if (it.op !== 'delete') items.push(it)
    const warnings = new Warnings()
    // Before the apply moves anything aside (see applyDown).
    recordCopies(s.db, space, items)
    const changes = await applyItems({ store, home: s.paths.home, warnings, journal: folderJournal(s.db, space) }, items)
    s.db.updateFiles(space, changes)
    const kept = items.filter((it) => it.resolution?.keep === 'incoming').map((it) => it.resolution!.copy)
    if (args.json)
      io.stdout.write(JSON.stringify({ item, commit: at.id, time: at.commit.time, restored: items.map((it) => it.item), kept }) + '\n')
    else {
      io.stdout.write(
        `Restored ${item} as of ${when(at.commit.time)} (commit ${at.id.slice(0, 12)} from ${at.commit.deviceName}): ${items.length} items written.\n`,
      )
      for (const k of kept) io.stdout.write(`kept the local version as ${k}\n`)
      if (items.length) io.stdout.write('Run "cloudy sync up" to send it to the chain.\n')
    }
    for (const w of warnings.list) io.stderr.write(`warning: ${w.message}\n`)
    // Items whose data is damaged in the vault were listed and not restored; the rest was.
    if (warnings.list.some((w) => w.code === 'EINTEGRITY')) return EXIT.INTEGRITY
    return warnings.size ? EXIT.PARTIAL : EXIT.OK
  } finally {
    await s.close()
  }
}
