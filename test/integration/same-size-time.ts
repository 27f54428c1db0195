/**
 * Two versions of one size and one modification time (written in the same clock tick, or a
 * tool that restores times, like `cp -p`): the down-sync compares their content, so the local
 * edit is neither taken for the chain's version nor deleted, and `status` counts it.
 */
import t from 'tap'
import { mkdir, readFile, readdir, rm, utimes, writeFile } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { cloudy, ok, computer, initVault, joinedComputer } from '../helpers/cli.js'
import { tempDir } from '../helpers/temp.js'

/** One whole second: put back exactly, as `cp -p` or `tar` do. */
const WHEN = new Date('2026-01-02T03:04:05Z')

/** Write `text` to `path` with the time `WHEN`: same size and time as every other version here. */
async function writeKeepingTime(path: string, text: string): Promise<void> {
  await writeFile(path, text)
  await utimes(path, WHEN, WHEN)
}

t.test('a local edit of the same size and time is a change, not the chain version', async (t) => {
  const a = computer(t)
  await mkdir(join(a.home, 'cfg'))
  await writeKeepingTime(join(a.home, 'cfg/f.txt'), 'version 0')
  await writeKeepingTime(join(a.home, 'cfg/g.txt'), 'version 0')
  const vault = tempDir(t, 'vault')
  await initVault(t, a, vault, ['~/cfg'], 'pc-a')
  await ok(t, a, ['sync', 'up'])
  const b = await joinedComputer(t, vault, ['~/cfg'], 'pc-b')

  // A edits f and deletes g; B edits both in place, keeping size and time (as `cp -p` would).
  await writeKeepingTime(join(a.home, 'cfg/f.txt'), 'version A')
  await rm(join(a.home, 'cfg/g.txt'))
  await ok(t, a, ['sync', 'up'])
  await writeKeepingTime(join(b.home, 'cfg/f.txt'), 'version B')
  await writeKeepingTime(join(b.home, 'cfg/g.txt'), 'version B')

  const status = JSON.parse((await ok(t, b, ['status', '--json'])).stdout)
  t.equal(status.spaces[0].pending.changed, 2, 'status counts both local edits')

  const down = await cloudy(b, ['sync', 'down', '--yes'])
  t.equal(down.code, 6, `a conflict, not "nothing to do": ${down.stdout}${down.stderr}`)
  t.match(down.stdout, /conflict: settings\/cfg\/f\.txt/)
  const names = await readdir(join(b.home, 'cfg'))
  const texts = await Promise.all(names.map((n) => readFile(join(b.home, 'cfg', n), 'utf8')))
  t.ok(texts.includes('version A'), "A's version is here")
  t.ok(texts.includes('version B'), "B's version is kept")
  t.ok(existsSync(join(b.home, 'cfg/g.txt')), 'a local edit of a file the chain deleted is not deleted')
  t.equal(await readFile(join(b.home, 'cfg/g.txt'), 'utf8'), 'version B')

  // Both versions reach A.
  await ok(t, b, ['sync', 'up'])
  await ok(t, a, ['sync', 'down', '--yes'])
  const onA = await Promise.all((await readdir(join(a.home, 'cfg'))).map((n) => readFile(join(a.home, 'cfg', n), 'utf8')))
  t.same(onA.sort(), texts.sort(), 'A has what B has')
})
