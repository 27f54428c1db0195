/**
 * On-change watching: a change under a watched folder, or to a watched file, is said once
 * things went quiet; what the source leaves out is not a change; a file that appears later
 * counts; an unwatched key says nothing.
 */
import t from 'tap'
import { mkdir, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { ChangeWatcher } from '../../../lib/daemon/watcher.js'
import { tempDir } from '../../helpers/temp.js'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

async function until(check: () => boolean, ms = 5000): Promise<boolean> {
  for (const start = Date.now(); Date.now() - start < ms; await sleep(20)) if (check()) return true
  return false
}

t.test('folders, files and files not there yet; exclusions; one call per burst', async (t) => {
  const home = tempDir(t, 'home')
  await mkdir(join(home, '.config/app/deep'), { recursive: true })
  await writeFile(join(home, '.bashrc'), 'x\n')
  await writeFile(join(home, 'unwatched'), 'x\n')
  const calls: string[] = []
  const w = new ChangeWatcher({ onChange: (k) => calls.push(k), log: (l) => t.comment(l), quietMs: 100, maxDelayMs: 1000 })
  t.teardown(() => w.close())
  const counts = (p: string) => !p.endsWith('.log')
  await w.set('settings', [{ paths: [join(home, '.config/app'), join(home, '.bashrc'), join(home, '.profile')], counts }])
  t.same([...w.watched()], [['settings', 3]])
  await sleep(100)

  // A burst of writes deep in a watched folder: one call, after it went quiet.
  for (let i = 0; i < 5; i++) await writeFile(join(home, '.config/app/deep', `f${i}`), 'y\n')
  t.ok(await until(() => calls.length === 1), 'a change under the folder')
  await sleep(300)
  t.same(calls, ['settings'], 'once for the burst')

  await writeFile(join(home, '.config/app/debug.log'), 'noise\n')
  await writeFile(join(home, 'unwatched'), 'y\n')
  await sleep(400)
  t.same(calls, ['settings'], 'an excluded file and an unwatched one say nothing')

  await writeFile(join(home, '.bashrc'), 'changed\n')
  t.ok(await until(() => calls.length === 2), 'a watched file')
  await writeFile(join(home, '.profile'), 'new\n')
  t.ok(await until(() => calls.length === 3), 'a file that did not exist when the watch began')
  await rm(join(home, '.bashrc'))
  t.ok(await until(() => calls.length === 4), 'a deletion')

  // A file that keeps changing still triggers within the longest delay.
  const writing = setInterval(() => void writeFile(join(home, '.bashrc'), String(Date.now())), 30)
  const started = Date.now()
  const seen = await until(() => calls.length === 5, 3000)
  clearInterval(writing)
  t.ok(seen && Date.now() - started < 2000, `said while writes go on (after ${Date.now() - started} ms)`)

  // Watching nothing for the key: silence.
  await w.set('settings', [])
  t.same([...w.watched()], [])
  await sleep(200)
  const before = calls.length
  await writeFile(join(home, '.config/app/after'), 'z\n')
  await sleep(400)
  t.equal(calls.length, before, 'no longer watched')
})

t.test('closed while a watch is being set up: nothing is kept watching (it would keep the service alive)', async (t) => {
  const home = tempDir(t, 'home')
  await mkdir(join(home, 'a/b'), { recursive: true })
  const w = new ChangeWatcher({ onChange: () => t.fail('no change after close'), log: (l) => t.comment(l) })
  const setting = w.set('settings', [{ paths: [join(home, 'a'), join(home, 'x.conf')], counts: () => true }])
  await w.close()
  await setting
  t.same([...w.watched()], [], 'no watch left')
  await writeFile(join(home, 'a/b/f'), 'y\n')
  await sleep(300)
})
