import t from 'tap'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { basename, join } from 'node:path'
import { isTempName, sweepTemps, tempNameFor } from '../../../lib/fs/temp-name.js'

t.test('temporary names are short and recognised, ordinary names are not', async (t) => {
  const long = 'x'.repeat(255)
  const a = tempNameFor(`/home/u/${long}`)
  const b = tempNameFor(`/home/u/${long}`)
  t.not(a, b, 'unique per call')
  t.match(a, /^\/home\/u\/\.cloudy-tmp-/)
  t.ok(Buffer.byteLength(basename(a)) <= 40, 'a short name, whatever the file name')
  t.ok(isTempName(basename(a)))
  t.ok(isTempName('.bashrc.cloudy-1a2b-abcdef-0'), 'the long form of older versions too')
  for (const name of ['.bashrc', 'notes.cloudy-backup', '.x.cloudy-', 'file.cloudy-abc-12345-0', '.cloudy-tmp-'])
    t.notOk(isTempName(name), name)
})

t.test('the sweep removes temporaries of dead writers only', async (t) => {
  const dir = t.testdir({ 'keep.txt': 'mine' })
  const dead = spawnSync(process.execPath, ['-e', '0']).pid!.toString(36)
  const live = process.ppid.toString(36)
  const names = [`.cloudy-tmp-${dead}-abcdef-0`, `.a.txt.cloudy-${dead}-abcdef-1`, `.cloudy-tmp-${live}-abcdef-2`]
  for (const n of names) writeFileSync(join(dir, n), 'x')
  mkdirSync(join(dir, `.cloudy-tmp-${dead}-abcdef-3`))
  t.equal(await sweepTemps([dir, join(dir, 'missing')]), 2)
  t.notOk(existsSync(join(dir, names[0]!)))
  t.notOk(existsSync(join(dir, names[1]!)))
  t.ok(existsSync(join(dir, names[2]!)), 'a live writer keeps its fresh temporary')
  t.ok(existsSync(join(dir, `.cloudy-tmp-${dead}-abcdef-3`)), 'a folder is never removed')
  t.ok(existsSync(join(dir, 'keep.txt')))
})
