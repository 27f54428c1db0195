/** Two computers of one chain on a local-folder vault, for tampering with the chain's objects. */
import type { Test } from 'tap'
import { join } from 'node:path'
import { cloudy, ok, syncedPair, type Computer } from './cli.js'

export { ok }

export async function refused(t: Test, c: Computer, args: string[], what: string, message: RegExp | string) {
  const r = await cloudy(c, args)
  t.equal(r.code, 7, `${what}: exit 7 (${r.stdout}${r.stderr})`)
  t.match(r.stdout + r.stderr, message, `${what}: says what is wrong`)
  t.notMatch(r.stderr, /unexpected error/, `${what}: no stack`)
  return r
}

/** A (alpha) up-synced `cfg/f.txt`; B (bravo) joined, up-synced `cfg/b.txt`, and both down-synced. */
export async function pair(t: Test) {
  const { vault, a, b } = await syncedPair(t, { 'f.txt': 'from A' }, { 'b.txt': 'from B' })
  const list = JSON.parse((await ok(t, a, ['chain', 'list', '--json'], 'list')).stdout) as { devices: { tag: string; name: string }[] }
  const tag = (name: string) => list.devices.find((d) => d.name === name)!.tag
  return { vault: join(vault, 'Cloudy'), a, b, aTag: tag('alpha'), bTag: tag('bravo') }
}
