/** The write journal: whole path states in a log replayed at open, bytes in data files of their own. */
import t, { type Test } from 'tap'
import { appendFileSync, existsSync, readFileSync, readdirSync, rmSync, statSync, truncateSync, utimesSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Journal, type JournalNode } from '../../../lib/mount/journal.js'
import { tempDir } from '../../helpers/temp.js'

/** A data file holding `text`, and the journal state of a file made of it. */
function dataFile(j: Journal, text: string, mode = 0o644): Extract<JournalNode, { kind: 'file' }> {
  const data = j.newData()
  writeFileSync(j.dataPath(data), text)
  // A file's time is its data file's (what a write or utimens left there).
  utimesSync(j.dataPath(data), 1, 1)
  return { kind: 'file', data, size: Buffer.byteLength(text), mode, mtimeMs: 1000 }
}

const dir = (opaque = true, mode = 0o755): JournalNode => ({ kind: 'dir', opaque, mode, mtimeMs: 2000 })
const logLines = (d: string) => readFileSync(join(d, 'log'), 'utf8').split('\n').filter(Boolean)

async function opened(t: Test, d: string): Promise<Journal> {
  const j = await Journal.open(d)
  t.teardown(() => j.close())
  return j
}

t.test('states survive a reopen; the last record of a path wins', async (t) => {
  const d = join(tempDir(t), 'j')
  const j = await Journal.open(d)
  t.ok(j.empty)
  const first = dataFile(j, 'first')
  await j.record([{ path: 'a.txt', node: first }])
  const second = dataFile(j, 'second!', 0o600)
  await j.record([{ path: 'a.txt', node: second }])
  await j.record([{ path: 'sub', node: dir() }])
  await j.record([{ path: 'sub/link', node: { kind: 'symlink', target: '../a.txt', mtimeMs: 3000 } }])
  await j.record([{ path: 'old', node: { kind: 'gone' }, clear: true }])
  await j.sync(undefined)
  await j.close()

  const again = await opened(t, d)
  t.notOk(again.empty)
  t.same(again.get('a.txt'), second, 'the last record wins')
  t.equal(readFileSync(again.dataPath(second.data), 'utf8'), 'second!')
  t.same(again.get('sub'), dir())
  t.same(again.get('sub/link'), { kind: 'symlink', target: '../a.txt', mtimeMs: 3000 })
  t.same(again.get('old'), { kind: 'gone' })
  t.equal(again.get('elsewhere'), undefined, 'not in the journal: the base answers')
  t.same([...again.children('').keys()].sort(), ['a.txt', 'old', 'sub'])
  t.same([...again.children('sub').keys()], ['link'])
})

t.test('a write is in the journal when it returns: after a crash the data file says size and time', async (t) => {
  const d = join(tempDir(t), 'j')
  const j = await Journal.open(d)
  const f = dataFile(j, 'abc')
  await j.record([{ path: 'f', node: f }])
  appendFileSync(j.dataPath(f.data), 'def')
  utimesSync(j.dataPath(f.data), 1_700_000_000, 1_700_000_000)
  j.touchData(f.data, 6, f.mtimeMs)
  t.match(j.get('f'), { size: 6 }, 'seen at once')
  j.touchData(j.newData(), 3, 1)
  t.same([...j.children('').keys()], ['f'], 'a data file no path holds makes no path by a touch')
  // A crash of the mount: no sync, no close.
  const again = await opened(t, d)
  t.match(again.get('f'), { size: 6, mtimeMs: 1_700_000_000_000 }, "the data file's size and time")
  t.equal(readFileSync(again.dataPath(f.data), 'utf8'), 'abcdef')
})

