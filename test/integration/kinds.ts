/** The chain turns a file into a folder, a folder into a file, a file into a link: each reaches the other computer. */
import t from 'tap'
import { mkdir, readFile, readdir, readlink, rm, symlink, writeFile } from 'node:fs/promises'
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
    'delete settings/cfg/folder/inside',
    'update settings/cfg/becomes-folder',
    'update settings/cfg/becomes-link',
    'update settings/cfg/folder',
  ])
  const down = await cloudy(b, ['sync', 'down', '--yes'])
  t.equal(down.code, 0, down.stderr)
  t.equal(await readFile(join(b.home, 'cfg/becomes-folder/new'), 'utf8'), 'new')
  t.equal(await readlink(join(b.home, 'cfg/becomes-link')), 'folder/inside')
  // The folder held only what the chain deleted: it becomes the file (safety.ts has the folder
  // holding something never synced, which is a conflict).
  t.equal(await readFile(join(b.home, 'cfg/folder'), 'utf8'), 'now a file')
  t.notOk(
    (await readdir(join(b.home, 'cfg'))).some((n) => n.includes('.conflict-')),
    'no conflict copy',
  )
})
