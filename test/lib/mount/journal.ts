/** The write journal: an overlay that survives a crash once a commit resolved. */
import t from 'tap'
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Journal } from '../../../lib/mount/journal.js'
import { tempDir } from '../../helpers/temp.js'

t.test('states survive a reopen; the last record of a path wins; a gone folder hides what is under it', async (t) => {
  const dir = join(tempDir(t), 'j')
  const j = await Journal.open(dir)
  const d1 = await j.newData()
  writeFileSync(d1.path, 'first')
  await j.commit('a.txt', { kind: 'file', data: d1.id, size: 5, mode: 0o644, mtimeMs: 1 })
  const d2 = await j.newData()
  writeFileSync(d2.path, 'second!')
  await j.commit('a.txt', { kind: 'file', data: d2.id, size: 7, mode: 0o600, mtimeMs: 2 })
  t.notOk(existsSync(d1.path), 'the replaced data file is removed once the new record is durable')
  await j.commit('sub', { kind: 'dir', mode: 0o755, mtimeMs: 3 })
  await j.commit('old', { kind: 'gone' })
  await j.close()

  const again = await Journal.open(dir)
  t.teardown(() => again.close())
  t.match(again.lookup('a.txt'), { kind: 'file', data: d2.id, size: 7, mode: 0o600 })
  t.equal(readFileSync(again.dataPath(d2.id), 'utf8'), 'second!')
  t.same(again.lookup('old/deep/file'), { kind: 'gone' }, 'under a deleted folder, nothing')
  t.equal(again.lookup('elsewhere'), undefined, 'not in the journal: the vault answers')
  t.same([...again.children('').keys()].sort(), ['a.txt', 'old', 'sub'])
})

t.test('a record torn by a crash is dropped; damage elsewhere is reported', async (t) => {
  const dir = join(tempDir(t), 'j')
  const j = await Journal.open(dir)
  await j.commit('x', { kind: 'dir', mode: 0o755, mtimeMs: 1 })
  await j.close()
  appendFileSync(join(dir, 'log'), '{"seq":2,"path":"y","no')
  const after = await Journal.open(dir)
  t.ok(after.lookup('x'))
  t.equal(after.lookup('y'), undefined, 'the torn record never happened')
  await after.commit('z', { kind: 'symlink', target: 'x', mtimeMs: 2 })
  await after.close()
  const third = await Journal.open(dir)
  t.match(third.lookup('z'), { kind: 'symlink', target: 'x' }, 'later records still count')
  await third.close()

  writeFileSync(join(dir, 'log'), 'garbage\n{"seq":1,"path":"x","node":{"kind":"gone"}}\n')
  await t.rejects(Journal.open(dir), /line 1 is damaged/)
})