t.test("a rename's changes are one record: replayed whole or not at all", async (t) => {
  const d = join(tempDir(t), 'j')
  const j = await Journal.open(d)
  const f = dataFile(j, 'moved bytes')
  await j.record([{ path: 'from', node: dir() }])
  await j.record([{ path: 'from/f', node: f }])
  await j.sync(undefined)
  const before = statSync(join(d, 'log')).size
  await j.record([
    { path: 'from', node: { kind: 'gone' }, clear: true },
    { path: 'to', node: dir(), clear: true },
    { path: 'to/f', node: f },
  ])
  await j.sync(undefined)
  await j.close()
  t.equal(logLines(d).length, 3, 'one line for the three changes')
  const whole = statSync(join(d, 'log')).size

  const replayed = await Journal.open(d)
  t.same(replayed.get('from'), { kind: 'gone' })
  t.equal(replayed.get('from/f'), undefined, 'cleared by the deletion of its folder')
  t.same(replayed.get('to/f'), f)
  t.ok(existsSync(replayed.dataPath(f.data)), 'the data file moved with the record: kept')
  await replayed.close()

  // A crash in the middle of writing the record: none of it happened.
  truncateSync(join(d, 'log'), before + Math.floor((whole - before) / 2))
  const torn = await opened(t, d)
  t.same(torn.get('from'), dir())
  t.same(torn.get('from/f'), f)
  t.equal(torn.get('to'), undefined)
  t.equal(torn.get('to/f'), undefined)
})

t.test('a torn last line is dropped and later records still count; a damaged line elsewhere is reported', async (t) => {
  const d = join(tempDir(t), 'j')
  const j = await Journal.open(d)
  await j.record([{ path: 'x', node: dir() }])
  await j.close()
  const size = statSync(join(d, 'log')).size
  appendFileSync(join(d, 'log'), '{"seq":2,"changes":[{"path":"y","no')
  const after = await Journal.open(d)
  t.same(after.get('x'), dir())
  t.equal(after.get('y'), undefined, 'the torn record never happened')
  t.equal(statSync(join(d, 'log')).size, size, 'cut off, so the next record starts on a line of its own')
  await after.record([{ path: 'z', node: { kind: 'symlink', target: 'x', mtimeMs: 2 } }])
  await after.close()
  const third = await Journal.open(d)
  t.same(third.get('x'), dir())
  t.same(third.get('z'), { kind: 'symlink', target: 'x', mtimeMs: 2 }, 'later records still count')
  await third.close()

  writeFileSync(join(d, 'log'), 'garbage\n{"seq":1,"changes":[{"path":"x","node":{"kind":"gone"}}]}\n')
  await t.rejects(Journal.open(d), /damaged at line 1/)
  // A typed error (exit 7) saying what to do, not an "unexpected error".
  await t.rejects(Journal.open(d), { name: 'LocalDamageError', code: 'ELOCALDAMAGE', exitCode: 7, message: /move .* aside to mount again/ })
  writeFileSync(join(d, 'log'), '{"seq":1,"changes":[{"path":"x","node":{"kind":"gone"}}]}\n{"seq":2,"chan\n{"seq":3,"changes":[]}\n')
  await t.rejects(Journal.open(d), /damaged at line 2/, 'a whole line that does not parse is damage, not a torn end')
})

t.test('data files: the unused go at open; a dropped one only once the record dropping it is durable', async (t) => {
  const d = join(tempDir(t), 'j')
  const j = await Journal.open(d)
  const kept = dataFile(j, 'kept')
  const replaced = dataFile(j, 'replaced')
  await j.record([{ path: 'k', node: kept }])
  await j.record([{ path: 'r', node: replaced }])
  await j.sync(undefined)
  await j.record([{ path: 'r', node: { kind: 'gone' }, clear: true }])
  t.ok(existsSync(j.dataPath(replaced.data)), 'not yet durable: an old state may still be what a crash leaves')
  await j.sync(undefined)
  t.notOk(existsSync(j.dataPath(replaced.data)), 'deleted once the record is durable')

  // Moved to another path in the same record: referred to again, so kept.
  await j.record([
    { path: 'k', node: { kind: 'gone' }, clear: true },
    { path: 'k2', node: kept },
  ])
  await j.sync(undefined)
  t.ok(existsSync(j.dataPath(kept.data)))

  // An up-sync reading a data file: kept until its snapshot is settled or thawed.
  const snap = j.snapshot()
  t.ok(j.frozen.has(kept.data))
  await j.record([{ path: 'k2', node: { kind: 'gone' }, clear: true }])
  await j.sync(undefined)
  t.ok(existsSync(j.dataPath(kept.data)), 'frozen: still read by the up-sync')
  j.thaw(snap)
  t.equal(j.frozen.size, 0)
  await j.sync(undefined)
  t.notOk(existsSync(j.dataPath(kept.data)), 'thawed: deleted at the next durable point')

  // Written but never recorded (a crash between the two), and a stray file: removed at open.
  const stray = j.newData()
  writeFileSync(j.dataPath(stray), 'never recorded')
  const long = dataFile(j, 'abc')
  await j.record([{ path: 'long', node: long }])
  await j.close()
  appendFileSync(j.dataPath(long.data), ', written after the record')
  const again = await opened(t, d)
  t.notOk(existsSync(again.dataPath(stray)))
  t.equal(readFileSync(again.dataPath(long.data), 'utf8'), 'abc, written after the record', 'a data file keeps what was written to it')
  t.match(again.get('long'), { size: 29 })
  t.same(readdirSync(join(d, 'data')), [long.data])
})

