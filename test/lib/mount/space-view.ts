/**
 * The read path of the mount: files read by range across chunks, the on-disk cache of sealed
 * chunks for remote providers (bounded, damage-proof), and read-ahead for sequential readers.
 */
import t, { type Test } from 'tap'
import { randomBytes } from 'node:crypto'
import { readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { memory } from '../../../providers/memory.js'
import type { ByteRange, Provider } from '../../../providers/provider.js'
import { StateDb } from '../../../lib/state/db.js'
import { SpaceStore } from '../../../lib/store/space-store.js'
import { BlobType } from '../../../lib/vault/aead.js'
import { spaceKeys } from '../../../lib/vault/keys.js'
import { DiskChunkCache } from '../../../lib/mount/disk-cache.js'
import { SpaceView } from '../../../lib/mount/space-view.js'
import { tempDir } from '../../helpers/temp.js'

const keys = spaceKeys('app/x', randomBytes(32))

/** A memory provider that says it is remote and counts the pack ranges read. */
function remote(): Provider & { gets: number } {
  const p = memory()
  const r = {
    ...p,
    local: false,
    gets: 0,
    get(key: string, range?: ByteRange) {
      if (key.includes('/packs/')) r.gets++
      return p.get(key, range)
    },
  }
  return r
}

/** A space holding one file `f.bin` made of `chunks`. */
async function spaceWith(t: Test, p: Provider, chunks: Buffer[]): Promise<{ store: SpaceStore; root: string }> {
  const db = new StateDb(join(tempDir(t), 'state.db'))
  t.teardown(() => db.close())
  const store = new SpaceStore(p, keys, db)
  const ids = await Promise.all(chunks.map((c) => store.addBlob(BlobType.data, c)))
  const size = chunks.reduce((n, c) => n + c.length, 0)
  const root = await store.putTree({
    entries: [{ name: 'f.bin', type: 'file', mode: 0o644, mtimeNs: '0', size, content: ids.map((i) => i.toString('hex')) }],
  })
  await store.flush()
  return { store, root }
}

t.test('reads by range across chunk edges equal the bytes', async (t) => {
  const chunks = [randomBytes(1000), randomBytes(1), randomBytes(70_000), randomBytes(333)]
  const whole = Buffer.concat(chunks)
  const { store, root } = await spaceWith(t, memory(), chunks)
  const view = SpaceView.of(store, root, { cacheBytes: 1 })
  for (const [offset, length] of [
    [0, 10],
    [995, 10],
    [1000, 1],
    [1000, 2],
    [900, 70_200],
    [71_000, 5000],
    [whole.length - 1, 10],
    [whole.length, 10],
  ] as const)
    t.same(await view.read('f.bin', offset, length), whole.subarray(offset, offset + length), `${length} bytes at ${offset}`)
  t.same((await view.stat('f.bin'))?.size, whole.length)
})

t.test('a remote vault: chunks read once are kept on disk, bounded, and a damaged one is fetched again', async (t) => {
  const chunks = Array.from({ length: 6 }, () => randomBytes(50_000))
  const whole = Buffer.concat(chunks)
  const p = remote()
  const { store, root } = await spaceWith(t, p, chunks)
  const dir = join(tempDir(t), 'chunks')
  // Room for four sealed chunks: the oldest go.
  const disk = DiskChunkCache.open(dir, 4 * 50_100)
  const view = SpaceView.of(store, root, { cacheBytes: 1, disk })
  await view.stat('f.bin')
  p.gets = 0 // the tree
  t.same(await view.read('f.bin', 0, whole.length), whole)
  t.equal(p.gets, 6, 'each chunk fetched once')
  t.ok(disk.bytes <= 4 * 50_100, `bounded: ${disk.bytes} bytes on disk`)
  t.equal(readdirSync(dir).length, 4, 'the four most recent kept')
  // A new view (a new mount) with an empty memory cache: the kept chunks come from disk.
  const again = SpaceView.of(store, root, { cacheBytes: 1, disk: DiskChunkCache.open(dir, 4 * 50_100) })
  await again.stat('f.bin')
  const before = p.gets
  t.same(await again.read('f.bin', 100_000, 200_000), whole.subarray(100_000, 300_000))
  t.equal(p.gets, before, 'chunks 2-5 served from the disk cache')
  // Damage on disk is caught by authentication: fetched again, not served.
  const victim = readdirSync(dir)[0]!
  writeFileSync(join(dir, victim), randomBytes(50_040))
  const third = SpaceView.of(store, root, { cacheBytes: 1, disk: DiskChunkCache.open(dir, 4 * 50_100) })
  t.same(await third.read('f.bin', 0, whole.length), whole, 'the right bytes despite the damaged cache file')
})

t.test('sequential reads fetch the next chunks ahead; random reads do not', async (t) => {
  const chunks = Array.from({ length: 12 }, () => randomBytes(20_000))
  const p = remote()
  const { store, root } = await spaceWith(t, p, chunks)
  const view = SpaceView.of(store, root, { cacheBytes: 64 << 20 })
  await view.stat('f.bin')
  p.gets = 0 // the tree
  await view.read('f.bin', 0, 4096)
  t.equal(p.gets, 1, 'a first read fetches its chunk only')
  await view.read('f.bin', 4096, 4096)
  await new Promise((r) => setTimeout(r, 50))
  t.equal(p.gets, 9, 'a sequential read fetches 8 chunks ahead')
  const before = p.gets
  await view.read('f.bin', 20_000 * 3 + 10, 100)
  t.equal(p.gets, before, 'the next chunks are already here')
  await view.read('f.bin', 20_000 * 10, 100)
  await new Promise((r) => setTimeout(r, 50))
  t.equal(p.gets, before + 1, 'a jump (random read) fetches only what it reads')
})
