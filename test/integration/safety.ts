/**
 * Corners where a sync engine loses or undoes a user's work, each met by two computers of one
 * chain: paths one computer leaves out, a lost state database, a partial down-sync of a merged
 * conflict, kinds changing both ways, folder modes, a folder above an include that other
 * programs write in, a local undo of what the chain brought, and two syncs started at once on
 * one computer.
 */
import t, { type Test } from 'tap'
import { chmod, lstat, mkdir, readFile, readdir, rm, utimes, writeFile } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { join } from 'node:path'
import { cloudy, computer, initVault, ok, syncedPair, previewOps, setSettingsList, tempDir, type Computer } from '../helpers/cli.js'
import { describeTree } from '../helpers/tree.js'
import { acquireSyncLock } from '../../lib/state/lock.js'

const execFileAsync = promisify(execFile)

/** A with `cfg/` holding `files`, up-synced; B joined and down-synced. */
const pair = (t: Test, files: Record<string, string>) => syncedPair(t, files)

const cfg = async (c: Computer) => describeTree(join(c.home, 'cfg'))

t.test('a path one computer excludes is neither written there nor deleted from the chain', async (t) => {
  const { a, b } = await pair(t, { 'keep.txt': 'k', 'cache/blob': 'cached on A' })
  await setSettingsList(b, 'exclude', ['cache'])
  await writeFile(join(a.home, 'cfg/cache/blob'), 'cached on A, v2')
  await ok(t, a, ['sync', 'up'], 'up A')
  t.same(await previewOps(b), [], 'the change under the excluded folder is not for B')
  await rm(join(b.home, 'cfg/cache'), { recursive: true })
  await writeFile(join(b.home, 'cfg/keep.txt'), 'k from B')
  await ok(t, b, ['sync', 'up'], 'up B')
  t.same(await previewOps(a), ['update settings/cfg/keep.txt'], 'B did not delete what it excludes')
  await ok(t, a, ['sync', 'down', '--yes'], 'down A')
  t.equal(await readFile(join(a.home, 'cfg/cache/blob'), 'utf8'), 'cached on A, v2')
})

t.test('a lost state database: what is missing here is not deleted from the chain', async (t) => {
  const { a, b } = await pair(t, { 'one.txt': '1', 'two.txt': '2' })
  await writeFile(join(b.home, 'cfg/three.txt'), '3')
  await ok(t, b, ['sync', 'up'], 'up B')
  await ok(t, a, ['sync', 'down', '--yes'], 'down A')
  await rm(join(b.cloudyHome, 'state.db'))
  await rm(join(b.home, 'cfg/two.txt'))
  await writeFile(join(b.home, 'cfg/one.txt'), '1 from B')
  await ok(t, b, ['sync', 'up'], 'up B without its state database')
  t.same(await previewOps(a), ['update settings/cfg/one.txt'], 'two.txt is not deleted on A')
  await writeFile(join(b.home, 'cfg/four.txt'), '4')
  await ok(t, b, ['sync', 'up'], 'up B again, before any down-sync')
  t.same(await previewOps(a), ['add settings/cfg/four.txt', 'update settings/cfg/one.txt'], 'two.txt is still not deleted on A')
  await ok(t, a, ['sync', 'down', '--yes'], 'down A')
  t.equal(await readFile(join(a.home, 'cfg/two.txt'), 'utf8'), '2')
  await ok(t, b, ['sync', 'down', '--yes'], 'down B')
  t.same(await cfg(b), await cfg(a), 'B gets two.txt back and both are equal')
})

