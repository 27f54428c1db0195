/**
 * `cloudy forget [--keep-* …] [--dry-run]` and `cloudy prune [--dry-run] [--max-unused …]`:
 * retention, as restic's commands of those names (lib/sync/forget.ts, lib/sync/prune.ts).
 */
import { EXIT } from '../../errors.js'
import { forget } from '../../sync/forget.js'
import { DEFAULT_GRACE_MS, parseGrace, parseMaxUnused, prune, type SpacePrune } from '../../sync/prune.js'
import { formatPolicy } from '../../sync/retention.js'
import { formatTime } from '../../text/format.js'
import { openSession } from '../context.js'
import { formatBytes, type CliIo } from '../io.js'
import { progressFor } from '../progress.js'
import { keepPolicy } from './selection.js'

export interface ForgetArgs {
  keep: Record<string, string>
  dryRun?: boolean
  prune?: boolean
  passwordFile?: string
  json?: boolean
}

export async function forgetCommand(io: CliIo, args: ForgetArgs & PruneArgs): Promise<number> {
  // Checked before the password is asked for.
  const policy = keepPolicy(args.keep)
  const pruneOptions = args.prune ? pruneOptionsOf(args) : undefined
  const s = await openSession(io, args)
  try {
    const spaces = await forget(s, { policy, dryRun: args.dryRun })
    const pruned = pruneOptions ? await runPrune(io, s, args, pruneOptions) : undefined
    if (args.json) {
      io.stdout.write(
        JSON.stringify({
          dryRun: !!args.dryRun,
          spaces: spaces.map((sp) => ({
            space: sp.space,
            scope: sp.scope,
            policy: formatPolicy(sp.policy),
            kept: sp.kept.map((k) => ({
              commit: k.commit.id,
              time: k.commit.commit.time,
              device: k.commit.commit.deviceName,
              reasons: k.reasons,
            })),
            forgotten: sp.forgotten.map((c) => ({ commit: c.id, time: c.commit.time, device: c.commit.deviceName })),
          })),
          ...(pruned ? { prune: pruned } : {}),
        }) + '\n',
      )
      return EXIT.OK
    }
    let total = 0
    for (const sp of spaces) {
      if (sp.kept.length === 0 && sp.forgotten.length === 0) continue
      total += sp.forgotten.length
      const from = sp.scope ? ` (${sp.scope})` : args.keep && policy ? ' (command line)' : ' (default)'
      io.stdout.write(
        `${sp.space}: keep ${sp.kept.length}, ${args.dryRun ? 'would forget' : 'forget'} ${sp.forgotten.length} commits; policy ${formatPolicy(sp.policy)}${from}\n`,
      )
      for (const c of sp.forgotten) io.stdout.write(`  - ${formatTime(c.commit.time)}  ${c.commit.deviceName}  ${c.id.slice(0, 12)}\n`)
    }
    io.stdout.write(
      args.dryRun
        ? `${total} commits would be forgotten; nothing was changed (--dry-run).\n`
        : `${total} commits forgotten.${total && !pruned ? ' Their data stays until "cloudy prune" removes it.' : ''}\n`,
    )
    if (pruned) printPrune(io, pruned, !!args.dryRun)
    return EXIT.OK
  } finally {
    await s.close()
  }
}

export interface PruneArgs {
  dryRun?: boolean
  maxUnused?: string
  grace?: string
  wait?: boolean
  reencrypt?: boolean
  passwordFile?: string
  json?: boolean
}

function pruneOptionsOf(args: PruneArgs) {
  return {
    dryRun: args.dryRun,
    maxUnused: args.maxUnused === undefined ? undefined : parseMaxUnused(args.maxUnused),
    graceMs: args.grace === undefined ? DEFAULT_GRACE_MS : parseGrace(args.grace),
    wait: args.wait ?? true,
    reencrypt: args.reencrypt,
  }
}

async function runPrune(io: CliIo, s: Awaited<ReturnType<typeof openSession>>, args: PruneArgs, o: ReturnType<typeof pruneOptionsOf>) {
  return prune(s, {
    ...o,
    progress: progressFor(io, args.json),
    onWait: (until) => {
      if (!args.json)
        io.stderr.write(
          `Waiting until ${formatTime(until.toISOString())} (the grace period) before deleting: an up-sync under way on another computer ` +
            'must see the mark first. Stopping now is safe: the next "cloudy prune" deletes.\n',
        )
    },
  })
}

export async function pruneCommand(io: CliIo, args: PruneArgs): Promise<number> {
  const o = pruneOptionsOf(args)
  const s = await openSession(io, args)
  try {
    const spaces = await runPrune(io, s, args, o)
    if (args.json) io.stdout.write(JSON.stringify({ dryRun: !!args.dryRun, spaces }) + '\n')
    else printPrune(io, spaces, !!args.dryRun)
    return EXIT.OK
  } finally {
    await s.close()
  }
}

function printPrune(io: CliIo, spaces: readonly SpacePrune[], dryRun: boolean): void {
  const sum = (f: (r: SpacePrune) => number) => spaces.reduce((n, r) => n + f(r), 0)
  const b = (n: number) => formatBytes(n)
  for (const r of spaces) {
    if (r.before.count === 0 && r.deleted.packs === 0 && r.orphans.count === 0) continue
    io.stdout.write(
      `${r.space}: ${r.before.count} packs (${b(r.before.bytes)}): used ${b(r.used.bytes)}, unused ${b(r.unused.bytes)}; ` +
        `${dryRun ? 'would copy' : 'copied'} ${r.repacked.blobs} blobs (${b(r.repacked.bytes)}) out of ${r.repacked.packs} packs; ` +
        `${dryRun ? 'would mark' : 'marked'} ${r.condemned.count} packs (${b(r.condemned.bytes)}) and ${r.commits} forgotten commits` +
        (r.orphans.count
          ? `; ${r.orphans.count} packs no index lists (${b(r.orphans.bytes)}), left by a stopped up-sync or prune: ${r.orphans.marked} ${dryRun ? 'would be marked' : 'marked'}` +
            (r.orphans.count > r.orphans.marked ? ', the rest once seen here for the grace period' : '')
          : '') +
        (r.reencrypted.packs || r.reencrypted.objects
          ? `; ${dryRun ? 'would seal anew' : 'sealed anew'} with the current keys: ${r.reencrypted.packs} packs (copied out of) and ${r.reencrypted.objects} objects`
          : '') +
        (r.deleted.packs || r.deleted.commits
          ? `; deleted ${r.deleted.packs} packs (${b(r.deleted.bytes)}), ${r.deleted.commits} commits`
          : '') +
        '\n',
    )
  }
  const pending = sum((r) => r.pending)
  io.stdout.write(
    dryRun
      ? `Would free ${b(sum((r) => r.condemned.bytes - r.repacked.bytes))}; nothing was changed (--dry-run).\n`
      : `Deleted ${sum((r) => r.deleted.packs)} packs (${b(sum((r) => r.deleted.bytes))}) and ${sum((r) => r.deleted.commits)} commit objects` +
          (pending ? `; ${pending} marks wait for their grace period: the next "cloudy prune" deletes what they name.` : '.') +
          '\n',
  )
}
