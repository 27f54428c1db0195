/** The journal's data files: handles kept open, and new files made ahead (lib/mount/data-files.ts). */
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, utimesSync, writeFileSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { DataFiles } from '../../../lib/mount/data-files.js'
import { openNow, type OpenFile } from '../../../lib/mount/journal-file.js'
import { Journal } from '../../../lib/mount/journal.js'
import { nodeArgv } from '../../helpers/cli.js'
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
  // A batch is made whole before its files are handed out: wait until the listing stops growing.
  for (let seen = -1; seen !== readdirSync(dir).length;) {
    seen = readdirSync(dir).length
    await new Promise((r) => setTimeout(r, 200))
  }
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

t.test('files opened in the background are descriptors of this process; a refusal carries its code and path', async (t) => {
  const dir = tempDir(t)
  const files = await Promise.all(Array.from({ length: 100 }, (_, i) => openNow(join(dir, `f${i}`), 'w+', 0o600, true)))
  for (const [i, f] of files.entries()) writeSync(f.fd, `file ${i}`)
  t.same(
    files.map((_, i) => readFileSync(join(dir, `f${i}`), 'utf8')),
    files.map((_, i) => `file ${i}`),
    'each descriptor is its own file, usable here',
  )
  for (const f of files) await f.close()
  const refused = openNow(join(dir, 'missing', 'f'), 'w+', 0o600, true)
  await t.rejects(refused, { code: 'ENOENT', message: /missing/ }, "the system's error, with its code and the path")
})

t.test('a handle closed soon is closed within a moment', async (t) => {
  const dir = tempDir(t)
  const f = await openNow(join(dir, 'f'), 'w+', 0o600)
  const link = `/proc/self/fd/${f.fd}`
  t.equal(readlinkSync(link), join(dir, 'f'))
  f.closeSoon!()
  t.ok(await until(() => !existsSync(link) || readlinkSync(link) !== join(dir, 'f')), 'the descriptor is closed')
})

t.test('an idle files thread keeps no process alive', async (t) => {
  const dir = tempDir(t)
  // The built module (npm test builds first), in a node of its own without the runner's hooks.
  const module = join(import.meta.dirname, '..', '..', '..', 'dist', 'lib', 'mount', 'journal-file.js')
  // A file, not `-e`: --input-type=module would make the thread's own source a module too.
  writeFileSync(
    join(dir, 'child.mjs'),
    `import { openNow } from ${JSON.stringify(module)}
    const f = await openNow(${JSON.stringify(join(dir, 'f'))}, 'w+', 0o600, true)
    f.closeSoon()`,
  )
  const [cmd, args] = nodeArgv([join(dir, 'child.mjs')])
  const r = spawnSync(cmd, args, { timeout: 20_000, encoding: 'utf8' })
  t.equal(r.signal, null, 'ended by itself, not by the timeout')
  t.equal(r.status, 0, r.stderr)
  t.ok(existsSync(join(dir, 'f')))
})

t.test('a disk that refuses to make spares leaves each creation to make its file, or fail, itself', async (t) => {
  const dir = join(tempDir(t), 'data')
  mkdirSync(dir)
  let refuse = true
  const openFile: OpenFile = (path, flags, mode, background) =>
    background && refuse ? Promise.reject(Object.assign(new Error('no space left'), { code: 'ENOSPC' })) : openNow(path, flags, mode)
  const files = new DataFiles((id) => join(dir, id), openFile)
  t.teardown(() => files.close())
  const ids = [await files.fresh(), await files.fresh(), await files.fresh()]
  t.same(readdirSync(dir).sort(), [...ids].sort(), 'made one by one, no spare')
  refuse = false
  await files.fresh()
  t.ok(await until(() => readdirSync(dir).length > 8), 'spares again once the disk takes them')
})
