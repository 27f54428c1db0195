/** `cloudy diff [PATH]`: what differs between this computer's files and the chain's (lib/sync/here-vs-chain.ts). */
import { EXIT } from '../../errors.js'
import { sessionSources } from '../../sync/spaces.js'
import { hereVsChain, type FileDifference, type Side } from '../../sync/here-vs-chain.js'
import { formatBytes, formatTime } from '../../text/format.js'
import { openSession } from '../context.js'
import type { CliIo } from '../io.js'

export interface DiffArgs {
  path?: string
  passwordFile?: string
  json?: boolean
}

const side = (x: Side | undefined) => (x ? `${formatBytes(x.size)}, ${formatTime(new Date(x.mtimeMs).toISOString())}` : '-')

function describe(d: FileDifference): string {
  if (d.where === 'here') return `only here: ${d.item} (${side(d.here)})\n`
  if (d.where === 'chain') return `only in the chain: ${d.item} (${side(d.chain)})\n`
  if (d.patch) return d.patch
  return `differs: ${d.item}: here ${side(d.here)}; chain ${side(d.chain)}\n`
}

/** Exit 0 when nothing differs, 1 when something does (as diff(1)). */
export async function diff(io: CliIo, args: DiffArgs): Promise<number> {
  const s = await openSession(io, args)
  try {
    const found = await hereVsChain(s, await sessionSources(s), args.path)
    if (args.json) io.stdout.write(JSON.stringify({ differences: found }) + '\n')
    else if (found.length === 0) io.stdout.write('No difference: the files here are as the chain has them.\n')
    else for (const d of found) io.stdout.write(describe(d))
    return found.length ? EXIT.FAILED : EXIT.OK
  } finally {
    await s.close()
  }
}
