/** Two computers of one chain on a local-folder vault, for tampering with the chain's objects. */
import type { Test } from 'tap'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { cloudy, computer, initVault, joinVault, tempDir, type Computer } from './cli.js'

export async function ok(t: Test, c: Computer, args: string[], what: string) {
  const r = await cloudy(c, args)
  t.equal(r.code, 0, `${what}: ${r.stderr}`)
  return r
}

export async function refused(t: Test, c: Computer, args: string[], what: string, message: RegExp | string) {
  const r = await cloudy(c, args)
  t.equal(r.code, 7, `${what}: exit 7 (${r.stdout}${r.stderr})`)
  t.match(r.stdout + r.stderr, message, `${what}: says what is wrong`)
  t.notMatch(r.stderr, /unexpected error/, `${what}: no stack`)
  return r
}

/** A (alpha) up-synced `cfg/f.txt`; B (bravo) joined, up-synced `cfg/b.txt`, and both down-synced. */
export async function pair(t: Test) {
  const vault = tempDir(t, 'vault')
  const a = computer(t)
  await mkdir(join(a.home, 'cfg'))
  await writeFile(join(a.home, 'cfg/f.txt'), 'from A')
  await initVault(t, a, vault, ['~/cfg'], 'alpha')
  await ok(t, a, ['sync', 'up'], 'up A')
  const b = computer(t)
  await joinVault(t, b, vault, ['~/cfg'], 'bravo')
  await ok(t, b, ['sync', 'down', '--yes'], 'down B')
  await writeFile(join(b.home, 'cfg/b.txt'), 'from B')
  await ok(t, b, ['sync', 'up'], 'up B')
  await ok(t, a, ['sync', 'down', '--yes'], 'down A')
  const list = JSON.parse((await ok(t, a, ['chain', 'list', '--json'], 'list')).stdout) as { devices: { tag: string; name: string }[] }
  const tag = (name: string) => list.devices.find((d) => d.name === name)!.tag
  return { vault: join(vault, 'Cloudy'), a, b, aTag: tag('alpha'), bTag: tag('bravo') }
}
