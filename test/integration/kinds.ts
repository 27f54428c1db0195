/** The chain turns a file into a folder, a folder into a file, a file into a link: each reaches the other computer. */
import t from 'tap'
import { existsSync } from 'node:fs'
import { lstat, mkdir, readFile, readlink, rm, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { cloudy, computer, initVault, joinVault, previewOps, tempDir } from '../helpers/cli.js'

t.test('changes of kind propagate when the local copy is the synced one', async (t) => {
  const vault = tempDir(t, 'vault')
  const a = computer(t)
  await mkdir(join(a.home, 'cfg/folder'), { recursive: true })
  await writeFile(join(a.home, 'cfg/folder/inside'), 'in')
  await writeFile(join(a.home, 'cfg/becomes-folder'), 'file')
  await writeFile(join(a.home, 'cfg/becomes-link'), 'file')
  await initVault(t, a, vault, ['~/cfg'], 'a')
  t.equal((await cloudy(a, ['sync', 'up'])).code, 0)
  const b = computer(t)
  await joinVault(t, b, vault, ['~/cfg'], 'b')
  t.equal((await cloudy(b, ['sync', 'down', '--yes'])).code, 0)

  await rm(join(a.home, 'cfg/becomes-folder'))
  await mkdir(join(a.home, 'cfg/becomes-folder'))
  await writeFile(join(a.home, 'cfg/becomes-folder/new'), 'new')
  await rm(join(a.home, 'cfg/becomes-link'))
  await symlink('folder/inside', join(a.home, 'cfg/becomes-link'))
  await rm(join(a.home, 'cfg/folder'), { recursive: true })
  await writeFile(join(a.home, 'cfg/folder'), 'now a file')
  t.equal((await cloudy(a, ['sync', 'up'])).code, 0)

  const ops = await previewOps(b)
  t.same(ops, [
    'add settings/cfg/becomes-folder/new',
    'conflict settings/cfg/folder',
    'delete settings/cfg/folder/inside',
    'update settings/cfg/becomes-folder',
    'update settings/cfg/becomes-link',
  ])
  const down = await cloudy(b, ['sync', 'down', '--yes'])
  t.equal(down.code, 6, 'a folder is never replaced by a file: that one is a conflict')
  t.equal(await readFile(join(b.home, 'cfg/becomes-folder/new'), 'utf8'), 'new')
  t.equal(await readlink(join(b.home, 'cfg/becomes-link')), 'folder/inside')
  t.ok((await lstat(join(b.home, 'cfg/folder'))).isDirectory(), 'the folder stays (emptied of what the chain deleted)')
  t.notOk(existsSync(join(b.home, 'cfg/folder/inside')))
  t.match(
    down.stdout,
    /conflict: settings\/cfg\/folder: a file is incoming where this computer has a folder: the incoming version is kept as folder\.conflict-a-/,
  )
})
