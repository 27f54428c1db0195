/**
 * `cloudy check [--read-data]`: verify the vault, the chain's records, and the heads against
 * those this computer saw (a head gone back or gone); exit 7 naming every damaged object.
 */
import { EXIT } from '../../errors.js'
import { checkSpace, type CheckReport } from '../../store/check.js'
import { basesIn, readChain } from '../../sync/chain.js'
import { selectionProblems } from '../../selection/records.js'
import { openSession } from '../context.js'
import { formatBytes, type CliIo } from '../io.js'
import { progressFor } from '../progress.js'
import { allSpaces } from '../../sync/spaces.js'

export interface CheckArgs {
  readData?: boolean
  passwordFile?: string
  json?: boolean
}

export async function check(io: CliIo, args: CheckArgs): Promise<number> {
  const s = await openSession(io, args)
  try {
    const report: CheckReport = { spaces: 0, packs: 0, blobs: 0, commits: 0, bytesRead: 0, problems: [] }
    const chain = await readChain(s.vault, s.db)
    report.problems.push(...chain.problems.filter((p) => !p.stale).map(({ object, message }) => ({ object, message })))
    const selection = await selectionProblems(s.vault)
    report.problems.push(...selection.problems)
    report.stale = [...chain.problems.filter((p) => p.stale).map((p) => p.object), ...selection.stale]
    const epochs = await s.vault.epochProblems()
    report.problems.push(...epochs.problems)
    const names = new Map(chain.devices.map((d) => [d.tag, d.name]))
    const progress = progressFor(io, args.json)
    for (const space of await allSpaces(s.vault, s.db)) {
      // A removed device's head recorded in its removal is the one that counts; its file may go.
      const mayBeGone = new Set([...chain.removals].filter(([, k]) => k.removal.heads?.[space]).map(([tag]) => tag))
      const bar = progress(`check ${space}`)
      const keys = s.vault.space(space)
      await checkSpace(s.provider, keys, report, {
        readData: args.readData,
        progress: bar,
        heads: { seen: s.db.headsSeen(space), mayBeGone, name: (tag) => names.get(tag) },
        bases: basesIn(chain.devices, keys.tag),
      })
      bar.done()
    }
    if (args.json) io.stdout.write(JSON.stringify(report) + '\n')
    else {
      const read = args.readData ? `, ${formatBytes(report.bytesRead)} of data read and verified` : ''
      io.stdout.write(`Checked ${report.packs} packs, ${report.blobs} blobs, ${report.commits} commits${read}.\n`)
      for (const p of report.problems) io.stdout.write(`DAMAGED ${p.object}: ${p.message}\n`)
      // Not damage (no commit needs them): said, without failing the check.
      for (const o of report.orphanPacks ?? [])
        io.stdout.write(
          `ORPHAN ${o.object} (${formatBytes(o.bytes)}): a pack no index lists, left by a stopped up-sync or prune (not damage: the next up-sync of the computer that stored it takes it in, or a prune deletes it once seen for its grace period)\n`,
        )
      if (report.forgotten) io.stdout.write(`${report.forgotten} commits forgotten (forget records): their data is not checked.\n`)
      if (report.unused)
        io.stdout.write(
          `UNUSED ${report.unused.blobs} blobs (${formatBytes(report.unused.bytes)}) that no retained commit and no computer's base uses (not damage: "cloudy prune" removes them)\n`,
        )
      for (const object of report.stale ?? [])
        io.stdout.write(
          `STALE ${object}: sealed with keys a rekey replaced, after the rekey took stock (a computer writing at that moment, or a removed one): not trusted, not used (not damage: a computer writes its own anew at its next up-sync)\n`,
        )
      for (const slot of epochs.staleSlots)
        io.stdout.write(
          `OLD SLOT ${slot}: a key slot of an earlier key epoch, left by a rekey that stopped (its password opens only keys that seal nothing new; "cloudy passwd" removes it)\n`,
        )
      if (s.vault.epoch && epochs.problems.length === 0)
        io.stdout.write(`Key epoch ${s.vault.epoch}: the records of every epoch open, and name the same earlier keys.\n`)
      if (report.condemned) io.stdout.write(`A prune is under way: ${report.condemned} packs are marked for deletion.\n`)
      io.stdout.write(report.problems.length ? `${report.problems.length} problem(s) found.\n` : 'No problems found.\n')
    }
    return report.problems.length ? EXIT.INTEGRITY : EXIT.OK
  } finally {
    await s.close()
  }
}
