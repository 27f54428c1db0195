import t from 'tap'
import { basename } from 'node:path'
import { isTempName, tempNameFor } from '../../../lib/fs/temp-name.js'

t.test('temporary names are recognised, ordinary names are not', async (t) => {
  const a = tempNameFor('/home/u/.bashrc')
  const b = tempNameFor('/home/u/.bashrc')
  t.not(a, b, 'unique per call')
  t.match(a, /^\/home\/u\/\.\.bashrc\.cloudy-/)
  t.ok(isTempName(basename(a)))
  for (const name of ['.bashrc', 'notes.cloudy-backup', '.x.cloudy-', 'file.cloudy-abc-12345-0']) t.notOk(isTempName(name), name)
})
