import t from 'tap'
import { spawn } from 'node:child_process'
import { chmodSync, statSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { LockedError, UsageError } from '../../../lib/errors.js'
import { acquireLockOrFail, acquireSyncLock, lockHolder, tryAcquireLock } from '../../../lib/state/lock.js'
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

t.test('a held lock is refused with a LockedError naming the holding process', async (t) => {
  const file = join(tempDir(t, 'lock'), 'journal', 'lock')
  const child = await holder(file)
  t.teardown(() => void child.kill('SIGKILL'))
  t.equal(tryAcquireLock(file), undefined, 'not taken while held')
  const e = t.throws(() => acquireLockOrFail(file, 'app/one', 'unmount it first')) as LockedError
  t.type(e, LockedError)
  t.equal(e.code, 'ELOCKED')
  t.equal(e.pid, child.pid)
  t.equal(e.message, `app/one is in use by another Cloudy process (process ${child.pid}): unmount it first`)
  t.notOk(e instanceof UsageError, 'not a usage error')
  child.kill('SIGKILL')
  await new Promise((r) => child.once('exit', r))
  const lock = acquireLockOrFail(file, 'app/one', 'unmount it first')
  t.equal(lockHolder(file), process.pid, 'the new holder is named')
  lock.release()
  t.equal(lockHolder(file), undefined, 'a released lock names nobody')
})

t.test('lock files and their folders are private (0600, 0700), also when made before', async (t) => {
  const dir = join(tempDir(t, 'lock'), 'state')
  const file = join(dir, 'journal', 'tag', 'lock')
  const lock = await acquireSyncLock(file)
  t.equal(statSync(file).mode & 0o777, 0o600, 'the lock file')
  t.equal(statSync(`${file}.pid`).mode & 0o777, 0o600, 'its holder file')
  t.equal(statSync(join(dir, 'journal', 'tag')).mode & 0o777, 0o700, 'its folder')
  t.equal(statSync(dir).mode & 0o777, 0o700, 'the folders made above it')
  lock.release()
  chmodSync(file, 0o644)
  chmodSync(dirname(file), 0o755)
  tryAcquireLock(file)!.release()
  t.equal(statSync(file).mode & 0o777, 0o600, 'an older lock file is made private')
  t.equal(statSync(dirname(file)).mode & 0o777, 0o700, 'and its folder')
})
