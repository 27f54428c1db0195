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