t.test('--only on a conflict the merge resolved also writes the copy of the losing version', async (t) => {
  const { a, b } = await pair(t, { 'm.txt': 'base' })
  await writeFile(join(a.home, 'cfg/m.txt'), 'A, older')
  await utimes(join(a.home, 'cfg/m.txt'), new Date('2026-03-01T00:00:00Z'), new Date('2026-03-01T00:00:00Z'))
  await writeFile(join(b.home, 'cfg/m.txt'), 'B, newer')
  await utimes(join(b.home, 'cfg/m.txt'), new Date('2026-03-02T00:00:00Z'), new Date('2026-03-02T00:00:00Z'))
  await Promise.all([ok(t, a, ['sync', 'up'], 'up A'), ok(t, b, ['sync', 'up'], 'up B')])
  t.equal((await cloudy(a, ['sync', 'down', '--yes', '--only', 'settings/cfg/m.txt'])).code, 6)
  t.equal(await readFile(join(a.home, 'cfg/m.txt'), 'utf8'), 'B, newer')
  t.equal(await readFile(join(a.home, 'cfg/m.conflict-alpha-20260301-000000.txt'), 'utf8'), 'A, older', "A's version is kept")
})

t.test('a file the merge turned into a folder replaces the synced file on the other side', async (t) => {
  const { a, b } = await pair(t, { f: 'file' })
  await rm(join(a.home, 'cfg/f'))
  await mkdir(join(a.home, 'cfg/f'))
  await writeFile(join(a.home, 'cfg/f/x'), 'inside')
  await writeFile(join(b.home, 'cfg/f'), 'file edited on B')
  await Promise.all([ok(t, a, ['sync', 'up'], 'up A'), ok(t, b, ['sync', 'up'], 'up B')])
  t.equal((await cloudy(b, ['sync', 'down', '--yes'])).code, 6, 'B reports the conflict')
  t.equal(await readFile(join(b.home, 'cfg/f/x'), 'utf8'), 'inside', 'the folder keeps the name')
  const copies = (await readdir(join(b.home, 'cfg'))).filter((n) => n.startsWith('f.conflict-bravo-'))
  t.equal(copies.length, 1)
  t.equal(await readFile(join(b.home, 'cfg', copies[0]!), 'utf8'), 'file edited on B', "B's file is kept beside it")
  await ok(t, a, ['sync', 'down', '--yes'], 'down A')
  t.same(await cfg(a), await cfg(b))
})

t.test('a folder the chain turned into a file is replaced when it holds only synced files', async (t) => {
  const { a, b } = await pair(t, { 'd/x': 'x', 'd/sub/y': 'y', 'e/z': 'z' })
  await rm(join(a.home, 'cfg/d'), { recursive: true })
  await writeFile(join(a.home, 'cfg/d'), 'now a file')
  await rm(join(a.home, 'cfg/e'), { recursive: true })
  await writeFile(join(a.home, 'cfg/e'), 'e too')
  await ok(t, a, ['sync', 'up'], 'up A')
  await writeFile(join(b.home, 'cfg/e/unsynced'), 'made on B')
  const downB = await cloudy(b, ['sync', 'down', '--yes'])
  t.equal(downB.code, 6, `e/ holds a file never synced: a conflict: ${downB.stderr}`)
  t.equal(await readFile(join(b.home, 'cfg/d'), 'utf8'), 'now a file', 'd/ became the file, no copy')
  t.notOk((await readdir(join(b.home, 'cfg'))).some((n) => n.startsWith('d.conflict')))
  t.equal(await readFile(join(b.home, 'cfg/e/unsynced'), 'utf8'), 'made on B', 'e/ stays with what B made in it')
  t.notOk(existsSync(join(b.home, 'cfg/e/z')), 'but loses what the chain deleted')
})

t.test('folder modes and times follow the chain and are not sent back', async (t) => {
  const { a, b } = await pair(t, { 'private/key': 'secret', 'other/file': 'o' })
  await chmod(join(a.home, 'cfg/private'), 0o700)
  await utimes(join(a.home, 'cfg/other'), new Date('2025-05-05T00:00:00Z'), new Date('2025-05-05T00:00:00Z'))
  await ok(t, a, ['sync', 'up'], 'up A')
  // A folder's mode is an item; its time alone is applied without being one.
  t.same(await previewOps(b), ['update settings/cfg/private'])
  await ok(t, b, ['sync', 'down', '--yes'], 'down B')
  t.equal((await lstat(join(b.home, 'cfg/private'))).mode & 0o777, 0o700)
  t.equal((await lstat(join(b.home, 'cfg/other'))).mtime.toISOString(), '2025-05-05T00:00:00.000Z')
  t.match((await ok(t, b, ['sync', 'up'], 'up B')).stdout, /no change/, 'nothing to send back')
  t.same(await cfg(b), await cfg(a))
})

