/**
 * A file moved away and back by one computer, while another computer's up-sync still held it
 * where it was before (it had not yet received the first move): the move back is a change that
 * the merge keeps (soak seeds 81 and 53, adversarial).
 */
import t from 'tap'
import { readFile, rename, writeFile } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { ok, syncedPair } from '../helpers/cli.js'
import { describeTree } from '../helpers/tree.js'

t.test('a folder moved away and back is not lost to a stale up-sync of another computer', async (t) => {
  const { a, b } = await syncedPair(t, { 'd/f': 'f' })

  // A up-syncs a change of its own, still holding d/f; B, not knowing it, moves d to e.
  await writeFile(join(a.home, 'cfg/g'), 'g by A')
  await ok(t, a, ['sync', 'up'])
  await rename(join(b.home, 'cfg/d'), join(b.home, 'cfg/e'))
  await ok(t, b, ['sync', 'up'])
  // A receives the move (its up-sync before it now holds d/f only as it was) and up-syncs on it.
  await ok(t, a, ['sync', 'down', '--yes'])
  t.ok(existsSync(join(a.home, 'cfg/e/f')), 'A has the moved folder')
  await writeFile(join(a.home, 'cfg/g'), 'g by A, again')
  await ok(t, a, ['sync', 'up'])
  // B moves the folder back, without a down-sync since.
  await rename(join(b.home, 'cfg/e'), join(b.home, 'cfg/d'))
  await ok(t, b, ['sync', 'up'])

  await ok(t, a, ['sync', 'down', '--yes'])
  await ok(t, b, ['sync', 'down', '--yes'])
  t.equal(await readFile(join(a.home, 'cfg/d/f'), 'utf8'), 'f', 'A: the file is back where B moved it')
  t.notOk(existsSync(join(a.home, 'cfg/e')), 'A: nothing left at the other name')
  t.same(await describeTree(join(b.home, 'cfg')), await describeTree(join(a.home, 'cfg')), 'B equals A')
})
