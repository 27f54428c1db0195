/** `cloudy chain list` and `cloudy chain remove DEVICE`. */
import { EXIT } from '../../errors.js'
import { findDevice, listChain, removeDevice, type ChainDevice } from '../../sync/chain.js'
import { openSession } from '../context.js'
import type { CliIo } from '../io.js'
import { table } from '../table.js'

export interface ChainArgs {
  passwordFile?: string
  json?: boolean
}

const when = (iso?: string) => (iso ? iso.slice(0, 19).replace('T', ' ') : '-')

export async function chainList(io: CliIo, args: ChainArgs): Promise<number> {
  const s = await openSession(io, args)
  try {
    const self = s.vault.deviceTag(s.device.id)
    const devices = await listChain(s.vault)
    if (args.json) io.stdout.write(JSON.stringify({ devices: devices.map((d) => ({ ...d, self: d.tag === self })) }) + '\n')
    else {
      const rows = devices.map((d: ChainDevice) => [
        (d.tag === self ? '* ' : '  ') + d.name,
        d.tag.slice(0, 8),
        d.username,
        d.hostname,
        when(d.lastUpSync),
        when(d.lastSeen),
        d.removed ? `removed by ${d.removed.byName} ${when(d.removed.time)}` : 'active',
      ])
      io.stdout.write(table(['DEVICE', 'TAG', 'OS USER', 'HOST', 'LAST UP-SYNC', 'LAST SEEN', 'STATE'], rows))
    }
    return EXIT.OK
  } finally {
    await s.close()
  }
}

export async function chainRemove(io: CliIo, args: ChainArgs & { device: string }): Promise<number> {
  const s = await openSession(io, args)
  try {
    const target = findDevice(await listChain(s.vault), args.device)
    if (target.removed) {
      io.stdout.write(`${target.name} (${target.tag.slice(0, 8)}) was already removed by ${target.removed.byName}.\n`)
      return EXIT.OK
    }
    const removal = await removeDevice(s.vault, s.device, target)
    if (args.json) io.stdout.write(JSON.stringify({ removed: target.tag, ...removal }) + '\n')
    else io.stdout.write(`Removed ${target.name} (${target.tag.slice(0, 8)}) from the chain: its up-syncs are ignored from now on.\n`)
    return EXIT.OK
  } finally {
    await s.close()
  }
}
