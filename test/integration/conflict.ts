/**
 * Local versions that were never synced meet incoming ones: both are kept (named as the plan
 * says), a folder is never replaced by a file, and the command exits 6 listing them.
 */
import t from 'tap'
import { mkdir, readFile, readdir, symlink, utimes, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { cloudy, computer, initVault, joinVault, tempDir } from '../helpers/cli.js'

t.test('conflicts keep both versions; an update of a synced file goes through', async (t) => {
  const a = computer(t)
  await mkdir(join(a.home, 'cfg'))
  await writeFile(join(a.home, 'cfg/mine'), 'from A')
  await writeFile(join(a.home, 'cfg/same'), 'same')
  await writeFile(join(a.home, 'cfg/kind'), 'a file on A')
  await writeFile(join(a.home, 'cfg/twin'), 'the same dotfile on both')
  const vault = tempDir(t, 'vault')
  await initVault(t, a, vault, ['~/cfg'], 'pc-a')
  t.equal((await cloudy(a, ['sync', 'up'])).code, 0)

  const b = computer(t)
  await joinVault(t, b, vault, ['~/cfg'], 'pc-b')
  await mkdir(join(b.home, 'cfg'))
  await writeFile(join(b.home, 'cfg/mine'), 'from B, never synced')
  const future = new Date(Date.now() + 3600_000)
  await utimes(join(b.home, 'cfg/mine'), future, future)
  await mkdir(join(b.home, 'cfg/kind'))
  await writeFile(join(b.home, 'cfg/twin'), 'the same dotfile on both')
  await utimes(join(b.home, 'cfg/twin'), new Date('2025-01-01'), new Date('2025-01-01'))
  const preview = JSON.parse((await cloudy(b, ['sync', 'down', '--preview', '--json'])).stdout).spaces[0].items
  const byItem = Object.fromEntries(preview.map((i: { item: string; op: string; reason?: string }) => [i.item, i]))
  t.equal(byItem['settings/cfg/mine'].op, 'conflict')
  t.match(byItem['settings/cfg/mine'].reason, /never synced: the incoming version is kept as mine\.conflict-pc-a-\d{8}-\d{6}$/)
  t.same(byItem['settings/cfg/mine'].resolution.keep, 'local', 'the newer local version keeps the name')
  t.equal(byItem['settings/cfg/kind'].op, 'conflict')
  t.match(
    byItem['settings/cfg/kind'].reason,
    /a file is incoming where this computer has a folder: the incoming version is kept as kind\.conflict-pc-a-/,
  )
  t.equal(byItem['settings/cfg/same'].op, 'add')
  t.equal(byItem['settings/cfg/twin'].op, 'update', 'the same bytes with another time: no conflict')

  const down = await cloudy(b, ['sync', 'down', '--yes'])
  t.equal(down.code, 6, 'done, with items in conflict')
  t.match(down.stdout, /conflict: settings\/cfg\/mine: /)
  t.equal(await readFile(join(b.home, 'cfg/mine'), 'utf8'), 'from B, never synced', 'the local change is not overwritten')
  const names = await readdir(join(b.home, 'cfg'))
  const copy = names.find((n) => n.startsWith('mine.conflict-pc-a-'))!
  t.equal(await readFile(join(b.home, 'cfg', copy), 'utf8'), 'from A', 'the incoming version is kept beside it')
  const kindCopy = names.find((n) => n.startsWith('kind.conflict-pc-a-'))!
  t.equal(await readFile(join(b.home, 'cfg', kindCopy), 'utf8'), 'a file on A', 'the folder stays; the file goes beside it')
  t.equal(await readFile(join(b.home, 'cfg/same'), 'utf8'), 'same', 'the rest is applied')

  // A file synced to B and untouched there is updated when A changes it.
  await writeFile(join(a.home, 'cfg/same'), 'changed on A')
  await symlink('same', join(a.home, 'cfg/link'))
  t.equal((await cloudy(a, ['sync', 'up'])).code, 0)
  const again = await cloudy(b, ['sync', 'down', '--preview', '--json'])
  const items = JSON.parse(again.stdout).spaces[0].items.map((i: { op: string; item: string }) => `${i.op} ${i.item}`)
  t.same(items.sort(), ['add settings/cfg/link', 'update settings/cfg/same'], 'an update and an add; the resolved conflicts are gone')
  t.equal((await cloudy(b, ['sync', 'down', '--yes'])).code, 0)
  t.equal(await readFile(join(b.home, 'cfg/same'), 'utf8'), 'changed on A')
})
