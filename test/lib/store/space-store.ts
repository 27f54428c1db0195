import t from 'tap'
import { tempDir } from '../../helpers/temp.js'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { memory } from '../../../providers/memory.js'
import { StateDb } from '../../../lib/state/db.js'
import { SpaceStore } from '../../../lib/store/space-store.js'
import { packKey } from '../../../lib/store/pack.js'
import { BlobType, open } from '../../../lib/vault/aead.js'
import { blobId, spaceKeys } from '../../../lib/vault/keys.js'
import { RollbackError, IntegrityError } from '../../../lib/errors.js'

const keys = spaceKeys('settings', randomBytes(32))

t.test('blobs go into packs of the target size, an index makes them findable from a fresh state', async (t) => {
  const p = memory()
  const dir = tempDir(t)
  const db = new StateDb(join(dir, 'a.db'))
  const store = new SpaceStore(p, keys, db, { packSize: 64 * 1024 })
  const blobs = Array.from({ length: 40 }, () => randomBytes(10_000))
  const ids = await Promise.all(blobs.map((b) => store.addBlob(BlobType.data, b)))
  // The same content again, concurrently: stored once.
  await Promise.all(blobs.slice(0, 10).map((b) => store.addBlob(BlobType.data, b)))
  await store.flush()
  t.equal(store.stats.blobsAdded, 40)
  t.equal(store.stats.blobsDeduped, 10)
  const packs = []
  for await (const o of p.list(`s/${keys.tag}/packs/`)) packs.push(o)
  t.equal(packs.length, store.stats.packsWritten)
  t.ok(packs.length >= 6, `${packs.length} packs of ~64 KiB`)
  const indexes = []
  for await (const o of p.list(`s/${keys.tag}/index/`)) indexes.push(o)
  t.equal(indexes.length, packs.length, 'an index file per pack: a stopped run leaves only the packs in flight unindexed')
  db.close()

  const db2 = new StateDb(join(dir, 'b.db'))
  const fresh = new SpaceStore(p, keys, db2)
  await fresh.open()
  for (let i = 0; i < blobs.length; i++) t.same(await fresh.readBlob(BlobType.data, ids[i]!), blobs[i], `blob ${i} reads back`)
  await t.rejects(fresh.readBlob(BlobType.tree, ids[0]!), IntegrityError, 'read as another type: refused')
  t.ok(fresh.has(ids[5]!))
  t.notOk(fresh.has(randomBytes(32)))
  db2.close()
})

t.test('compressible blobs are stored compressed, random ones as they are', async (t) => {
  const p = memory()
  const db = new StateDb(join(tempDir(t), 's.db'))
  const store = new SpaceStore(p, keys, db)
  await store.addBlob(BlobType.data, Buffer.from('key = value\n'.repeat(50_000)))
  await store.flush()
  t.ok(store.stats.packBytes < 50_000, `600 KB of text stored in ${store.stats.packBytes} bytes`)
  const s2 = new SpaceStore(p, keys, db)
  await s2.addBlob(BlobType.data, randomBytes(600_000))
  await s2.flush()
  t.ok(s2.stats.packBytes > 600_000 && s2.stats.packBytes < 601_000, 'random data is not inflated')
  db.close()
})

t.test('commits and heads; a head that goes back is refused as a rollback', async (t) => {
  const p = memory()
  const db = new StateDb(join(tempDir(t), 's.db'))
  const store = new SpaceStore(p, keys, db)
  const tree = await store.putTree({ entries: [] })
  await store.flush()
  const commit = {
    format: 1 as const,
    space: 'settings',
    device: 'ab'.repeat(16),
    deviceName: 'd',
    username: 'u',
    hostname: 'h',
    home: '/home/u',
    time: new Date().toISOString(),
    parents: [],
    tree,
    seq: 1,
  }
  const id1 = await store.putCommit(commit)
  t.same(await store.readCommit(id1), commit)
  const dev = 'ab'.repeat(16)
  const headKey = `s/${keys.tag}/heads/${dev}`
  await store.putHead(dev, { commit: id1, seq: 1, time: commit.time })
  const old = await p.get(headKey)
  const id2 = await store.putCommit({ ...commit, seq: 2, parents: [id1] })
  await store.putHead(dev, { commit: id2, seq: 2, time: commit.time })
  t.equal((await store.readHeads()).get(dev)?.commit, id2)
  // The storage replays the old head.
  await p.put(headKey, old)
  await t.rejects(store.readHeads(), RollbackError)
  // A head copied under another device's name does not authenticate.
  await store.putHead(dev, { commit: id2, seq: 2, time: commit.time })
  await p.put(`s/${keys.tag}/heads/${'cd'.repeat(16)}`, old)
  await t.rejects(store.readHeads(), IntegrityError)
  db.close()
})

