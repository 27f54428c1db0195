/** A local file that differs and was never synced is a conflict: reported, never overwritten (exit 6). */
import t from 'tap'
import { copyFile, mkdir, readFile, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { cloudy, computer, initVault, tempDir } from '../helpers/cli.js'

t.test('conflicts are listed and left alone; an update of a synced file goes through', async (t) => {
  const a = computer(t)
  await mkdir(join(a.home, 'cfg'))
  await writeFile(join(a.home, 'cfg/mine'), 'from A')
  await writeFile(join(a.home, 'cfg/same'), 'same')
  await writeFile(join(a.home, 'cfg/kind'), 'a file on A')
  await initVault(t, a, tempDir(t, 'vault'), ['~/cfg'])
  t.equal((await cloudy(a, ['sync', 'up'])).code, 0)

  const b = computer(t)
  await copyFile(join(a.cloudyHome, 'config.toml'), join(b.cloudyHome, 'config.toml'))
  await mkdir(join(b.home, 'cfg'))
  await writeFile(join(b.home, 'cfg/mine'), 'from B, never synced')
  await mkdir(join(b.home, 'cfg/kind'))
  const preview = JSON.parse((await cloudy(b, ['sync', 'down', '--preview', '--json'])).stdout).spaces[0].items
  const byItem = Object.fromEntries(preview.map((i: { item: string; op: string; reason?: string }) => [i.item, i]))
  t.equal(byItem['settings/cfg/mine'].op, 'conflict')
  t.match(byItem['settings/cfg/mine'].reason, /never synced/)
  t.equal(byItem['settings/cfg/kind'].op, 'conflict')
  t.match(byItem['settings/cfg/kind'].reason, /a file is incoming where this computer has a folder/)
  t.equal(byItem['settings/cfg/same'].op, 'add')

  const down = await cloudy(b, ['sync', 'down', '--yes'])
  t.equal(down.code, 6, 'done, with items left in conflict')
  t.match(down.stderr, /warning: left settings\/cfg\/mine as it is here/)
  t.equal(await readFile(join(b.home, 'cfg/mine'), 'utf8'), 'from B, never synced', 'the local change is not overwritten')
  t.equal(await readFile(join(b.home, 'cfg/same'), 'utf8'), 'same', 'the rest is applied')

  // A file synced to B and untouched there is updated when A changes it.
  await writeFile(join(a.home, 'cfg/same'), 'changed on A')
  await symlink('same', join(a.home, 'cfg/link'))
  t.equal((await cloudy(a, ['sync', 'up'])).code, 0)
  const again = await cloudy(b, ['sync', 'down', '--preview', '--json'])
  const items = JSON.parse(again.stdout).spaces[0].items.map((i: { op: string; item: string }) => `${i.op} ${i.item}`)
  t.ok(items.includes('update settings/cfg/same'), 'an update')
  t.ok(items.includes('add settings/cfg/link'))
  t.equal((await cloudy(b, ['sync', 'down', '--yes'])).code, 6, 'the old conflicts are still there')
  t.equal(await readFile(join(b.home, 'cfg/same'), 'utf8'), 'changed on A')
})
