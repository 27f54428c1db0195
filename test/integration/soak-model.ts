/** The soak test's model (scripts/soak-model.ts) on hand-made end states: what it calls a failure and what not. */
import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { treeTime, utimesSeconds } from '../../lib/store/objects.js'
import { compareTrees, conflictDepth, mulberry32, originalPath, SoakModel, type Entry } from '../../scripts/soak-model.js'
import { scanFolder } from '../../scripts/soak-run.js'

const file = (path: string, key: string): Entry => ({ path, type: 'file', mode: 0o644, mtimeMs: 0, key, size: 1 })
const kinds = (m: SoakModel, trees: Record<string, Entry[]>) => m.check(new Map(Object.entries(trees))).failures.map((f) => f.kind)

function model(): SoakModel {
  const m = new SoakModel(['c1', 'c2', 'c3'])
  for (const [id, key] of ['a', 'b', 'c'].entries()) m.addVersion({ id: id + 1, key, author: `c${id + 1}`, step: 1, path: 'f.txt' })
  return m
}

t.test('conflict names: the path they stand for, however deep', async (t) => {
  t.equal(originalPath('d/n1.conflict-c2-20260101-000000.txt'), 'd/n1.txt')
  t.equal(originalPath('n1.conflict-c2-20260101-000000-2'), 'n1')
  t.equal(originalPath('n1.conflict-c1-20260101-000000.conflict-c2-20260101-000000.txt'), 'n1.txt')
  t.equal(originalPath('n3.conflict-c1_c2-20261202-155914/n3'), 'n3/n3')
  t.equal(conflictDepth('n1.conflict-c1-20260101-000000.conflict-c2-20260101-000000.txt'), 2)
  t.equal(conflictDepth('n1.txt'), 0)
})

t.test('mulberry32: the same seed, the same numbers', async (t) => {
  const [a, b] = [mulberry32(7), mulberry32(7)]
  t.same([a(), a(), a()], [b(), b(), b()])
  t.not(mulberry32(8)(), mulberry32(7)())
})

t.test('a placed version must be somewhere at its path', async (t) => {
  const m = model()
  m.placed('a', 'f.txt', 'c1', 1)
  t.same(kinds(m, { c1: [file('f.txt', 'a')], c2: [file('f.txt', 'a')] }), [])
  t.same(kinds(m, { c1: [file('f.conflict-c1-20260101-000000.txt', 'a')] }), [], 'a conflict copy of the path counts')
  t.same(kinds(m, { c1: [file('g.txt', 'a')] }), ['lost a version never up-synced', 'version at a path it never had'])
  m.upSynced('c1', [file('f.txt', 'a')], true)
  t.same(kinds(m, { c1: [] }), ['lost an up-synced version'])
})

t.test('computers that differ are reported', async (t) => {
  const m = model()
  m.placed('a', 'f.txt', 'c1', 1)
  t.same(kinds(m, { c1: [file('f.txt', 'a')], c2: [file('f.txt', 'a'), file('g.txt', 'b')] }), ['computers differ'])
  t.same(kinds(m, { c1: [file('f.txt', 'a')], c2: [{ ...file('f.txt', 'a'), mode: 0o600 }] }), ['computers differ in modes'])
})

t.test('a superseded version may go; back at its path it is a failure, in a copy made before it is not', async (t) => {
  const m = model()
  m.placed('a', 'f.txt', 'c1', 1)
  m.upSynced('c1', [file('f.txt', 'a')], true)
  m.downSynced('c2', [], [file('f.txt', 'a')], true)
  m.superseded('a', 'f.txt', 'c2', 2)
  m.placed('b', 'f.txt', 'c2', 2)
  t.same(kinds(m, { c1: [file('f.txt', 'b')] }), [])
  t.same(kinds(m, { c1: [file('f.txt', 'b'), file('f.conflict-c1-20260101-000000.txt', 'a')] }), ['a superseded version came back'])
  m.observed([file('f.conflict-c1-20260101-000000.txt', 'a')])
  t.same(kinds(m, { c1: [file('f.txt', 'b'), file('f.conflict-c1-20260101-000000.txt', 'a')] }), [], 'a down-sync had kept it in a copy')
})

