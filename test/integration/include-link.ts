/**
 * An `include` that is a symlink (stow and dotfiles layouts): what it points to is collected,
 * other computers get the file or folder, and on the computer that has the link a down-sync
 * writes through it, the link staying a link; the preview says so.
 */
import t from 'tap'
import { lstat, mkdir, readFile, readlink, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { cloudy, computer, initVault, joinVault, previewOps, tempDir } from '../helpers/cli.js'

t.test('an include that is a link to a file or a folder', async (t) => {
  const vault = tempDir(t, 'vault')
  const a = computer(t)
  await mkdir(join(a.home, 'dotfiles/vim'), { recursive: true })
  await writeFile(join(a.home, 'dotfiles/gitconfig'), '[user]\n\tname = A\n')
  await writeFile(join(a.home, 'dotfiles/vim/vimrc'), 'set nu')
  await symlink('dotfiles/gitconfig', join(a.home, '.gitconfig'))
  await symlink('dotfiles/vim', join(a.home, '.vim'))
  await initVault(t, a, vault, ['~/.gitconfig', '~/.vim'], 'stow')
  t.equal((await cloudy(a, ['sync', 'up'])).code, 0)

  const b = computer(t)
  await joinVault(t, b, vault, ['~/.gitconfig', '~/.vim'], 'plain')
  t.equal((await cloudy(b, ['sync', 'down', '--yes'])).code, 0)
  t.ok((await lstat(join(b.home, '.gitconfig'))).isFile(), 'B gets a file, not a dangling link')
  t.equal(await readFile(join(b.home, '.gitconfig'), 'utf8'), '[user]\n\tname = A\n')
  t.ok((await lstat(join(b.home, '.vim'))).isDirectory(), 'and a folder')
  t.equal(await readFile(join(b.home, '.vim/vimrc'), 'utf8'), 'set nu')

  await writeFile(join(b.home, '.gitconfig'), '[user]\n\tname = B\n')
  await writeFile(join(b.home, '.vim/vimrc'), 'set nonu')
  await writeFile(join(b.home, '.vim/new'), 'new from B')
  t.equal((await cloudy(b, ['sync', 'up'])).code, 0)

  const preview = await cloudy(a, ['sync', 'down', '--preview'])
  t.equal(preview.code, 0, preview.stderr)
  t.match(preview.stdout, /through link: settings\/\.gitconfig -> dotfiles\/gitconfig/, 'the preview says the link is written through')
  t.same(await previewOps(a), ['add settings/.vim/new', 'update settings/.gitconfig', 'update settings/.vim/vimrc'])
  const down = await cloudy(a, ['sync', 'down', '--yes'])
  t.equal(down.code, 0, down.stderr)
  t.equal(await readlink(join(a.home, '.gitconfig')), 'dotfiles/gitconfig', 'the link stays a link on A')
  t.equal(await readlink(join(a.home, '.vim')), 'dotfiles/vim')
  t.equal(await readFile(join(a.home, 'dotfiles/gitconfig'), 'utf8'), '[user]\n\tname = B\n', 'written through the link')
  t.equal(await readFile(join(a.home, 'dotfiles/vim/vimrc'), 'utf8'), 'set nonu')
  t.equal(await readFile(join(a.home, 'dotfiles/vim/new'), 'utf8'), 'new from B')
  t.same(await previewOps(a), [], 'nothing left to do')
  const up = await cloudy(a, ['sync', 'up'])
  t.match(up.stdout, /settings: no change/, 'what was written through the link is not sent back as a change')
  const status = JSON.parse((await cloudy(a, ['status', '--json'])).stdout)
  t.same(status.spaces[0].pending, { added: 0, changed: 0, deleted: 0 }, 'status sees no local change either')
})