t.test('a record whose data file is missing is dropped, not served empty', async (t) => {
  const d = join(tempDir(t), 'j')
  const j = await Journal.open(d)
  const f = dataFile(j, 'bytes')
  await j.record([{ path: 'f', node: f }])
  await j.close()
  rmSync(j.dataPath(f.data))
  const again = await opened(t, d)
  t.equal(again.get('f'), undefined)
  t.ok(again.empty)
})

t.test('settle drops only the paths unchanged since the snapshot, and so does its replay', async (t) => {
  const d = join(tempDir(t), 'j')
  const j = await Journal.open(d)
  const a = dataFile(j, 'a')
  const b = dataFile(j, 'b')
  const c = dataFile(j, 'c')
  await j.record([{ path: 'a', node: a }])
  await j.record([{ path: 'b', node: b }])
  await j.record([{ path: 'c', node: c }])
  await j.record([{ path: 'gone', node: { kind: 'gone' } }])
  const snap = j.snapshot()
  t.same([...snap.nodes.keys()].sort(), ['a', 'b', 'c', 'gone'])
  t.same([...snap.children('').keys()].sort(), ['a', 'b', 'c', 'gone'])
  // Changed while the up-sync runs: replaced, and written (the view copies a frozen data file
  // aside before it writes: a record, as for a replacement).
  const b2 = dataFile(j, 'b, again')
  await j.record([{ path: 'b', node: b2 }])
  const c2 = dataFile(j, 'c++')
  await j.record([{ path: 'c', node: c2 }])
  await j.sync('c')
  t.same([...snap.nodes.keys()].sort(), ['a', 'b', 'c', 'gone'], 'the snapshot does not move')
  await j.settle(snap)
  t.equal(j.get('a'), undefined, 'unchanged: now in the base')
  t.equal(j.get('gone'), undefined)
  t.same(j.get('b'), b2, 'changed since: kept')
  t.same(j.get('c'), c2)
  t.equal(j.frozen.size, 0, 'settled: nothing frozen')
  t.notOk(existsSync(j.dataPath(a.data)), "a settled path's data file goes")
  t.notOk(existsSync(j.dataPath(b.data)), 'so does one replaced while frozen')
  t.ok(existsSync(j.dataPath(c2.data)))
  await j.close()
  const again = await opened(t, d)
  t.same([...again.children('').keys()].sort(), ['b', 'c'], 'the replay settles the same paths')
  t.same(again.get('b'), b2)
  t.same(again.get('c'), c2)
})

t.test('an opaque folder made before a snapshot is see-through after settle', async (t) => {
  const d = join(tempDir(t), 'j')
  const j = await Journal.open(d)
  await j.record([{ path: 'made', node: dir(), clear: true }])
  await j.record([{ path: 'made/inner', node: dir(), clear: true }])
  const snap = j.snapshot()
  // Changed after the snapshot (so kept), still the folder made before it.
  await j.record([{ path: 'made', node: dir(true, 0o700) }])
  await j.record([{ path: 'late', node: dir(), clear: true }])
  await j.settle(snap)
  t.same(j.get('made'), dir(false, 0o700), 'the base holds what it held at the snapshot: its entries show through')
  t.equal(j.get('made/inner'), undefined)
  t.same(j.get('late'), dir(), 'made after the snapshot: still opaque')
  await j.close()
  const again = await opened(t, d)
  t.same(again.get('made'), dir(false, 0o700), 'so after a replay')
  t.same(again.get('late'), dir())
})

