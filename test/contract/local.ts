import t from 'tap'
import { tempDir } from '../helpers/temp.js'
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { local } from '../../providers/local.js'
import { providerContract } from './suite.js'

providerContract(t, async (t) => local({ root: join(tempDir(t, 'local'), 'vault') }))

t.test('local: objects are plain files under the root; failed puts leave no temporary file', async (t) => {
  const root = join(tempDir(t, 'local'), 'vault')
  const p = local({ root })
  await p.put('s/ab/packs/x', Buffer.from('hello'))
  t.same(await readdir(join(root, 's', 'ab', 'packs')), ['x'])
  async function* failing() {
    yield Buffer.from('part')
    throw new Error('boom')
  }
  await t.rejects(p.put('s/ab/packs/y', failing()))
  t.same(await readdir(join(root, '.tmp')), [], 'no temporary file left')
  t.same(await readdir(join(root, 's', 'ab', 'packs')), ['x'], 'no partial object')
  t.throws(() => local({ root: 'relative/path' }), /root must be an absolute path/)
})

t.test('local: temporary files left by a killed put are swept after a day', async (t) => {
  const root = join(tempDir(t, 'local'), 'vault')
  const { mkdir, utimes, writeFile } = await import('node:fs/promises')
  await mkdir(join(root, '.tmp'), { recursive: true })
  await writeFile(join(root, '.tmp', 'old'), 'debris')
  await writeFile(join(root, '.tmp', 'recent'), 'a put in flight elsewhere')
  await utimes(join(root, '.tmp', 'old'), new Date(Date.now() - 2 * 86400_000), new Date(Date.now() - 2 * 86400_000))
  await local({ root }).put('k', Buffer.from('x'))
  t.same(await readdir(join(root, '.tmp')), ['recent'])
})

t.test("local: the change feed reports another process's writes under the prefix at once", async (t) => {
  const root = join(tempDir(t, 'local'), 'vault')
  const writer = local({ root })
  const watcher = local({ root })
  await writer.put('s/ab/heads/old', Buffer.from('before the watch'))
  const changes: { type: string; key?: string; size?: number }[] = []
  let notify = () => {}
  const next = (n: number) =>
    new Promise<void>((resolve) => {
      notify = () => changes.length >= n && resolve()
      notify()
    })
  const seen = (c: (typeof changes)[number]) => {
    changes.push(c)
    notify()
  }
  // At the top of the vault: only the objects there whose names the prefix matches.
  const top = new AbortController()
  const topChanges: typeof changes = []
  const watchingTop = watcher.watch!('pulse', (c) => void topChanges.push(c), top.signal)
  // Below the top: everything under the prefix, however deep.
  const stop = new AbortController()
  const watching = watcher.watch!('s/ab/', seen, stop.signal)

  await writer.put('s/cd/heads/x', Buffer.from('another space'))
  await writer.put('s/ab/heads/dev', Buffer.from('twelve bytes'))
  await next(1)
  t.match(changes[0], { type: 'put', key: 's/ab/heads/dev', size: 12 })
  await writer.put('s/ab/packs/00/p', Buffer.from('a new folder'))
  await next(2)
  t.match(changes[1], { type: 'put', key: 's/ab/packs/00/p' })
  await writer.delete('s/ab/heads/dev')
  await next(3)
  t.same(changes[2], { type: 'delete', key: 's/ab/heads/dev' })

  await writer.put('pulse', Buffer.from('0123456789abcdef'))
  await writer.put('pulsebeat', Buffer.from('also matches the prefix'))
  for (let i = 0; topChanges.length < 2 && i < 200; i++) await new Promise((r) => setTimeout(r, 10))
  t.match(topChanges, [
    { type: 'put', key: 'pulse', size: 16 },
    { type: 'put', key: 'pulsebeat' },
  ])
  t.notOk(
    [...changes, ...topChanges].some((c) => c.key?.startsWith('.tmp')),
    'temporary files are never reported',
  )
  t.equal(changes.length, 3, 'nothing outside the prefix')

  stop.abort()
  top.abort()
  await watching
  await watchingTop
  t.pass('the watch ends when aborted')
})
