/**
 * The mount's durability promise (docs/MOUNT.md, "Durability"), checked on the journal under
 * a file layer that drops what was not synced (test/helpers/power-loss.ts): after a power loss,
 * every file whose fsync returned is there with the bytes it had then, whatever was written
 * after, made or renamed around it; after a crash of the mount alone (a reopen without loss),
 * every write that returned is there, synced or not.
 */
import t, { type Test } from 'tap'
import { join } from 'node:path'
import { memory } from '../../../providers/memory.js'
import { StateDb } from '../../../lib/state/db.js'
import { SpaceStore } from '../../../lib/store/space-store.js'
import { Vault } from '../../../lib/vault/vault.js'
import { Journal } from '../../../lib/mount/journal.js'
import { JournaledView } from '../../../lib/mount/journaled-view.js'
import { SpaceView } from '../../../lib/mount/space-view.js'
import { PowerLossDisk } from '../../helpers/power-loss.js'
import { tempDir } from '../../helpers/temp.js'

const provider = memory()
const vault = await Vault.create(provider, 'pw', { kdf: 'interactive' })

async function space(t: Test) {
  const state = tempDir(t, 'cloudy-power')
  const db = new StateDb(join(state, 'state.db'))
  t.teardown(() => db.close())
  const store = new SpaceStore(provider, vault.space('app-power'), db)
  await store.open()
  const dir = join(state, 'journal')
  const disk = new PowerLossDisk()
  const views: JournaledView[] = []
  const view = async () => {
    const v = new JournaledView(SpaceView.of(store, undefined), await Journal.open(dir, disk.open))
    views.push(v)
    return v
  }
  t.teardown(async () => {
    for (const v of views) {
      await v.journal.close().catch(() => {})
      await v.close().catch(() => {})
    }
  })
  return { disk, view }
}

const text = async (v: JournaledView, path: string) => (await v.read(path, 0, 1 << 20)).toString()

t.test('after a power loss every fsynced file is there as it was synced', async (t) => {
  const { disk, view } = await space(t)
  const v = await view()
  await v.mkdir('docs', 0o755)
  await v.create('docs/a.txt', 0o644)
  await v.write('docs/a.txt', Buffer.from('synced a'), 0)
  await v.sync('docs/a.txt')
  // Written after its fsync: may be lost.
  await v.write('docs/a.txt', Buffer.from(', then more'), 8)
  // A large file, synced.
  const big = Buffer.alloc(3 << 20, 7)
  await v.create('big.bin', 0o600)
  await v.write('big.bin', big, 0)
  await v.sync('big.bin')
  // Never synced: may be lost.
  await v.create('loose.txt', 0o644)
  await v.write('loose.txt', Buffer.from('loose'), 0)
  // Many files synced at once (group commit), then renamed and the folder synced.
  await Promise.all(Array.from({ length: 30 }, (_, i) => v.create(`n${i}`, 0o644)))
  await Promise.all(Array.from({ length: 30 }, (_, i) => v.write(`n${i}`, Buffer.from(`n${i}`), 0)))
  await Promise.all(Array.from({ length: 30 }, (_, i) => v.sync(`n${i}`)))
  await v.rename('n0', 'renamed')
  await v.sync()
  // An SQLite-like file: synced many times, its record durable after the first.
  await v.create('db', 0o644)
  for (let i = 0; i < 20; i++) {
    await v.write('db', Buffer.from(`page ${i}`.padEnd(64)), i * 64)
    await v.sync('db')
  }

  disk.lose()
  const after = await view()
  t.equal(await text(after, 'docs/a.txt'), 'synced a', 'the fsynced bytes, nothing written after')
  t.ok((await after.read('big.bin', 0, big.length)).equals(big), 'the large file')
  t.equal(await after.stat('loose.txt'), undefined, 'a file never synced may be gone')
  for (let i = 1; i < 30; i++) t.equal(await text(after, `n${i}`), `n${i}`)
  t.equal(await text(after, 'renamed'), 'n0', 'a rename made durable by syncing its folder')
  t.equal(await after.stat('n0'), undefined)
  t.equal((await after.stat('db'))?.size, 20 * 64)
  t.equal(await text(after, 'db'), Array.from({ length: 20 }, (_, i) => `page ${i}`.padEnd(64)).join(''))
  const dbSyncs = [...disk.syncs].filter(([p]) => p.endsWith('/log')).reduce((n, [, c]) => n + c, 0)
  t.ok(dbSyncs <= 8, `the log was synced ${dbSyncs} times for 20 + 30 + 4 fsyncs: once per record that needed it, shared`)
})

t.test('after a crash of the mount alone every write that returned is there', async (t) => {
  const { view } = await space(t)
  const v = await view()
  await v.create('f', 0o644)
  await v.write('f', Buffer.from('written, never synced nor closed'), 0)
  await v.truncate('f', 20, false)
  await v.utimens('f', 1_500_000_000_000)
  await v.create('g', 0o644)
  await v.write('g', Buffer.from('g'), 0)
  // No sync, no clean close: the process is gone, the page cache is not.
  const after = await view()
  t.equal(await text(after, 'f'), 'written, never synce')
  t.equal((await after.stat('f'))?.mtimeMs, 1_500_000_000_000, 'the time set last')
  t.equal(await text(after, 'g'), 'g')
})

t.test('a journal replayed after a kill is synced before the binding may answer fsyncs alone', async (t) => {
  const { disk, view } = await space(t)
  const v = await view()
  await v.create('f', 0o644)
  await v.write('f', Buffer.from('kept'), 0)
  // The mount is killed: nothing was synced; the next one replays the log from the page cache.
  const again = await view()
  t.equal(Atomics.load(again.journal.durableFlag, 0), 1, 'every record durable: an fsync may skip the log')
  // What the binding does for that fsync: the data file's fdatasync alone.
  const node = again.journal.get('f') as { data: string }
  await again.data.use(node.data, (fh) => fh.datasync())
  disk.lose()
  t.equal(await text(await view(), 'f'), 'kept', 'the file and the record that made it survive the power loss')
})