t.test('what other programs do in a folder above an include publishes nothing', async (t) => {
  const a = computer(t)
  await mkdir(join(a.home, '.config/app'), { recursive: true })
  await writeFile(join(a.home, '.config/app/app.conf'), 'x = 1\n')
  await initVault(t, a, tempDir(t, 'vault'), ['~/.config/app'])
  await ok(t, a, ['sync', 'up'])
  // Another program makes and removes a file beside the include: ~/.config's time changes.
  await writeFile(join(a.home, '.config/other.tmp'), '')
  await rm(join(a.home, '.config/other.tmp'))
  await utimes(join(a.home, '.config'), new Date('2030-01-01'), new Date('2030-01-01'))
  t.match((await ok(t, a, ['sync', 'up'])).stdout, /^settings: no change/m)
})

t.test('undoing here what the chain brought is sent, not brought back', async (t) => {
  const { a, b } = await pair(t, { 'keep.txt': 'k' })
  await writeFile(join(b.home, 'cfg/b.txt'), 'from B')
  await ok(t, b, ['sync', 'up'], 'up B')
  const folderTime = (await lstat(join(b.home, 'cfg'), { bigint: true })).mtimeNs
  await writeFile(join(a.home, 'cfg/new.txt'), 'from A')
  await ok(t, a, ['sync', 'up'], 'up A')
  await ok(t, b, ['sync', 'down', '--yes'], 'down B')
  // B's files are now exactly what B itself last published: the deletion must still be sent.
  await rm(join(b.home, 'cfg/new.txt'))
  // To the nanosecond, as the tree records it (utimes takes a double: microseconds at best).
  const ns = String(folderTime % 1_000_000_000n).padStart(9, '0')
  await execFileAsync('touch', ['-m', '-d', `@${folderTime / 1_000_000_000n}.${ns}`, join(b.home, 'cfg')])
  await ok(t, b, ['sync', 'up'], 'up B')
  await ok(t, a, ['sync', 'down', '--yes'], 'down A')
  t.notOk(existsSync(join(a.home, 'cfg/new.txt')), 'the deletion reached A')
  await writeFile(join(a.home, 'cfg/keep.txt'), 'k2')
  await ok(t, a, ['sync', 'up'], 'up A')
  await ok(t, b, ['sync', 'down', '--yes'], 'down B')
  t.notOk(existsSync(join(b.home, 'cfg/new.txt')), 'and it does not come back to B')
})

t.test('two syncs started at once on one computer run one after the other', async (t) => {
  const { a, b } = await pair(t, { 'one.txt': '1' })
  await writeFile(join(a.home, 'cfg/two.txt'), '2')
  await writeFile(join(b.home, 'cfg/three.txt'), '3')
  await ok(t, b, ['sync', 'up'], 'up B')
  const [up, down] = await Promise.all([cloudy(a, ['sync', 'up']), cloudy(a, ['sync', 'down', '--yes'])])
  t.equal(up.code, 0, up.stderr)
  t.equal(down.code, 0, down.stderr)
  await ok(t, a, ['check', '--read-data'], 'check')

  // While another sync holds the lock, a sync waits, and says so.
  const held = await acquireSyncLock(join(a.cloudyHome, 'sync.lock'))
  await writeFile(join(a.home, 'cfg/four.txt'), '4')
  let finished = false
  const waiting = cloudy(a, ['sync', 'up']).finally(() => (finished = true))
  await new Promise((r) => setTimeout(r, 1500))
  t.notOk(finished, 'waits while the lock is held')
  held.release()
  const r = await waiting
  t.equal(r.code, 0, r.stderr)
  t.match(r.stderr, /Waiting for another sync or restore on this computer to finish/)
  await ok(t, a, ['sync', 'up'], 'up A')
  await ok(t, b, ['sync', 'down', '--yes'], 'down B')
  await ok(t, a, ['sync', 'down', '--yes'], 'down A')
  t.same(await cfg(a), await cfg(b))
})