t.test('the log starts over when the journal is empty after settle', async (t) => {
  const d = join(tempDir(t), 'j')
  const j = await Journal.open(d)
  const f = dataFile(j, 'bytes')
  await j.record([{ path: 'f', node: f }])
  await j.record([{ path: 'd', node: dir() }])
  await j.sync('f')
  t.ok(statSync(join(d, 'log')).size > 0)
  await j.settle(j.snapshot())
  t.ok(j.empty)
  t.equal(statSync(join(d, 'log')).size, 0)
  t.same(readdirSync(join(d, 'data')), [], 'and its data files are gone')
  // Records go on after the truncation, on a clean first line.
  await j.record([{ path: 'next', node: dir() }])
  await j.close()
  t.equal(logLines(d).length, 1)
  const again = await opened(t, d)
  t.same([...again.children('').keys()], ['next'])
})

t.test('a path held deep under folders the journal does not hold is found from them', async (t) => {
  // x and x/y are the base's: the up-sync must rebuild x, a deletion of x must take x/y/f along.
  const j = await opened(t, join(tempDir(t), 'j'))
  const f = dataFile(j, 'deep')
  await j.record([{ path: 'x/y/f', node: f }])
  await j.record([{ path: 'w', node: dir() }])
  const snap = j.snapshot()
  j.thaw(snap)
  t.ok(snap.touches(''))
  t.ok(snap.touches('x'))
  t.ok(snap.touches('x/y'))
  t.notOk(snap.touches('x/y/f'))
  t.notOk(snap.touches('w'))
  t.same(
    [...snap.children('')].map(([name]) => name),
    ['w'],
    'children are the paths held, not the folders on the way',
  )
  await j.record([{ path: 'x', node: { kind: 'gone' }, clear: true }])
  t.equal(j.get('x/y/f'), undefined)
  await j.record([{ path: 'x', node: dir(), clear: true }])
  await j.record([{ path: 'x/y', node: dir() }])
  t.same([...j.children('x/y').keys()], [], 'nothing comes back under a folder made again')
  await j.record([{ path: 'x', node: { kind: 'gone' }, clear: true }])
  await j.sync(undefined)
  t.notOk(existsSync(j.dataPath(f.data)))
  await j.record([{ path: 'w', node: { kind: 'gone' }, clear: true }])
  t.same([...j.children('').keys()].sort(), ['w', 'x'])
})

t.test('a state written (touched) before the snapshot and not synced: settled in memory and by the replay alike', async (t) => {
  // Its record in the log is older than the state the snapshot published. A crash after the
  // settle record is durable but before the data file is deleted must not bring that record back.
  const d = join(tempDir(t), 'j')
  const j = await Journal.open(d)
  const f = dataFile(j, 'abc')
  await j.record([{ path: 'f', node: f }])
  await j.sync(undefined)
  appendFileSync(j.dataPath(f.data), 'def')
  j.touchData(f.data, 6, f.mtimeMs)
  const snap = j.snapshot()
  await j.record([{ path: 'later', node: dir() }])
  const bytes = readFileSync(j.dataPath(f.data))
  await j.settle(snap)
  t.equal(j.get('f'), undefined, 'published: the base has it')
  await j.close()
  writeFileSync(j.dataPath(f.data), bytes) // the crash: the deletion never happened
  const again = await opened(t, d)
  t.equal(again.get('f'), undefined, 'not the older state of its last record')
  t.same([...again.children('').keys()], ['later'])
})

