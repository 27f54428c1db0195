/**
 * One selection for the chain: a path added with `cloudy add` on A is collected on B without
 * B's configuration changing, B's edit of it reaches A, and `[here] skip` keeps it off a
 * computer. Bad selection values are refused by name (exit 2), changing nothing.
 */
import t from 'tap'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { cloudy, computer, initVault, joinVault, ok, setSettingsList, tempDir } from '../helpers/cli.js'

t.test('a path added on A is collected and applied everywhere; edits travel back; skip keeps it off', async (t) => {
  const vault = tempDir(t, 'vault')
  const a = computer(t)
  const b = computer(t)
  const c = computer(t)
  await initVault(t, a, vault, [], 'alpha')
  await joinVault(t, b, vault, [], 'bravo')
  await joinVault(t, c, vault, [], 'charlie')
  await setSettingsList(c, 'exclude', ['~/notes'])
  const bConfig = await readFile(join(b.cloudyHome, 'config.toml'), 'utf8')

  await mkdir(join(a.home, 'notes'))
  await writeFile(join(a.home, 'notes', 'todo.txt'), 'from A\n')
  const add = await ok(t, a, ['add', '~/notes'])
  t.match(add.stdout, '~/notes: collected (settings)')
  await ok(t, a, ['sync', 'up'])

  const sel = JSON.parse((await ok(t, b, ['selection', '--json'])).stdout) as { include: string[] }
  t.same(sel.include, ['~/notes'], 'B reads the chain selection')
  await ok(t, b, ['sync', 'down', '--yes'])
  t.equal(await readFile(join(b.home, 'notes', 'todo.txt'), 'utf8'), 'from A\n', 'B got it')
  t.equal(await readFile(join(b.cloudyHome, 'config.toml'), 'utf8'), bConfig, "B's config.toml is unchanged")

  await writeFile(join(b.home, 'notes', 'todo.txt'), 'edited on B\n')
  await writeFile(join(b.home, 'notes', 'new.txt'), 'new on B\n')
  const up = await ok(t, b, ['sync', 'up'])
  t.match(up.stdout, /settings: published/)
  await ok(t, a, ['sync', 'down', '--yes'])
  t.equal(await readFile(join(a.home, 'notes', 'todo.txt'), 'utf8'), 'edited on B\n', "B's edit reached A")
  t.equal(await readFile(join(a.home, 'notes', 'new.txt'), 'utf8'), 'new on B\n')

  const down = await ok(t, c, ['sync', 'down', '--yes'])
  t.notOk(existsSync(join(c.home, 'notes')), `skip keeps it off C (${down.stdout.trim()})`)
  await mkdir(join(c.home, 'notes'))
  await writeFile(join(c.home, 'notes', 'todo.txt'), 'C keeps its own\n')
  await ok(t, c, ['sync', 'up'])
  await ok(t, a, ['sync', 'down', '--yes'])
  t.equal(await readFile(join(a.home, 'notes', 'todo.txt'), 'utf8'), 'edited on B\n', "C's skipped file is not sent")

  // Removed from the selection: no longer collected (nothing deleted anywhere).
  await ok(t, b, ['remove', '~/notes'])
  await writeFile(join(a.home, 'notes', 'todo.txt'), 'after the removal\n')
  await ok(t, a, ['sync', 'up'])
  await ok(t, b, ['sync', 'down', '--yes'])
  t.equal(await readFile(join(b.home, 'notes', 'todo.txt'), 'utf8'), 'edited on B\n', 'not collected any more')
  t.ok(existsSync(join(a.home, 'notes', 'todo.txt')), 'nothing deleted')
})

t.test('a path inside what is collected is left out by remove; categories switch off', async (t) => {
  const vault = tempDir(t, 'vault')
  const a = computer(t)
  await initVault(t, a, vault, [], 'alpha')
  await mkdir(join(a.home, 'proj', 'build'), { recursive: true })
  await writeFile(join(a.home, 'proj', 'a.txt'), 'a')
  await writeFile(join(a.home, 'proj', 'build', 'out.bin'), 'b')
  await ok(t, a, ['add', '~/proj'])
  const rm = await ok(t, a, ['remove', '~/proj/build'])
  t.match(rm.stdout, '~/proj/build: left out')
  await ok(t, a, ['sync', 'up'])
  const b = computer(t)
  await joinVault(t, b, vault, [], 'bravo')
  await ok(t, b, ['sync', 'down', '--yes'])
  t.ok(existsSync(join(b.home, 'proj', 'a.txt')))
  t.notOk(existsSync(join(b.home, 'proj', 'build')), 'left out for the chain')
  await ok(t, a, ['remove', 'settings'])
  const sel = JSON.parse((await ok(t, b, ['selection', '--json'])).stdout) as { categories: Record<string, boolean> }
  t.equal(sel.categories.settings, false)
  await writeFile(join(a.home, 'proj', 'a.txt'), 'changed')
  const up = await ok(t, a, ['sync', 'up'])
  t.notMatch(up.stdout, /settings:/, 'the category is off: not collected')
})

t.test('bad selection values: exit 2 naming what is wrong, the selection unchanged', async (t) => {
  const vault = tempDir(t, 'vault')
  const a = computer(t)
  await initVault(t, a, vault, [], 'alpha')
  const before = (await ok(t, a, ['selection', '--json'])).stdout
  for (const [args, message] of [
    [['add', '/etc/passwd'], /\/etc\/passwd: not a path under HOME/],
    [['add', '--exclude', '[abc'], /--exclude: "\[abc": "\[" at character 1 is never closed/],
    [['add', 'no-such-app'], /no-such-app: no category, catalog application or path of that name/],
    [['add', '--secret', '/tmp/x'], /\/tmp\/x: not a path under HOME/],
  ] as const) {
    const r = await cloudy(a, [...args])
    t.equal(r.code, 2, args.join(' '))
    t.match(r.stderr, message)
  }
  t.equal((await ok(t, a, ['selection', '--json'])).stdout, before, 'nothing changed')
  // A broken [here] value names the file and the field.
  await setSettingsList(a, 'exclude', ['[oops'])
  const r = await cloudy(a, ['sync', 'up'])
  t.equal(r.code, 2)
  t.match(r.stderr, /config\.toml: here\.skip: "\[oops": "\[" at character 1 is never closed/)
})
