/**
 * Changes that meet: a change arriving while another one is half done (a first write copying a
 * file out of the vault, an up-sync, a down-sync, an fsync), and a crash between them. Found
 * by a review; each case lost or brought back data before its fix.
 */
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync, mkdtempSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { memory } from '../../../providers/memory.js'
import { StateDb } from '../../../lib/state/db.js'
import { SpaceStore } from '../../../lib/store/space-store.js'
import { Vault } from '../../../lib/vault/vault.js'
import { Journal } from '../../../lib/mount/journal.js'
import { baseTree, downSyncJournal, upSyncJournal, type JournaledSpace } from '../../../lib/mount/journal-sync.js'
import { JournaledView } from '../../../lib/mount/journaled-view.js'
import { SpaceView } from '../../../lib/mount/space-view.js'
import { AppsView } from '../../../lib/mount/apps-view.js'
import type { DirectFile } from '../../../lib/mount/view.js'
import { tempDir } from '../../helpers/temp.js'

// Every space's folders in one, removed when the file's tests end.
const root = tempDir(t, 'cloudy-races')
const tmp = (n: string) => mkdtempSync(join(root, `${n}-`))
const provider = memory()
const vault = await Vault.create(provider, 'pw', { kdf: 'interactive' })

async function openSpace(space: string, device = 'device-1') {
  const state = tmp('state')
  const db = new StateDb(join(state, 'state.db'))
  const store = new SpaceStore(provider, vault.space(space), db)
  await store.open()
  const journalDir = join(state, 'journal')
  const view = new JournaledView(SpaceView.of(store, baseTree(db, space)), await Journal.open(journalDir))
  // Before the folders go (teardowns run last first): its data files made ahead stop being made.
  t.teardown(() => view.close())
  const s: JournaledSpace = {
    vault,
    db,
    device: { id: device, name: device, username: 'user', hostname: 'host-' + device, home: '/home/user' },
    space,
    store,
    view,
  }
  return { s, journalDir }
}
const text = async (v: JournaledView, p: string) => {
  const e = await v.stat(p)
  return e && (await v.read(p, 0, e.size + 1)).toString()
}
/** Make the base's vault reads wait until released. */
function gateBase(v: JournaledView) {
  let open!: () => void
  const gate = new Promise<void>((r) => (open = r))
  const base = v.base as any
  const orig = base.readContent.bind(base)
  base.readContent = async (...a: any[]) => {
    await gate
    return orig(...a)
  }
  return () => {
    base.readContent = orig
    open()
  }
}

t.test('rename while the first write to a vault file copies it out', async (t) => {
  const { s } = await openSpace('app/r1')
  await s.view.create('f', 0o644)
  await s.view.write('f', Buffer.from('old content'), 0)
  await s.view.sync('f')
  await upSyncJournal(s)
  t.ok(s.view.journal.empty)
  const release = gateBase(s.view)
  const w = s.view.write('f', Buffer.from('NEW'), 0) // first write: copyOut from the vault
  await new Promise((r) => setTimeout(r, 20))
  const r = s.view.rename('f', 'g') // mv f g by another process
  release()
  await Promise.all([w, r])
  await s.view.sync('g')
  t.equal(await s.view.stat('f'), undefined, 'f stays renamed away')
  t.equal(await text(s.view, 'g'), 'NEW content', 'g holds the write')
})

t.test('unlink while the first write to a vault file copies it out', async (t) => {
  const { s } = await openSpace('app/r2')
  await s.view.create('f', 0o644)
  await s.view.write('f', Buffer.from('old content'), 0)
  await s.view.sync('f')
  await upSyncJournal(s)
  const release = gateBase(s.view)
  const w = s.view.write('f', Buffer.from('NEW'), 0)
  await new Promise((r) => setTimeout(r, 20))
  const u = s.view.unlink('f')
  release()
  await w.catch(() => {})
  await u
  t.equal(await s.view.stat('f'), undefined, 'a deleted file stays deleted')
})