t.test('sync: the data file is fdatasynced, the log only while the record is not durable; waiting syncs share one', async (t) => {
  const d = join(tempDir(t), 'j')
  const j = await Journal.open(d)
  const f = dataFile(j, 'bytes')
  await j.record([{ path: 'f', node: f }])
  const { open: openFile } = await import('node:fs/promises')
  const fh = await openFile(j.dataPath(f.data), 'r+')
  t.teardown(() => fh.close())
  let dataSyncs = 0
  const counted = Object.assign(Object.create(fh) as typeof fh, { datasync: () => (dataSyncs++, fh.datasync()) })
  const logSize = () => statSync(join(d, 'log')).size
  const before = logSize()
  await j.sync('f', counted)
  t.equal(dataSyncs, 1, 'the data file')
  t.equal(logSize(), before, 'no record is written for a sync: the log is synced as it is')
  await j.sync('f', counted)
  t.equal(dataSyncs, 2)

  // Many files made at once and synced at once: their records become durable together.
  const nodes = Array.from({ length: 20 }, (_, i) => ({ path: `n${i}`, node: dataFile(j, `n${i}`) }))
  await Promise.all(nodes.map((n) => j.record([n])))
  await Promise.all(nodes.map((n) => j.sync(n.path)))
  await j.close()
  const again = await opened(t, d)
  for (const n of nodes) t.equal(again.get(n.path)?.kind, 'file')
})

t.test('the durable flag holds 1 only while every record is durable; a direct write gives its paths the data file size', async (t) => {
  const d = join(tempDir(t), 'j')
  const j = await opened(t, d)
  const flag = () => Atomics.load(j.durableFlag, 0)
  t.equal(flag(), 1, 'just opened: what was replayed is durable')
  const f = dataFile(j, 'bytes')
  await j.record([{ path: 'f', node: f }])
  t.equal(flag(), 0, 'a record not synced yet: an fsync must sync the log')
  await j.sync('f')
  t.equal(flag(), 1)
  // A record written while the log's sync runs is not covered by it.
  const syncing = j.sync(undefined)
  await j.record([{ path: 'g', node: dir() }])
  await syncing
  t.equal(flag(), 0, 'the record that came during the sync keeps it 0')
  await j.sync(undefined)
  t.equal(flag(), 1)

  await j.record([
    { path: 'f2', node: f },
    { path: 'f', node: { kind: 'gone' }, clear: true },
  ])
  appendFileSync(j.dataPath(f.data), ' and more')
  j.touchData(f.data, 14, 5000)
  t.same([j.get('f2')], [{ ...f, size: 14, mtimeMs: 5000 }], 'the path that holds the data file now')
  t.same(j.get('f'), { kind: 'gone' })
})

t.test("an older journal's small file: its record brings back a data file a machine crash lost", async (t) => {
  const d = join(tempDir(t), 'j')
  const j = await Journal.open(d)
  const small = dataFile(j, 'small bytes')
  await j.close()
  // The record as journals before data files measured files wrote it: the bytes inline.
  appendFileSync(
    join(d, 'log'),
    JSON.stringify({ seq: 1, changes: [{ path: 'small.txt', node: small, inline: Buffer.from('small bytes').toString('base64') }] }) + '\n',
  )
  rmSync(j.dataPath(small.data))
  const again = await opened(t, d)
  t.equal(readFileSync(again.dataPath(small.data), 'utf8'), 'small bytes')
  t.match(again.get('small.txt'), { size: 11, mtimeMs: 1000 })
})

t.test('a change the log cannot take is refused whole: not shown, not replayed', async (t) => {
  const d = join(tempDir(t), 'j')
  const { open } = await import('node:fs/promises')
  let refuse = false
  // The log opened for appending, but its writes fail when asked to (as on a full disk).
  const j = await Journal.open(d, async (path, flags, mode) => {
    const fh = await open(path, flags, mode)
    if (!path.endsWith('/log')) return fh
    const readOnly = await open(path, 'r')
    t.teardown(() => readOnly.close())
    return new Proxy(fh, {
      get: (target, prop) => {
        if (prop === 'fd') return refuse ? readOnly.fd : target.fd
        const v = Reflect.get(target, prop, target) as unknown
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v
      },
    })
  })
  const f = dataFile(j, 'kept')
  await j.record([{ path: 'kept', node: f }])
  refuse = true
  await t.rejects(j.record([{ path: 'refused', node: dir() }]), /EBADF/)
  t.equal(j.get('refused'), undefined, 'not shown')
  refuse = false
  await j.record([{ path: 'after', node: dir() }])
  await j.close()
  const again = await opened(t, d)
  t.same([...again.children('').keys()].sort(), ['after', 'kept'], 'the log holds whole lines: later records count')
})