t.test('a deleted conflict copy must not come back', async (t) => {
  const m = model()
  m.placed('a', 'f.txt', 'c1', 1)
  m.placed('b', 'f.txt', 'c2', 1)
  m.upSynced('c1', [file('f.txt', 'a')], true)
  m.downSynced('c2', [], [file('f.txt', 'b'), file('f.conflict-c1-20260101-000000.txt', 'a')], true)
  m.superseded('a', 'f.conflict-c1-20260101-000000.txt', 'c2', 3)
  t.same(kinds(m, { c1: [file('f.txt', 'b')] }), [])
  t.same(kinds(m, { c1: [file('f.txt', 'b'), file('f.conflict-c1-20260101-000000.txt', 'a')] }), ['a deleted conflict copy came back'])
})

t.test("a deleted copy inside a folder: another computer's copy of the folder made before it knew stays", async (t) => {
  const inner = 'd/g.conflict-c3-20260101-000000'
  const other = 'd.conflict-c1-20260101-000000/g.conflict-c3-20260101-000000'
  const start = () => {
    const m = model()
    m.placed('c', 'd/g', 'c3', 1)
    m.upSynced('c3', [file('d/g', 'c')], true)
    m.downSynced('c1', [], [file(inner, 'c')], true)
    return m
  }
  const m = start()
  // c2 down-syncs and keeps c1's folder d as a copy (it had a file d); then c1 deletes its inner copy.
  m.downSynced('c2', [], [file(other, 'c')], true)
  m.superseded('c', inner, 'c1', 5)
  t.same(kinds(m, { c1: [file(other, 'c')] }), [], 'a copy c1 never had, made before c1 up-synced the deletion')
  t.same(kinds(m, { c1: [file(inner, 'c')] }), ['a deleted conflict copy came back'], 'the copy c1 deleted')
  const later = start()
  later.superseded('c', inner, 'c1', 5)
  later.upSynced('c1', [], true)
  later.downSynced('c2', [], [file(other, 'c')], true)
  t.same(kinds(later, { c1: [file(other, 'c')] }), ['a deleted conflict copy came back'], 'made after the deletion could be known')
})

t.test('conflict names: a device, one copy per version, copies of copies only with a reason', async (t) => {
  const m = model()
  m.placed('a', 'f.txt', 'c1', 1)
  m.placed('b', 'f.txt', 'c2', 1)
  t.same(kinds(m, { c1: [file('f.txt', 'b'), file('f.conflict-c1_c2-20260101-000000.txt', 'a')] }), [
    'conflict copy not named after a device',
  ])
  t.same(
    kinds(m, { c1: [file('f.txt', 'b'), file('f.conflict-c1-20260101-000000.txt', 'a'), file('f.conflict-c3-20260101-000000.txt', 'a')] }),
    ['one version kept twice'],
  )
  const folder = model()
  folder.placed('c', 'd/g', 'c3', 1)
  t.same(kinds(folder, { c1: [file('d/g', 'c'), file('d.conflict-c3-20260101-000000/g', 'c')] }), [
    'one version kept twice, once in a copied folder',
  ])
  m.placed('c', 'f.txt', 'c3', 1)
  const nested = 'f.conflict-c1-20260101-000000.conflict-c2-20260101-000000.txt'
  t.same(kinds(m, { c1: [file('f.txt', 'b'), file('f.conflict-c1-20260101-000000.txt', 'a'), file(nested, 'c')] }), [
    'conflict copy of a conflict copy without a reason',
  ])
  // a and c both by c1 in the same second: one copy name for two versions.
  m.addVersion({ id: 3, key: 'c', author: 'c1', step: 2, path: 'f.txt' })
  const r = m.check(new Map([['c1', [file('f.txt', 'b'), file('f.conflict-c1-20260101-000000.txt', 'a'), file(nested, 'c')]]]))
  t.same(r.failures, [])
  t.match(r.notes, [/reason: two versions by one device in one second/])
  // d, written by c3, was moved to f.txt by c1: its copy is named after c1, and so would e's be.
  const mv = model()
  mv.placed('b', 'f.txt', 'c2', 1)
  mv.placed('d', 'f.txt', 'c1', 3)
  mv.addVersion({ id: 4, key: 'd', author: 'c3', step: 2, path: 'n3' })
  mv.placed('e', 'f.txt', 'c1', 4)
  mv.addVersion({ id: 5, key: 'e', author: 'c1', step: 4, path: 'f.txt' })
  const moved = 'f.conflict-c1-20260101-000000.conflict-c3-20260101-000000.txt'
  const r2 = mv.check(new Map([['c1', [file('f.txt', 'b'), file('f.conflict-c1-20260101-000000.txt', 'd'), file(moved, 'e')]]]))
  t.same(
    r2.failures.map((f) => f.kind),
    [],
  )
  t.match(r2.notes, [/reason: two versions by one device in one second/])
})

