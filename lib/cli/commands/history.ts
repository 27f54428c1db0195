/** `cloudy history [PATH]` and `cloudy restore --at WHEN PATH`. */
import { formatTime } from '../../text/format.js'
import { EXIT } from '../../errors.js'
import { formatBytes, type CliIo } from '../io.js'
import { progressFor } from '../progress.js'
import { openSession } from '../context.js'
import { sessionSources } from '../../sync/spaces.js'
import { table } from '../../text/table.js'
import { describeChange, versionsOf } from '../../sync/history.js'
import { restorePath, sourceOf, spaceHistory } from '../../sync/restore.js'

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

const when = formatTime

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
    const changes = await Promise.all(versions.map((v, i) => describeChange(store, v, versions[i + 1])))
    const rows = versions.map((v, i) => ({
      commit: v.commit.id,
      time: v.commit.commit.time,
      device: v.commit.commit.deviceName,
      kind: v.entry?.type ?? 'deleted',
      size: v.entry?.size,
      mtime: v.entry ? new Date(Number(BigInt(v.entry.mtimeNs) / 1_000_000n)).toISOString() : undefined,
      change: changes[i]!,
    }))
    if (args.json) io.stdout.write(JSON.stringify({ item, versions: rows }) + '\n')
    else if (rows.length === 0) io.stdout.write(`${item}: no version in the vault\n`)
    else
      io.stdout.write(
        table(
          ['TIME (UTC)', 'DEVICE', 'VERSION', 'MODIFIED', 'COMMIT', 'CHANGE'],
          rows.map((r) => [
            when(r.time),
            r.device,
            r.kind === 'file' ? formatBytes(r.size ?? 0) : r.kind,
            r.mtime ? when(r.mtime) : '-',
            r.commit.slice(0, 12),
            r.change,
          ]),
        ),
      )
    return EXIT.OK
  } finally {
    await s.close()
  }
}

/** `cloudy restore --at WHEN PATH` (lib/sync/restore.ts). */
export async function restore(io: CliIo, args: RestoreArgs): Promise<number> {
  const s = await openSession(io, args, { exclusive: true })
  try {
    const r = await restorePath(s, args.path, args.at, progressFor(io, args.json))
    if (args.json)
      io.stdout.write(JSON.stringify({ item: r.item, commit: r.commit, time: r.time, restored: r.restored, kept: r.kept }) + '\n')
    else {
      io.stdout.write(
        `Restored ${r.item} as of ${when(r.time)} (commit ${r.commit.slice(0, 12)} from ${r.device}): ${r.restored.length} items written.\n`,
      )
      for (const k of r.kept) io.stdout.write(`kept the local version as ${k}\n`)
      if (r.restored.length) io.stdout.write('Run "cloudy sync up" to send it to the chain.\n')
    }
    for (const w of r.warnings) io.stderr.write(`warning: ${w.message}\n`)
    // Items whose data is damaged in the vault were listed and not restored; the rest was.
    if (r.warnings.some((w) => w.code === 'EINTEGRITY')) return EXIT.INTEGRITY
    return r.warnings.length ? EXIT.PARTIAL : EXIT.OK
  } finally {
    await s.close()
  }
}
