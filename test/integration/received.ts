/**
 * What a computer received from the chain is tracked there: its edits and deletions are sent,
 * though its own `include` does not list them (unless it excludes them); and the conflict
 * copies a down-sync makes reach every computer, top-level ones included.
 */
import t from 'tap'
import { existsSync } from 'node:fs'
import { mkdir, readFile, rm, utimes, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { cloudy, ok, computer, initVault, joinVault, previewOps, setSettingsList, tempDir } from '../helpers/cli.js'

t.test('edits and deletions of received paths are sent; an explicit exclude keeps the chain version', async (t) => {
  const vault = tempDir(t, 'vault')
  const a = computer(t)
  await mkdir(join(a.home, '.config/app'), { recursive: true })
  await writeFile(join(a.home, '.config/app/settings.json'), '{"a":1}')
  await writeFile(join(a.home, '.config/app/old.json'), 'old')
  await writeFile(join(a.home, '.gitconfig'), 'from A')
  await writeFile(join(a.home, '.bashrc'), 'bash from A')
  await initVault(t, a, vault, ['~/.gitconfig', '~/.bashrc', '~/.config/app'], 'wide')
  await ok(t, a, ['sync', 'up'])

  // B collects none of it, and leaves .bashrc out on purpose.
  const b = computer(t)
  await joinVault(t, b, vault, ['~/notes'], 'narrow')
  await setSettingsList(b, 'exclude', ['~/.bashrc'])
  await ok(t, b, ['sync', 'down', '--yes'])
  t.equal(await readFile(join(b.home, '.gitconfig'), 'utf8'), 'from A', 'received')
  t.notOk(existsSync(join(b.home, '.bashrc')), 'excluded here: not written')

  await writeFile(join(b.home, '.gitconfig'), 'edited on B')
  await writeFile(join(b.home, '.config/app/settings.json'), '{"b":2}')
  await rm(join(b.home, '.config/app/old.json'))
  const status = JSON.parse((await ok(t, b, ['status', '--json'])).stdout)
  t.same(status.spaces[0].pending, { added: 0, changed: 2, deleted: 1 }, 'status counts them as local changes')
  const up = await ok(t, b, ['sync', 'up'])
  t.match(up.stdout, /settings: published/)

  t.same(
    await previewOps(a),
    ['delete settings/.config/app/old.json', 'update settings/.config/app/settings.json', 'update settings/.gitconfig'],
    "B's edits and deletion of what it received reach A; the excluded .bashrc is not deleted",
  )
  await ok(t, a, ['sync', 'down', '--yes'])
  t.equal(await readFile(join(a.home, '.gitconfig'), 'utf8'), 'edited on B')
  t.equal(await readFile(join(a.home, '.config/app/settings.json'), 'utf8'), '{"b":2}')
  t.notOk(existsSync(join(a.home, '.config/app/old.json')))
  t.equal(await readFile(join(a.home, '.bashrc'), 'utf8'), 'bash from A')

  // A file B makes in a received folder that its include does not list stays on B.
  await writeFile(join(b.home, '.config/app/new-on-b.json'), 'new')
  await ok(t, b, ['sync', 'up'])
  t.notOk(
    (await previewOps(a)).includes('add settings/.config/app/new-on-b.json'),
    'a received folder is tracked with what it held, not whole',
  )
})

t.test('a conflict copy of a top-level file reaches the other computer', async (t) => {
  const vault = tempDir(t, 'vault')
  const a = computer(t)
  await writeFile(join(a.home, '.gitconfig'), 'v1')
  await initVault(t, a, vault, ['~/.gitconfig'], 'alpha')
  await ok(t, a, ['sync', 'up'])
  const b = computer(t)
  await joinVault(t, b, vault, ['~/.gitconfig'], 'bravo')
  await ok(t, b, ['sync', 'down', '--yes'])

  await writeFile(join(a.home, '.gitconfig'), 'A edit')
  await ok(t, a, ['sync', 'up'])
  await writeFile(join(b.home, '.gitconfig'), 'B edit, not synced')
  const past = new Date('2026-01-02T03:04:05Z')
  await utimes(join(b.home, '.gitconfig'), past, past)
  t.equal((await cloudy(b, ['sync', 'down', '--yes'])).code, 6, 'a conflict')
  const copy = '.gitconfig.conflict-bravo-20260102-030405'
  t.equal(await readFile(join(b.home, copy), 'utf8'), 'B edit, not synced', 'the local version kept as a copy on B')
  const status = JSON.parse((await ok(t, b, ['status', '--json'])).stdout)
  t.same(status.spaces[0].pending, { added: 1, changed: 0, deleted: 0 }, 'status counts the copy as new')

  const up = await ok(t, b, ['sync', 'up'])
  t.match(up.stdout, /settings: published/, 'the copy is sent')
  t.same(await previewOps(a), [`add settings/${copy}`])
  await ok(t, a, ['sync', 'down', '--yes'])
  t.equal(await readFile(join(a.home, copy), 'utf8'), 'B edit, not synced', 'both versions are on A')
  t.equal(await readFile(join(a.home, '.gitconfig'), 'utf8'), 'A edit')

  // From then on the copy is a path like any received one: deleting it on B deletes it on A.
  await rm(join(b.home, copy))
  await ok(t, b, ['sync', 'up'])
  t.same(await previewOps(a), [`delete settings/${copy}`])
})