t.test('a supersede replaces only what its computer had seen', async (t) => {
  const m = model()
  // c1 and c2 make the same placement; c3 receives c1's and deletes it; c2's was never synced.
  m.placed('a', 'f.txt', 'c1', 1)
  m.placed('a', 'f.txt', 'c2', 2)
  m.upSynced('c1', [file('f.txt', 'a')], true)
  m.downSynced('c3', [], [file('f.txt', 'a')], true)
  m.superseded('a', 'f.txt', 'c3', 3)
  t.same(kinds(m, { c1: [file('f.txt', 'a')] }), [], "c2's placement stays")
  t.same(kinds(m, { c1: [] }), ['lost a version never up-synced'])
  // Without c3's down-sync after c1's up-sync, c3's supersede replaces nothing of c1's.
  const n = model()
  n.placed('a', 'f.txt', 'c1', 1)
  n.downSynced('c3', [], [], true)
  n.upSynced('c1', [file('f.txt', 'a')], true)
  n.placed('a', 'f.txt', 'c3', 2)
  n.superseded('a', 'f.txt', 'c3', 3)
  t.same(kinds(n, { c1: [] }), ['lost an up-synced version'])
})

t.test('the same placement by two computers, both up-synced before either received the other: one add', async (t) => {
  // c2 and c3 make the same rename; c3 up-syncs it, then edits it; c2 up-syncs its own without
  // a down-sync between (soak seed 76): the merge takes the two for one add, c3's edit wins.
  const start = () => {
    const m = model()
    m.placed('a', 'f.txt', 'c2', 1)
    m.placed('a', 'f.txt', 'c3', 2)
    m.upSynced('c3', [file('f.txt', 'a')], true)
    m.superseded('a', 'f.txt', 'c3', 3)
    m.placed('b', 'f.txt', 'c3', 3)
    return m
  }
  const m = start()
  m.upSynced('c2', [file('f.txt', 'a')], true)
  m.upSynced('c3', [file('f.txt', 'b')], true)
  t.same(kinds(m, { c1: [file('f.txt', 'b')] }), [], "c2's placement went with c3's edit")
  t.same(kinds(m, { c1: [file('f.txt', 'b'), file('f.conflict-c2-20260101-000000.txt', 'a')] }), ['a superseded version came back'])
  // A killed up-sync of c2: it may have published its placement, or not.
  const killed = start()
  killed.upSynced('c2', [file('f.txt', 'a')], false)
  t.same(kinds(killed, { c1: [file('f.txt', 'b')] }), [])
  t.same(kinds(killed, { c1: [file('f.txt', 'b'), file('f.conflict-c2-20260101-000000.txt', 'a')] }), [])
  // c2 down-synced c3's edit before it up-synced: its placement is its own change, kept.
  const later = start()
  later.upSynced('c3', [file('f.txt', 'b')], true)
  later.downSynced('c2', [file('f.txt', 'a')], [file('f.txt', 'b'), file('f.conflict-c2-20260101-000000.txt', 'a')], true)
  later.upSynced('c2', [file('f.txt', 'b'), file('f.conflict-c2-20260101-000000.txt', 'a')], true)
  t.same(kinds(later, { c1: [file('f.txt', 'b')] }), ['lost an up-synced version'])
})

