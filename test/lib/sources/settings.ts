import t from 'tap'
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { linkFollower, linkTarget, localStat } from '../../../lib/sources/settings.js'
import type { TreeEntry } from '../../../lib/store/objects.js'
import { tempDir } from '../../helpers/temp.js'

const file: TreeEntry = { name: 'x', type: 'file', mode: 0o644, mtimeNs: '0', size: 0, content: [] }
const link: TreeEntry = { name: 'x', type: 'symlink', mode: 0o777, mtimeNs: '0', target: 'y' }

t.test('links are followed at includes, above them, and at received files and folders', async (t) => {
  const follow = linkFollower(['.gitconfig', '.config/nvim'])
  t.ok(follow('.gitconfig', undefined), 'an include')
  t.ok(follow('.config', undefined), 'a folder above an include')
  t.ok(follow('.config/nvim', undefined))
  t.notOk(follow('.config/nvim/init.lua', file), 'not inside an included folder: links there stay links')
  t.ok(follow('.bashrc', file), 'a received file kept here as a link')
  t.notOk(follow('.bashrc', link), 'a received link')
  t.notOk(follow('.bashrc', undefined), 'nothing received there')
  t.notOk(linkFollower([''])('.gitconfig', file), 'all of HOME included: no link is followed')
})

t.test('localStat and linkTarget', async (t) => {
  const dir = tempDir(t)
  mkdirSync(join(dir, 'real'))
  writeFileSync(join(dir, 'real/f'), 'data')
  symlinkSync('real/f', join(dir, 'to-file'))
  symlinkSync('real', join(dir, 'to-dir'))
  symlinkSync('nowhere', join(dir, 'dangling'))
  t.ok(localStat(join(dir, 'to-file'), true)!.isFile(), 'followed')
  t.ok(localStat(join(dir, 'to-file'), false)!.isSymbolicLink(), 'not followed')
  t.ok(localStat(join(dir, 'to-dir'), true)!.isDirectory())
  t.ok(localStat(join(dir, 'dangling'), true)!.isSymbolicLink(), 'a dangling link stays a link')
  t.equal(localStat(join(dir, 'missing'), true), undefined)
  t.equal(localStat(join(dir, 'real/f/under-a-file'), true), undefined)
  t.same(await linkTarget(join(dir, 'to-file')), { through: 'real/f' })
  t.equal(await linkTarget(join(dir, 'dangling')), undefined)
  t.equal(await linkTarget(join(dir, 'real/f')), undefined)
})