t.test('down-sync lands while the first write copies a vault file out', async (t) => {
  const a = await openSpace('app/r3', 'dev-a')
  const b = await openSpace('app/r3', 'dev-b')
  await a.s.view.create('f', 0o644)
  await a.s.view.write('f', Buffer.from('v1 from A'), 0)
  await a.s.view.sync('f')
  await upSyncJournal(a.s)
  await downSyncJournal(b.s)
  t.equal(await text(b.s.view, 'f'), 'v1 from A')
  // B edits f and publishes.
  await b.s.view.write('f', Buffer.from('v2 from B'), 0)
  await b.s.view.sync('f')
  await upSyncJournal(b.s)
  // A: an app writes f (copy-out of v1 running) while A's poll down-sync runs.
  const release = gateBase(a.s.view)
  const w = a.s.view.write('f', Buffer.from('AA'), 0)
  await new Promise((r) => setTimeout(r, 20))
  const d = downSyncJournal(a.s)
  release()
  await w
  t.equal(await d, false, 'the down-sync waits for the write, then leaves the base for after its up-sync')
  await a.s.view.sync('f')
  await upSyncJournal(a.s)
  await downSyncJournal(b.s)
  const names = await b.s.view.list('')
  const all = await Promise.all(names!.map(async (n) => `${n}=${await text(b.s.view, n)}`))
  t.comment(all.join(' | '))
  t.ok(
    all.some((x) => x.includes('v2 from B')),
    "B's edit survives somewhere (file or conflict copy)",
  )
})

t.test('a rename over a file while another file syncs: a crash at that point keeps the target', async (t) => {
  const { s, journalDir } = await openSpace('app/r4')
  await s.view.create('F', 0o644)
  await s.view.write('F', Buffer.alloc(100 * 1024, 'o'), 0) // above INLINE_MAX
  await s.view.sync('F')
  await s.view.create('tmp', 0o644)
  await s.view.write('tmp', Buffer.from('new F'), 0)
  await s.view.sync('tmp')
  const old = (s.view.journal.get('F') as any).data
  const { open: fopen } = await import('node:fs/promises')
  const probe = await fopen(join(journalDir, 'log'), 'r')
  const proto = Object.getPrototypeOf(probe)
  await probe.close()
  const ds = proto.datasync,
    wr = proto.write
  proto.datasync = async function (this: any) {
    await new Promise((r) => setTimeout(r, 30))
    return ds.call(this)
  }
  proto.write = async function (this: any, ...a: any[]) {
    if (String(a[0]).includes('"gone"')) await new Promise((r) => setTimeout(r, 100))
    return wr.apply(this, a)
  }
  t.teardown(() => {
    proto.datasync = ds
    proto.write = wr
  })
  const p = s.view.sync() // e.g. fsyncdir / another close: a durable step queued
  const r = s.view.rename('tmp', 'F') // applied in memory before p's datasync ends
  await p
  const copy = join(tmp('crash'), 'journal')
  // cp -a: the data files' times to the nanosecond (a file's time is its data file's).
  execFileSync('cp', ['-a', journalDir, copy]) // the disk as a crash now leaves it
  await r
  const log = readFileSync(join(copy, 'log'), 'utf8')
  t.comment(
    `old data file present: ${existsSync(join(copy, 'data', old))}; rename in log: ${log.split('\n').filter(Boolean).length} lines, ${log.includes('"gone"')}`,
  )
  const j = await Journal.open(copy)
  const v = new JournaledView(SpaceView.of(s.store, s.view.base.root), j)
  const st = await v.stat('F')
  t.ok(st, 'F exists after the crash (old or new)')
  t.comment(`F=${st && (await text(v, 'F'))?.slice(0, 10)} tmp=${await text(v, 'tmp')}`)
})

t.test('a rename onto an emptied folder during an up-sync: the deleted file stays deleted', async (t) => {
  const { s } = await openSpace('app/r5')
  await s.view.mkdir('X', 0o755)
  await s.view.create('X/a', 0o644)
  await s.view.mkdir('Y', 0o755)
  await s.view.create('Y/b', 0o644)
  await s.view.sync()
  let open!: () => void
  const gate = new Promise<void>((r) => (open = r))
  const store = s.store as any
  const flush = store.flush.bind(store)
  store.flush = async () => {
    await gate
    return flush()
  }
  const up = upSyncJournal(s) // snapshot taken now: X holds a
  await s.view.unlink('X/a')
  await s.view.rename('Y', 'X') // X is empty: allowed
  t.same(await s.view.list('X'), ['b'])
  store.flush = flush
  open()
  await up
  t.same(await s.view.list('X'), ['b'], 'X holds b only after the up-sync settles')
  t.comment(`X/a: ${JSON.stringify(await s.view.stat('X/a'))}`)
})