t.test('a blob stored after this store read the index is found by one more read of it, shared by readers at once', async (t) => {
  const p = memory()
  let listings = 0
  const counted = { ...p, list: (prefix: string) => (prefix.endsWith('/index/') && listings++, p.list(prefix)) }
  const dir = tempDir(t)
  const [dbA, dbB] = [new StateDb(join(dir, 'a.db')), new StateDb(join(dir, 'b.db'))]
  t.teardown(() => (dbA.close(), dbB.close()))
  const reader = new SpaceStore(counted, keys, dbA, { packSize: 16 * 1024 })
  await reader.open()
  // Another computer stores blobs (and would then write a head this reader follows).
  const writer = new SpaceStore(p, keys, dbB, { packSize: 16 * 1024 })
  const blobs = Array.from({ length: 12 }, () => randomBytes(5000))
  const ids = await Promise.all(blobs.map((b) => writer.addBlob(BlobType.data, b)))
  await writer.flush()
  listings = 0
  const read = await Promise.all(ids.map((id) => reader.readBlob(BlobType.data, id)))
  t.same(read, blobs, 'every blob reads back, with no open between')
  t.ok(listings >= 1 && listings <= 2, `the index was listed again ${listings} times for 12 readers`)
  await t.rejects(
    reader.readBlob(BlobType.data, randomBytes(32)),
    /no index entry: the blob is missing/,
    'a blob stored nowhere is still damage',
  )
})

t.test('a failed pack upload poisons the store: flush fails, its blobs are not stored, nothing is published', async (t) => {
  const { faulty } = await import('../../../providers/faulty.js')
  const p = memory()
  const db = new StateDb(join(tempDir(t), 's.db'))
  // Room for about two packs of 64 KiB (and their index files), not for the rest.
  const store = new SpaceStore(faulty(p, { rate: 0, quotaBytes: 150_000 }), keys, db, { packSize: 64 * 1024 })
  const blobs = Array.from({ length: 12 }, () => randomBytes(20_000))
  const added = await Promise.allSettled(blobs.map((b) => store.addBlob(BlobType.data, b)))
  await t.rejects(store.flush(), /storage account is full/, 'flush reports the failed upload')
  const ids = added.flatMap((r, i) => (r.status === 'fulfilled' ? [r.value] : [blobId(keys, blobs[i]!)]))
  const stored = new Set<string>()
  for await (const o of p.list(`s/${keys.tag}/packs/`)) stored.add(o.key.slice(o.key.lastIndexOf('/') + 1))
  for (const [i, id] of ids.entries()) {
    const loc = store.locate(id)
    if (loc) t.ok(stored.has(loc.pack), `blob ${i} counts as stored only in a pack that arrived`)
  }
  t.ok(
    ids.some((id) => !store.has(id)),
    'the blobs of the failed packs do not count as stored',
  )
  t.ok(
    db.packIds(keys.name).size > 0 && [...db.packIds(keys.name)].every((id) => stored.has(id)),
    'the state database lists only packs that arrived',
  )
  // A failure while a flush has not reported it yet: commits and heads are refused.
  const s2 = new SpaceStore(faulty(memory(), { rate: 0, quotaBytes: 0 }), keys, db, { packSize: 16 * 1024 })
  await Promise.allSettled(Array.from({ length: 4 }, () => s2.addBlob(BlobType.data, randomBytes(20_000))))
  // The closed packs' uploads fail in the background.
  await new Promise((r) => setTimeout(r, 100))
  await t.rejects(s2.addBlob(BlobType.data, randomBytes(100)), /full/, 'nothing more is added')
  await t.rejects(s2.putHead('ab'.repeat(16), { commit: 'cd'.repeat(32), seq: 1, time: new Date().toISOString() }), /full/)
  await t.rejects(s2.flush(), /full/)
  db.close()
})

t.test('a copy of a blob sealed in an earlier key epoch is sealed with the current key', async (t) => {
  const p = memory()
  const db = new StateDb(join(tempDir(t), 'a.db'))
  t.teardown(() => db.close())
  const naming = randomBytes(32)
  const before = spaceKeys('settings', naming)
  const old = new SpaceStore(p, before, db)
  const plain = randomBytes(5000)
  const id = await old.addBlob(BlobType.data, plain)
  await old.flush()
  const { sealed } = await old.fetchSealed(id)
  const first = old.locate(id)!.pack

  // After a rekey: names from the first key, seals from the new one, the old one among `older`.
  const after = spaceKeys('settings', naming, randomBytes(32), [naming])
  const now = new SpaceStore(p, after, db)
  await now.open()
  await now.copySealed(BlobType.data, id, sealed, plain.length)
  await now.flush()
  const places = db.getBlob('settings', id)
  const at = places.find((l) => l.pack !== first)
  t.ok(at, 'the copy is in a pack of its own')
  const copy = {
    key: packKey(after.tag, at!.pack),
    sealed: await p.get(packKey(after.tag, at!.pack), { offset: at!.offset, length: at!.length }),
  }
  t.ok(open(after.blobKey, BlobType.data, id, copy.sealed), 'the current key opens the copy')
  t.notOk(open(before.blobKey, BlobType.data, id, copy.sealed), 'the earlier key does not')
  t.same(now.openBlob(copy.key, BlobType.data, id, copy.sealed), plain)
})