t.test('a rename away and back since the last sync is no change', async (t) => {
  const m = model()
  m.placed('a', 'f.txt', 'c2', 1)
  m.upSynced('c2', [file('f.txt', 'a')], true)
  m.downSynced('c1', [], [file('f.txt', 'a')], true)
  m.superseded('a', 'f.txt', 'c2', 2)
  m.placed('a', 'g.txt', 'c2', 2)
  // A down-sync with nothing to do keeps f.txt in what c2 last synced.
  m.downSynced('c2', [file('g.txt', 'a')], [file('g.txt', 'a')], true)
  m.superseded('a', 'f.txt', 'c1', 3)
  m.placed('a', 'h.txt', 'c1', 3)
  m.superseded('a', 'g.txt', 'c2', 4)
  m.placed('a', 'f.txt', 'c2', 4)
  t.same(kinds(m, { c1: [file('h.txt', 'a')] }), [], "c1's move wins: c2 changed nothing at f.txt")
  t.same(kinds(m, { c1: [file('h.txt', 'a'), file('f.txt', 'a')] }), ['a superseded version came back'])
  // After an up-sync without it, putting it back is a placement.
  m.upSynced('c2', [], true)
  m.placed('a', 'g.txt', 'c2', 5)
  t.same(kinds(m, { c1: [file('h.txt', 'a')] }), ['lost a version never up-synced'])
})

t.test('a killed sync between a placement and a supersede leaves both outcomes open', async (t) => {
  const m = model()
  m.placed('a', 'f.txt', 'c1', 1)
  m.upSynced('c1', [file('f.txt', 'a')], false)
  m.downSynced('c2', [], [file('f.txt', 'a')], true)
  m.superseded('a', 'f.txt', 'c2', 2)
  t.same(kinds(m, { c1: [] }), [])
  t.same(kinds(m, { c1: [file('f.txt', 'a')] }), [])
  // A later successful up-sync and down-sync make the next supersede sure.
  m.upSynced('c1', [file('f.txt', 'a')], true)
  m.downSynced('c3', [], [file('f.txt', 'a')], true)
  m.superseded('a', 'f.txt', 'c3', 3)
  t.same(kinds(m, { c1: [file('f.txt', 'a')] }), ['a superseded version came back'])
})

t.test('one version in two copies of a folder: only where the chain had it at two paths', async (t) => {
  const m = model()
  m.placed('a', 'd/f.txt', 'c1', 1)
  const copyA = 'd.conflict-c1-20260101-000000/f.txt'
  const copyB = 'd.conflict-c1-20260101-000000-2/f.conflict-c1-20260101-000001.txt'
  const tree = [file(copyA, 'a'), file(copyB, 'a')]
  t.same(kinds(m, { c1: tree }), ['one version kept twice, once in a copied folder'])
  // Another computer's conflict moved it to a copy inside the folder: the next folder copy has it there.
  m.observed([file('d/f.conflict-c1-20260101-000001.txt', 'a')])
  t.same(kinds(m, { c1: tree }), [])
  t.match(m.check(new Map([['c1', tree]])).notes, [/two copied folders/])
  // Two copies of one path of the folder stay a failure.
  t.same(kinds(m, { c1: [file(copyA, 'a'), file('d.conflict-c1-20260101-000000-2/f.txt', 'a')] }), [
    'one version kept twice, once in a copied folder',
  ])
})

t.test('a file time just below a millisecond: the author and a down-synced copy scan alike', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'soak-scan-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const [c1, c2] = [join(dir, 'c1'), join(dir, 'c2')]
  for (const d of [c1, c2]) {
    mkdirSync(d)
    writeFileSync(join(d, 'f.txt'), 'v1')
  }
  // The author's file as the kernel stamped it, 58 ns below .334 (seeds 3 and 4 of the normal
  // soak met such a clock); Node's utimes cannot set nanoseconds, touch can.
  const ns = 1796298346333999942n
  execFileSync('touch', ['-m', '-d', '@1796298346.333999942', join(c2, 'f.txt')])
  // The down-synced copy: the tree's time (whole microseconds), set as apply sets it.
  const at = utimesSeconds(treeTime(ns))
  utimesSync(join(c1, 'f.txt'), at, at)
  const [a, b] = [await scanFolder(c1), await scanFolder(c2)]
  t.equal(b[0]!.mtimeMs, 1796298346333)
  t.same(compareTrees('c1', a, 'c2', b), [])
})
