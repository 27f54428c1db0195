/**
 * Real time with a service on each computer, against any provider: a file written under A's
 * HOME appears under B's with no command typed (A's service up-syncs it on change, B's follows
 * the chain), a deletion follows, and one file edited on both at once ends with both versions
 * on both.
 */
import type { Test } from 'tap'
import { existsSync } from 'node:fs'
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { computer, initVault, joinVault, ok, type Computer } from './cli.js'
import { startService, until } from './service.js'
import type { VaultPlace } from './two-computers.js'

const read = (c: Computer, rel: string) => readFile(join(c.home, 'cfg', rel), 'utf8').catch(() => undefined)

/** The texts of `cfg/a.conf` and its conflict copies on `c`, sorted. */
async function versions(c: Computer): Promise<string[]> {
  const names = (await readdir(join(c.home, 'cfg'))).filter((n) => n.startsWith('a.'))
  return (await Promise.all(names.map((n) => read(c, n)))).map(String).sort((x, y) => x.localeCompare(y))
}

export async function realtimeScenario(t: Test, place: VaultPlace): Promise<void> {
  const a = computer(t)
  const b = computer(t)
  await place.setup(a)
  await place.setup(b)
  await mkdir(join(a.home, 'cfg'))
  await writeFile(join(a.home, 'cfg/a.conf'), 'a\n')
  await initVault(t, a, place.url, ['~/cfg'], 'alpha')
  await ok(t, a, ['sync', 'up'])
  await joinVault(t, b, place.url, ['~/cfg'], 'bravo')
  await ok(t, b, ['sync', 'down', '--yes'])
  const onA = await startService(t, a)
  const onB = await startService(t, b)
  await until(t, "A's service watches the settings", () => /up-sync of apps/.test(onA.log()))

  let started = Date.now()
  await writeFile(join(a.home, 'cfg/new.conf'), 'from A\n')
  await until(t, 'the new file on B', async () => (await read(b, 'new.conf')) === 'from A\n')
  t.comment(`A's write reached B in ${Date.now() - started} ms`)
  t.match(onA.log(), /up-sync of settings \(on change\): published 1 space/, "A's service sent it, on change")

  started = Date.now()
  await rm(join(a.home, 'cfg/new.conf'))
  await until(t, 'the deletion on B', () => !existsSync(join(b.home, 'cfg/new.conf')))
  t.comment(`A's deletion reached B in ${Date.now() - started} ms`)

  // Edited on both at once: neither edit is lost; both versions end on both.
  await Promise.all([writeFile(join(a.home, 'cfg/a.conf'), 'edited on A\n'), writeFile(join(b.home, 'cfg/a.conf'), 'edited on B\n')])
  const both = ['edited on A\n', 'edited on B\n']
  const same = (x: string[]) => x.length === 2 && x[0] === both[0] && x[1] === both[1]
  await until(t, 'both versions on A and on B', async () => same(await versions(a)) && same(await versions(b)), 30_000)
  t.same(await versions(a), both, 'both versions on A')
  t.same(await versions(b), both, 'both versions on B')
  // Said once the files are in place, so a moment after the test sees them.
  await until(t, 'the conflict said in a log', () =>
    /conflict: settings\/cfg\/a\.conf: changed on two computers/.test(onA.log() + onB.log()),
  )
  t.notMatch(onA.log() + onB.log(), /failed/, 'no up-sync or look failed')
  t.notMatch(onA.log() + onB.log(), /change feed stopped/, "a provider's change feed, where it has one, kept working")
}
