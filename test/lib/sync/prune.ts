/**
 * The writer's side of the prune protocol, step by step in one process (docs/FORMAT.md,
 * "Retention and prune"): an up-sync that took a blob from a pack before a prune condemned it
 * copies it out before moving its head; one that comes after the prune deleted it publishes
 * nothing and says so; and a prune's options are read as restic's.
 */
import t, { type Test } from 'tap'
import { mkdir, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { PrunedError } from '../../../lib/errors.js'
import { openSession, type Session } from '../../../lib/session.js'
import { forget } from '../../../lib/sync/forget.js'
import { parseGrace, parseMaxUnused, prune } from '../../../lib/sync/prune.js'
import { publish } from '../../../lib/sync/up.js'
import { syncUpAll } from '../../../lib/sync/up-all.js'
import { BlobType } from '../../../lib/vault/aead.js'
import { cloudy, computer, initVault, joinVault, tempDir, type Computer } from '../../helpers/cli.js'

function session(t: Test, c: Computer): Promise<Session> {
  const env = { PATH: process.env.PATH, HOME: c.home, CLOUDY_HOME: c.cloudyHome, ...c.env }
  return openSession({ env, password: async () => 'correct horse' }).then((s) => {
    t.teardown(() => s.close())
    return s
  })
}

/** A with ~/cfg/x up-synced, then deleted and up-synced again, and the first commit forgotten: x's bytes are used by nothing. */
async function setUp(t: Test) {
  const vault = tempDir(t, 'vault')
  const a = computer(t)
  const c = computer(t)
  await mkdir(join(a.home, 'cfg'))
  const x = randomBytes(5000)
  await writeFile(join(a.home, 'cfg', 'x'), x)
  await writeFile(join(a.home, 'cfg', 'y'), 'stays')
  await initVault(t, a, vault, ['~/cfg'], 'pc-a')
  await joinVault(t, c, vault, ['~/cfg'], 'pc-c')
  const [sa, sc] = [await session(t, a), await session(t, c)]
  await syncUpAll(sa)
  await rm(join(a.home, 'cfg', 'x'))
  await syncUpAll(sa)
  const forgotten = await forget(sc, { policy: { last: 1 } })
  t.equal(forgotten.find((f) => f.space === 'settings')?.forgotten.length, 1, 'the commit holding x is forgotten')
  return { a, c, sa, sc, x }
}

/** A's store opened now, and a tree holding x made in it (x's chunk taken from the index, as a scan would). */
async function writer(sa: Session, x: Buffer) {
  const store = sa.vault.store('settings', sa.db)
  await store.open()
  const chunk = await store.addBlob(BlobType.data, x)
  t.equal(store.stats.blobsDeduped, 1, "x's chunk is taken from the vault, not sent")
  const tree = await store.putTree({
    entries: [{ name: 'x', type: 'file', mode: 0o644, mtimeNs: '1000', size: x.length, content: [chunk.toString('hex')] }],
  })
  await store.flush()
  return { store, tree, chunk }
}

const headOf = async (s: Session) => (await s.vault.store('settings', s.db).readHeads()).get(s.vault.deviceTag(s.device.id))?.commit

t.test('an up-sync that took a blob before a prune condemned its pack copies it out before moving its head', async (t) => {
  const { c, sa, sc, x } = await setUp(t)
  const w = await writer(sa, x)
  // The prune marks x's pack while A's up-sync is under way.
  const marked = await prune(sc, { graceMs: 2000, wait: false, maxUnused: 'unlimited' })
  t.ok(marked.find((r) => r.space === 'settings')!.condemned.count > 0, 'the pack holding x is marked')
  const added = w.store.stats.blobsAdded
  const commit = await publish({ vault: sa.vault, db: sa.db, device: sa.device, space: 'settings' }, w.store, w.tree)
  t.ok(commit, 'published')
  t.equal(w.store.stats.blobsAdded - added, 1, "x's chunk was copied to a new pack before the head moved")
  await new Promise((r) => setTimeout(r, 2100))
  const finished = await prune(sc, { graceMs: 2000, wait: false, maxUnused: 'unlimited' })
  const settings = finished.find((r) => r.space === 'settings')!
  t.ok(settings.deleted.packs > 0, 'the marked packs are deleted')
  t.equal(settings.deleted.rescued, 0, 'the prune had nothing left to copy: the up-sync did')
  const fresh = sc.vault.store('settings', sc.db)
  await fresh.open()
  t.same(await fresh.readBlob(BlobType.data, w.chunk), x, "x's bytes are in the vault")
  const check = await cloudy(c, ['check', '--read-data'])
  t.equal(check.code, 0, check.stdout + check.stderr)
})

t.test('an up-sync that comes after the prune deleted its blob publishes nothing, and the next one stores it again', async (t) => {
  const { a, c, sa, sc, x } = await setUp(t)
  const w = await writer(sa, x)
  const before = await headOf(sa)
  await prune(sc, { graceMs: 2000, wait: true, maxUnused: 'unlimited' })
  await t.rejects(
    publish({ vault: sa.vault, db: sa.db, device: sa.device, space: 'settings' }, w.store, w.tree),
    PrunedError,
    'told that a prune deleted what it used',
  )
  t.equal(await headOf(sa), before, 'the head did not move')
  // The user's next up-sync (the file is back on disk) sends x again.
  await writeFile(join(a.home, 'cfg', 'x'), x)
  const up = await syncUpAll(sa)
  t.ok(up.spaces.find((sp) => sp.space === 'settings')?.commit, 'the next up-sync publishes')
  const check = await cloudy(c, ['check', '--read-data'])
  t.equal(check.code, 0, check.stdout + check.stderr)
})

t.test("prune's options read as restic's", async (t) => {
  t.same(parseMaxUnused('5%'), { fraction: 0.05 })
  t.same(parseMaxUnused('unlimited'), 'unlimited')
  t.same(parseMaxUnused('100M'), { bytes: 100 * 1024 * 1024 })
  t.same(parseMaxUnused('0'), { bytes: 0 })
  t.throws(() => parseMaxUnused('100%'), /below 100/)
  t.throws(() => parseMaxUnused('lots'), /a percentage \(5%\), a size/)
  t.equal(parseGrace('10m'), 600_000)
  t.equal(parseGrace('2s'), 2000)
  t.throws(() => parseGrace('1s'), /at least 2s/)
  t.throws(() => parseGrace('soon'), /a duration/)
})
