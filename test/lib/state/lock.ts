import t from 'tap'
import { spawn } from 'node:child_process'
import { join, resolve } from 'node:path'
import { acquireSyncLock } from '../../../lib/state/lock.js'
import { tempDir } from '../../helpers/temp.js'

// The holder must be another process: the lock is an OS lock, and what matters is that a
// second command waits for the first and that a killed holder frees it.
const holder = (file: string) => {
  const lockModule = resolve(import.meta.dirname, '../../../dist/lib/state/lock.js')
  const child = spawn(
    process.execPath,
    [
      '-e',
      `import(${JSON.stringify(lockModule)}).then(async (m) => { await m.acquireSyncLock(${JSON.stringify(file)}); console.log('held'); setInterval(() => {}, 1000) })`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  )
  return new Promise<typeof child>((ok) => child.stdout.once('data', () => ok(child)))
}

t.test('a second holder waits until the first is gone, even when killed', async (t) => {
  const file = join(tempDir(t, 'lock'), 'sync.lock')
  const child = await holder(file)
  t.teardown(() => void child.kill('SIGKILL'))
  let waited = false
  let got = false
  const second = acquireSyncLock(file, () => (waited = true)).then((l) => {
    got = true
    return l
  })
  await new Promise((r) => setTimeout(r, 400))
  t.ok(waited, 'told it waits')
  t.notOk(got, 'not taken while held')
  child.kill('SIGKILL')
  const lock = await second
  t.ok(got, 'taken once the holder was killed')
  lock.release()
  const again = await acquireSyncLock(file)
  again.release()
  t.pass('released locks can be taken again')
})
