import t from 'tap'
import { join } from 'node:path'
import { StateDb } from '../../../lib/state/db.js'
import { madeCopies, pendingCopies, recordCopies, recordWrittenCopies, settleCopies } from '../../../lib/sync/copies.js'
import type { PlanItem } from '../../../lib/sync/plan.js'
import { tempDir } from '../../helpers/temp.js'

const conflict = (path: string, keep: 'incoming' | 'local' | 'merged', copy: string): PlanItem => ({
  op: 'conflict',
  item: `settings/${path}`,
  path,
  resolution: { keep, copy },
})

t.test('the copies a down-sync made wait for the next up-sync', async (t) => {
  const db = new StateDb(join(tempDir(t), 's.db'))
  t.teardown(() => db.close())
  t.same(pendingCopies(db, 'settings'), [])
  recordCopies(db, 'settings', [
    conflict('.gitconfig', 'incoming', '.gitconfig.conflict-b-20260102-030405'),
    conflict('cfg/a', 'local', 'cfg/a.conflict-a-20260102-030405'),
    conflict('cfg/m', 'merged', 'cfg/m.conflict-a-20260102-030405'),
    { op: 'update', item: 'settings/x', path: 'x' },
  ])
  t.same(
    pendingCopies(db, 'settings'),
    ['.gitconfig.conflict-b-20260102-030405', 'cfg/a.conflict-a-20260102-030405'],
    "a copy the chain's merge made is in the chain already",
  )
  t.same(pendingCopies(db, 'other'), [], 'per space')
  recordCopies(db, 'settings', [conflict('y', 'local', 'y.conflict-a-20260102-030405')])
  settleCopies(db, 'settings', ['.gitconfig.conflict-b-20260102-030405', 'cfg/a.conflict-a-20260102-030405'], true)
  t.same(pendingCopies(db, 'settings'), ['y.conflict-a-20260102-030405'], 'what an up-sync looked at is settled')
  settleCopies(db, 'settings', ['y.conflict-a-20260102-030405'], true)
  t.same(pendingCopies(db, 'settings'), [])
})

t.test('the copies of chain versions are kept as written until an up-sync settles them', async (t) => {
  const db = new StateDb(join(tempDir(t), 's.db'))
  t.teardown(() => db.close())
  const entry = (name: string) => ({ name, type: 'file' as const, mode: 0o644, mtimeNs: '1000', size: 1, content: ['ab'] })
  const first = [conflict('f', 'local', 'f.conflict-a-20260102-030405'), conflict('g', 'local', 'g.conflict-a-20260102-030405')]
  recordCopies(db, 'settings', first)
  recordWrittenCopies(
    db,
    'settings',
    [conflict('f', 'local', 'f.conflict-a-20260102-030405'), conflict('g', 'local', 'g.conflict-a-20260102-030405')],
    new Map([['f.conflict-a-20260102-030405', entry('f.conflict-a-20260102-030405')]]),
  )
  recordCopies(db, 'settings', [conflict('h', 'local', 'h.conflict-a-20260102-030405')])
  recordWrittenCopies(
    db,
    'settings',
    [conflict('h', 'local', 'h.conflict-a-20260102-030405')],
    new Map([['h.conflict-a-20260102-030405', entry('h.conflict-a-20260102-030405')]]),
  )
  t.same(
    [...madeCopies(db, 'settings').keys()],
    ['f.conflict-a-20260102-030405', 'h.conflict-a-20260102-030405'],
    'only those written as recorded',
  )
  t.same(madeCopies(db, 'settings').get('f.conflict-a-20260102-030405'), entry('f.conflict-a-20260102-030405'))
  settleCopies(db, 'settings', ['f.conflict-a-20260102-030405', 'g.conflict-a-20260102-030405'], true)
  t.same([...madeCopies(db, 'settings').keys()], ['h.conflict-a-20260102-030405'], 'settled with the paths an up-sync sent')
  settleCopies(db, 'settings', ['h.conflict-a-20260102-030405'], true)
  t.same(madeCopies(db, 'settings').size, 0)
})

t.test('an up-sync that published nothing settles none of the copies of chain versions', async (t) => {
  const db = new StateDb(join(tempDir(t), 's.db'))
  t.teardown(() => db.close())
  const entry = (name: string) => ({ name, type: 'file' as const, mode: 0o644, mtimeNs: '1000', size: 1, content: ['ab'] })
  // The merge's copy m is in the chain's state already (never pending); f is this computer's own.
  const items = [conflict('m', 'merged', 'm.conflict-a-20260102-030405'), conflict('f', 'local', 'f.conflict-a-20260102-030405')]
  recordCopies(db, 'settings', items)
  recordWrittenCopies(
    db,
    'settings',
    items,
    new Map([
      ['m.conflict-a-20260102-030405', entry('m.conflict-a-20260102-030405')],
      ['f.conflict-a-20260102-030405', entry('f.conflict-a-20260102-030405')],
    ]),
  )
  settleCopies(db, 'settings', ['f.conflict-a-20260102-030405'], false)
  t.same(pendingCopies(db, 'settings'), [], 'what the up-sync collected is sent')
  t.same(
    [...madeCopies(db, 'settings').keys()],
    ['m.conflict-a-20260102-030405', 'f.conflict-a-20260102-030405'],
    'no commit says this computer held them: a deletion here must first publish them as written',
  )
  settleCopies(db, 'settings', [], true)
  t.same(madeCopies(db, 'settings').size, 0, 'a published commit settles them')
})
