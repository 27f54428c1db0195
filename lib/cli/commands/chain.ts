/**
 * `cloudy chain list` (exit 7 when a record is damaged or swapped, or a removal lost its marker)
 * and `cloudy chain remove DEVICE` (which also writes again a removal marker that is gone).
 */
import { formatTime } from '../../text/format.js'
import { EXIT } from '../../errors.js'
import { findDevice, readChain, removeDevice, writeRemoval, type ChainDevice } from '../../sync/chain.js'
import { readNewPassword, rekey, REKEYED, type RekeyArgs } from './rekey.js'
import { openSession } from '../context.js'
import { allSpaces } from '../../sync/spaces.js'
import { confirm, type CliIo } from '../io.js'
import { table } from '../../text/table.js'

export interface ChainArgs {
  passwordFile?: string
  json?: boolean
}

const when = (iso?: string) => (iso ? formatTime(iso) : '-')

export async function chainList(io: CliIo, args: ChainArgs): Promise<number> {
  const s = await openSession(io, args)
  try {
    const self = s.vault.deviceTag(s.device.id)
    const { devices, problems } = await readChain(s.vault, s.db)
    if (args.json) io.stdout.write(JSON.stringify({ devices: devices.map((d) => ({ ...d, self: d.tag === self })), problems }) + '\n')
    else {
      const rows = devices.map((d: ChainDevice) => [
        (d.tag === self ? '* ' : '  ') + d.name,
        d.tag.slice(0, 8),
        d.username,
        d.hostname,
        when(d.lastUpSync),
        when(d.lastSeen),
        d.removed ? `removed by ${d.removed.byName} ${when(d.removed.time)}${d.markerGone ? ' (marker gone)' : ''}` : 'active',
      ])
      io.stdout.write(table(['DEVICE', 'TAG', 'OS USER', 'HOST', 'LAST UP-SYNC', 'LAST SEEN', 'STATE'], rows))
      for (const p of problems) io.stdout.write(`${p.stale ? 'STALE' : 'DAMAGED'} ${p.object}: ${p.message}\n`)
    }
    return problems.some((p) => !p.stale) ? EXIT.INTEGRITY : EXIT.OK
  } finally {
    await s.close()
  }
}

export async function chainRemove(
  io: CliIo,
  args: ChainArgs & { device: string; yes?: boolean; rekey?: boolean } & RekeyArgs,
): Promise<number> {
  const s = await openSession(io, args)
  try {
    const target = findDevice((await readChain(s.vault, s.db)).devices, args.device)
    if (target.removed && target.markerGone) {
      // Written again as it was: the heads it recorded stay those that count.
      await writeRemoval(s.vault, s.db, s.device, target.tag, target.removed)
      io.stdout.write(
        `Wrote again the removal marker of ${target.name} (${target.tag.slice(0, 8)}), removed by ${target.removed.byName} on ${when(target.removed.time)}.\n`,
      )
      return EXIT.OK
    }
    if (target.removed) {
      io.stdout.write(`${target.name} (${target.tag.slice(0, 8)}) was already removed by ${target.removed.byName}.\n`)
      return EXIT.OK
    }
    // On a terminal a person confirms: a removal is for good (the device comes back only as a new one).
    if (!args.yes && io.stdin.isTTY && !args.json) {
      const question = `Remove ${target.name} (${target.tag.slice(0, 8)}, ${target.username}@${target.hostname}) from the chain? What it up-syncs from then on is ignored.`
      if (!(await confirm(io, question))) {
        io.stdout.write('Nothing was changed.\n')
        return EXIT.OK
      }
    }
    // Its heads now: what it already published stays in the chain's state.
    const heads: Record<string, string> = {}
    for (const space of await allSpaces(s.vault, s.db)) {
      const head = (await s.vault.store(space, s.db).readHeads()).get(target.tag)
      if (head) heads[space] = head.commit
    }
    // The new password is asked before anything changes.
    const password = args.rekey ? await readNewPassword(io, args) : undefined
    // A lost or stolen computer knows the password and holds the keys: both are replaced
    // first, so that the marker too is sealed with keys it does not hold.
    const epoch = password ? await rekey(s, password, args, `chain remove ${target.name}`) : undefined
    const removal = await removeDevice(s.vault, s.db, s.device, target, heads)
    if (args.json) io.stdout.write(JSON.stringify({ removed: target.tag, ...removal, ...(epoch ? { epoch } : {}) }) + '\n')
    else
      io.stdout.write(
        `Removed ${target.name} (${target.tag.slice(0, 8)}) from the chain: what it up-syncs from now on is ignored; what it up-synced before stays.\n` +
          (epoch ? `Master password changed and the vault rekeyed (key epoch ${epoch}): ${REKEYED}\n` : ''),
      )
    return EXIT.OK
  } finally {
    await s.close()
  }
}