t.test('fsyncdir in the full mount reaches the application journals', async (t) => {
  const calls: string[] = []
  const fake = (name: string) => ({
    view: { sync: async (p?: string) => void calls.push(`${name}:${p}`), stat: async () => ({ type: 'dir' }) },
  })
  const spaces = { get: async (space: string) => fake(space), opened: async () => [fake('apps'), fake('app/x')] } as any
  await new AppsView(spaces).sync(undefined)
  t.comment(calls.join(', '))
  t.ok(
    calls.some((c) => c.startsWith('app/')),
    'an app journal was synced',
  )
})

t.test('a write during an up-sync arms the next up-sync and waits in the journal for it', async (t) => {
  const { s } = await openSpace('app/r7')
  await s.view.create('f', 0o644)
  await s.view.write('f', Buffer.from('data'), 0) // open file, written, not closed yet
  let changes = 0
  s.view.onChange = () => void changes++
  const up = upSyncJournal(s) // quiet period elapsed while f is open
  await s.view.write('f', Buffer.from('more'), 4) // the app writes on during the up-sync
  await up
  t.ok(changes > 0, 'the write is reported: the quiet-period timer is armed again')
  t.notOk(s.view.journal.empty, 'and its state waits in the journal for that up-sync')
  t.equal((await s.view.read('f', 0, 100)).toString(), 'datamore')
})

/** A lease as the mount holds one (docs/MOUNT.md, "Direct I/O"): what the binding writes goes to `fd`. */
function lease(events: string[]) {
  const l = {
    file: undefined as DirectFile | undefined,
    /** Writes made on the file since the last note, as the binding counts them. */
    written: false,
    start: (f: DirectFile) => {
      l.file = f
      events.push(f.writable ? 'start' : 'start reads only')
    },
    stop: () => {
      events.push('stop')
      if (l.written) l.file!.wrote()
      l.written = false
      l.file!.close()
    },
    write: (text: string, at: number) => {
      writeSync(l.file!.fd, Buffer.from(text), 0, Buffer.byteLength(text), at)
      l.written = true
    },
  }
  return l
}

t.test('direct writes not yet noted are in the up-sync that stops them, and none follow', async (t) => {
  const { s } = await openSpace('app/d1')
  await s.view.create('f', 0o644)
  const events: string[] = []
  const l = lease(events)
  t.ok(await s.view.direct('f', l))
  l.write('direct', 0) // the binding has not told the view yet
  const snapshot = s.view.journal.snapshot.bind(s.view.journal)
  s.view.journal.snapshot = () => (events.push('snapshot'), snapshot())
  await upSyncJournal(s)
  t.same(events, ['start', 'stop', 'snapshot'], 'the lease was stopped before the snapshot: no write lands in what the up-sync reads')
  t.ok(s.view.journal.empty, 'what was written is published and settled')
  t.equal(await text(s.view, 'f'), 'direct', 'the size the data file had, not the one last noted')
})

t.test('a direct file an up-sync is reading is for reads only; the copy-out of a write stops it', async (t) => {
  const { s } = await openSpace('app/d2')
  await s.view.create('f', 0o644)
  await s.view.write('f', Buffer.from('old'), 0)
  const snap = await s.view.snapshot()
  const events: string[] = []
  const reader = lease(events)
  t.ok(await s.view.direct('f', reader))
  t.notOk(reader.file!.writable, 'its data file is frozen')
  await s.view.write('f', Buffer.from('new'), 0) // copied out to a data file of its own
  t.same(events, ['start reads only', 'stop'], 'who read the frozen copy reads through the view again')
  const writer = lease([])
  t.ok(await s.view.direct('f', writer))
  t.ok(writer.file!.writable, 'the new data file is writable')
  s.view.journal.thaw(snap)
  writer.stop()
})

t.test('a direct file is stopped before its data file is deleted', async (t) => {
  const { s } = await openSpace('app/d3')
  await s.view.create('f', 0o644)
  const events: string[] = []
  const l = lease(events)
  t.ok(await s.view.direct('f', l))
  const data = (s.view.journal.get('f') as { data: string }).data
  await s.view.unlink('f')
  await s.view.sync() // the deletion durable: the data file goes
  t.same(events, ['start', 'stop'])
  t.notOk(existsSync(s.view.journal.dataPath(data)), 'and then it is deleted')
  t.notOk(await s.view.direct('f', lease([])), 'no file at the path: nothing to hand over')
})
