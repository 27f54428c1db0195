/** Down-sync preview (table and JSON) changes nothing; --only applies just the items asked for. */
import t from 'tap'
import { copyFile, mkdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { cloudy, computer, initVault, joinedComputer, tempDir } from '../helpers/cli.js'
import { describeTree } from '../helpers/tree.js'

t.test('preview, partial apply, then the rest', async (t) => {
  const a = computer(t)
  await mkdir(join(a.home, 'cfg/sub'), { recursive: true })
  await writeFile(join(a.home, 'cfg/one'), '1')
  await writeFile(join(a.home, 'cfg/sub/two'), '2')
  await writeFile(join(a.home, 'cfg/sub/three'), '3')
  await writeFile(join(a.home, '.rc'), 'rc')
  // Debris of a crashed down-sync is never collected.
  await writeFile(join(a.home, 'cfg/.one.cloudy-k2j4-a1b2c3-0'), 'half written')
  await initVault(t, a, tempDir(t, 'vault'), ['~/cfg', '~/.rc'])
  t.equal((await cloudy(a, ['sync', 'up'])).code, 0)

  const b = computer(t)
  await copyFile(join(a.cloudyHome, 'config.toml'), join(b.cloudyHome, 'config.toml'))
  const preview = await cloudy(b, ['sync', 'down', '--preview', '--json'])
  t.equal(preview.code, 0, preview.stderr)
  const plan = JSON.parse(preview.stdout).spaces[0]
  t.same(
    plan.items.map((i: { op: string; item: string }) => `${i.op} ${i.item}`),
    [
      'add settings/.rc',
      'add settings/cfg',
      'add settings/cfg/one',
      'add settings/cfg/sub',
      'add settings/cfg/sub/three',
      'add settings/cfg/sub/two',
    ],
  )
  t.same(await describeTree(b.home), [], 'the preview changed nothing')
  const table = await cloudy(b, ['sync', 'down', '--preview'])
  t.match(table.stdout, /ACTION\s+ITEM\s+LOCAL\s+INCOMING/)
  t.match(table.stdout, /add\s+settings\/cfg\/sub\/two\s+-\s+1 B/)

  // One plan name of a file in a folder not selected, one local absolute path.
  const part = await cloudy(b, ['sync', 'down', '--only', 'settings/cfg/sub/two', join(b.home, '.rc'), '--yes'])
  t.equal(part.code, 0, part.stderr)
  t.same(
    (await describeTree(b.home)).filter((e) => e.type === 'file').map((e) => e.path),
    ['.rc', 'cfg/sub/two'],
    'only those two',
  )
  t.equal(await readFile(join(b.home, 'cfg/sub/two'), 'utf8'), '2')

  const rest = await cloudy(b, ['sync', 'down', '--preview', '--json'])
  t.same(
    JSON.parse(rest.stdout).spaces[0].items.map((i: { item: string }) => i.item),
    ['settings/cfg', 'settings/cfg/one', 'settings/cfg/sub', 'settings/cfg/sub/three'].filter(
      (i) => i !== 'settings/cfg' && i !== 'settings/cfg/sub',
    ),
  )
  t.equal((await cloudy(b, ['sync', 'down', '--yes'])).code, 0)
  const { rm, stat, utimes } = await import('node:fs/promises')
  // Seconds as a float, not a Date: Node rounds a Date to the nearest millisecond.
  const cfgTime = (await stat(join(a.home, 'cfg'))).mtimeMs / 1000
  await rm(join(a.home, 'cfg/.one.cloudy-k2j4-a1b2c3-0'))
  await utimes(join(a.home, 'cfg'), cfgTime, cfgTime)
  t.same(await describeTree(b.home), await describeTree(a.home), 'after the rest, B equals A (less the debris)')
  const bad = await cloudy(b, ['sync', 'down', '--only', '/etc/passwd'])
  t.equal(bad.code, 2)
})

t.test('a touch without a content change is no item, yet every computer ends with its time', async (t) => {
  const vault = tempDir(t, 'vault')
  const a = computer(t)
  await mkdir(join(a.home, 'cfg/d'), { recursive: true })
  await writeFile(join(a.home, 'cfg/f'), 'same bytes')
  await writeFile(join(a.home, 'cfg/d/x'), 'x')
  await initVault(t, a, vault, ['~/cfg'], 'a')
  t.equal((await cloudy(a, ['sync', 'up'])).code, 0)
  const b = await joinedComputer(t, vault, ['~/cfg'], 'b')

  // A touches a file, and a folder's content comes and goes (only its time changes).
  const past = new Date('2020-01-02T03:04:05Z')
  await utimes(join(a.home, 'cfg/f'), past, past)
  await writeFile(join(a.home, 'cfg/d/tmp'), 'gone soon')
  await rm(join(a.home, 'cfg/d/tmp'))
  const up = await cloudy(a, ['sync', 'up'])
  t.match(up.stdout, /settings: published/, 'the new times are published')

  const preview = await cloudy(b, ['sync', 'down', '--preview', '--json'])
  t.same(JSON.parse(preview.stdout).spaces[0].items, [], 'no item in the preview')
  t.match((await cloudy(b, ['sync', 'down', '--preview'])).stdout, /Nothing to do/)
  t.match((await cloudy(b, ['status'])).stdout, /0 add, 0 update, 0 delete/, 'status counts no incoming item')
  const down = await cloudy(b, ['sync', 'down'])
  t.equal(down.code, 0, down.stderr)
  t.equal((await stat(join(b.home, 'cfg/f'))).mtimeMs, past.getTime(), "B's file has A's time")
  t.equal(await readFile(join(b.home, 'cfg/f'), 'utf8'), 'same bytes')
  // Neither computer sends its old time back: the chain is settled.
  t.match((await cloudy(b, ['sync', 'up'])).stdout, /settings: no change/)
  t.match((await cloudy(a, ['sync', 'up'])).stdout, /settings: no change/)
})
