/** The journal's data files: handles kept open, and new files made ahead (lib/mount/data-files.ts). */
import t from 'tap'
import { existsSync, mkdirSync, readdirSync, utimesSync } from 'node:fs'
import { join } from 'node:path'
import { DataFiles } from '../../../lib/mount/data-files.js'
import { Journal } from '../../../lib/mount/journal.js'
import { tempDir } from '../../helpers/temp.js'

const until = async (what: () => boolean) => {
  for (let i = 0; i < 200 && !what(); i++) await new Promise((r) => setTimeout(r, 10))
  return what()
}

t.test('new data files come from spares made ahead; the unused ones go at close', async (t) => {
  const dir = join(tempDir(t), 'data')
  mkdirSync(dir)
  const files = new DataFiles((id) => join(dir, id))
  const first = await files.fresh()
  t.ok(existsSync(join(dir, first)), 'made now: no spare yet')
  t.ok(await until(() => readdirSync(dir).length > 8), 'spares are made in the background')
  const spares = readdirSync(dir).filter((f) => f !== first)
  const second = await files.fresh()
  t.ok(spares.includes(second), 'the next one is a spare')
  await files.close()
  t.same(readdirSync(dir).sort(), [first, second].sort(), 'only the files handed out stay')
})

t.test("a file made from a spare and not written since keeps its record's time after a reopen", async (t) => {
  const d = join(tempDir(t), 'j')
  const j = await Journal.open(d)
  const files = new DataFiles(
    (id) => j.dataPath(id),
    j.openFile,
    () => j.newData(),
  )
  t.teardown(() => files.close())
  const id = await files.fresh()
  utimesSync(j.dataPath(id), 1000, 1000) // made long before it was used
  await j.record([{ path: 'f', node: { kind: 'file', data: id, size: 0, mode: 0o644, mtimeMs: 5_000_000 } }])
  await j.close()
  const again = await Journal.open(d)
  t.teardown(() => again.close())
  t.equal((again.get('f') as { mtimeMs: number }).mtimeMs, 5_000_000)
})
