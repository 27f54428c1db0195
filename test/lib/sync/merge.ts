/** The 3-way merge of trees and of the chain's heads, on an in-memory vault. */
import t, { type Test } from 'tap'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { memory } from '../../../providers/memory.js'
import { StateDb } from '../../../lib/state/db.js'
import type { TreeEntry } from '../../../lib/store/objects.js'
import { SpaceStore } from '../../../lib/store/space-store.js'
import { spaceKeys } from '../../../lib/vault/keys.js'
import { CommitGraph } from '../../../lib/sync/graph.js'
import {
  conflictName,
  entryAt,
  freeConflictName,
  isConflictCopyOf,
  mergeHeads,
  NAME_MAX,
  mergeTrees,
  sameEntry,
  type MergeConflict,
  type MergeSides,
} from '../../../lib/sync/merge.js'
import { tempDir } from '../../helpers/temp.js'

const keys = spaceKeys('settings', randomBytes(32))
const SEC = 1_000_000_000n

function file(name: string, content: string, second: number): TreeEntry {
  return {
    name,
    type: 'file',
    mode: 0o644,
    mtimeNs: String(BigInt(second) * SEC),
    size: content.length,
    content: [content.padEnd(64, '0')],
  }
}

async function setup(t: Test) {
  const db = new StateDb(join(tempDir(t), 'state.db'))
  t.teardown(() => db.close())
  const store = new SpaceStore(memory(), keys, db)
  await store.open()
  /** A tree from a nested description: a string is a file (content, time 1), an object a folder. */
  const build = async (spec: Record<string, unknown>): Promise<string> => {
    const entries: TreeEntry[] = []
    for (const [name, v] of Object.entries(spec)) {
      if (typeof v === 'string') entries.push(file(name, v, 1))
      else if (Array.isArray(v)) entries.push(file(name, v[0] as string, v[1] as number))
      else entries.push({ name, type: 'dir', mode: 0o755, mtimeNs: '0', subtree: await build(v as Record<string, unknown>) })
    }
    return store.putTree({ entries })
  }
  // Stored for real (a pack only becomes readable once flushed), as an up-sync leaves them.
  const tree = async (spec: Record<string, unknown>): Promise<string> => {
    const id = await build(spec)
    await store.flush()
    return id
  }
  /** A tree back as the same nested description (file contents only). */
  const read = async (id: string): Promise<Record<string, unknown>> => {
    const out: Record<string, unknown> = {}
    for (const e of (await store.readTree(id)).entries)
      out[e.name] = e.type === 'dir' ? await read(e.subtree!) : e.content![0]!.replace(/0+$/, '')
    return out
  }
  /** A commit of `deviceName` at `second`, its tree from a nested description. */
  const commit = async (deviceName: string, second: number, parents: string[], spec: Record<string, unknown>) =>
    store.putCommit({
      format: 1,
      space: 'settings',
      device: deviceName.padEnd(32, '0'),
      deviceName,
      username: 'u',
      hostname: 'h',
      home: '/home/u',
      time: new Date(second * 1000).toISOString(),
      parents,
      tree: await tree(spec),
      seq: second,
    })
  return { db, store, tree, read, commit }
}

/** Names the author of a version by the side whose tree holds it (no history behind these trees). */
function sides(store: SpaceStore, ours: string): MergeSides {
  return {
    authorOf: async (path, e) => (sameEntry(await entryAt(store, ours, path), e) ? 'pc-ours' : 'pc-theirs'),
  }
}

t.test('conflict names keep the extension last and are made unique', async (t) => {
  const ms = Date.UTC(2026, 10, 24, 18, 5, 9)
  t.equal(conflictName('notes.txt', 'laptop', ms), 'notes.conflict-laptop-20261124-180509.txt')
  t.equal(conflictName('.bashrc', 'laptop', ms), '.bashrc.conflict-laptop-20261124-180509')
  t.equal(conflictName('Makefile', 'my pc/2', ms), 'Makefile.conflict-my_pc_2-20261124-180509')
  const taken = new Set(['a.conflict-x-20261124-180509.txt', 'a.conflict-x-20261124-180509-2.txt'])
  t.equal(
    freeConflictName('a.txt', 'x', ms, (n) => taken.has(n)),
    'a.conflict-x-20261124-180509-3.txt',
  )
  t.ok(isConflictCopyOf('a.conflict-x-20261124-180509-2.txt', 'a.txt'))
  t.ok(isConflictCopyOf('a.conflict-x-20261124-180509.conflict-y-20261124-180509.txt', 'a.txt'), 'a copy of a copy')
  t.ok(isConflictCopyOf('a.conflict-x-20261124-180509', 'a'))
  t.notOk(isConflictCopyOf('a.conflict-x-20261124-180509.txt', 'a'), "a copy of a.txt is not one of a: a's have no extension")
})

t.test("a version in a copy of another name (n0.txt's) still gets a copy of its own (n0's)", async (t) => {
  const { store, tree, read } = await setup(t)
  // Ours holds v at n0 and, from a conflict on n0.txt, in a copy of n0.txt; theirs made n0 a folder.
  const base = await tree({})
  const ours = await tree({ n0: ['v', 1], 'n0.conflict-x-19700101-000001.txt': ['v', 1], 'n0.txt': ['w', 2] })
  const theirs = await tree({ n0: { inside: 'i' } })
  const merged = await read(await mergeTrees(store, base, ours, theirs, sides(store, ours), []))
  t.same(merged, {
    n0: { inside: 'i' },
    'n0.conflict-pc-ours-19700101-000001': 'v',
    'n0.conflict-x-19700101-000001.txt': 'v',
    'n0.txt': 'w',
  })
})

t.test('one-sided changes, deletions and folders merge; concurrent edits keep both', async (t) => {
  const { store, tree, read } = await setup(t)
  const base = await tree({ keep: 'k', edited: 'e0', gone: 'g', dir: { x: 'x0', y: 'y0' }, both: 'b0', editVsDelete: 'd0' })
  const ours = await tree({ keep: 'k', edited: 'e1', dir: { x: 'x1', y: 'y0' }, both: ['bOurs', 5], editVsDelete: 'd1', newOurs: 'n1' })
  const theirs = await tree({ keep: 'k', edited: 'e0', gone: 'g', dir: { x: 'x0', y: 'y1', z: 'z' }, both: ['bTheirs', 9] })
  const conflicts: MergeConflict[] = []
  const merged = await mergeTrees(store, base, ours, theirs, sides(store, ours), conflicts)
  const stamp = '19700101-000005'
  t.same(await read(merged), {
    keep: 'k',
    edited: 'e1',
    dir: { x: 'x1', y: 'y1', z: 'z' },
    both: 'bTheirs',
    [`both.conflict-pc-ours-${stamp}`]: 'bOurs',
    editVsDelete: 'd1',
    newOurs: 'n1',
  })
  t.same(conflicts, [
    {
      path: 'both',
      copy: `both.conflict-pc-ours-${stamp}`,
      reason: `changed on two computers: the newer version keeps the name, the one from pc-ours is kept as both.conflict-pc-ours-${stamp}`,
    },
  ])
  const again = await mergeTrees(store, base, theirs, ours, sides(store, ours), [])
  t.same(await read(again), await read(merged), 'the same result whichever side is ours')
})

t.test('a folder keeps its name against a file; a folder deleted on one side keeps what was edited in it', async (t) => {
  const { store, tree, read } = await setup(t)
  const base = await tree({ thing: 'file', d: { a: 'a0', b: 'b0' } })
  const ours = await tree({ thing: { inside: 'i' }, d: { a: 'a1', b: 'b0' } })
  const theirs = await tree({ thing: ['changed file', 3] })
  const merged = await read(await mergeTrees(store, base, ours, theirs, sides(store, ours), []))
  t.same(merged, { thing: { inside: 'i' }, 'thing.conflict-pc-theirs-19700101-000003': 'changed file', d: { a: 'a1' } })
})

t.test('heads: fast-forward, then merges that every computer computes alike', async (t) => {
  const { db, store, read, commit } = await setup(t)
  const c1 = await commit('a', 1, [], { f: 'v1' })
  const c2 = await commit('b', 2, [c1], { f: 'v1', g: 'from b' })
  const graph = new CommitGraph(store, db)
  const ff = await mergeHeads(store, graph, [c1, c2])
  t.same(
    ff.heads.map((h) => h.id),
    [c2],
    'an ancestor head drops out',
  )
  t.equal(ff.tree, (await graph.get(c2)).tree, 'fast-forward: the tree of the newest')

  const c3 = await commit('a', 3, [c1], { f: ['v2 by a', 3] })
  const c4 = await commit('c', 4, [c2], { f: 'v1', g: 'from b', h: 'from c' })
  const m = await mergeHeads(store, graph, [c3, c4, c2])
  t.same(await read(m.tree!), { f: 'v2 by a', g: 'from b', h: 'from c' })
  const other = await mergeHeads(store, new CommitGraph(store, db), [c4, c3])
  t.equal(other.tree, m.tree, 'the same tree id from heads in another order')
  t.same(await graph.mergeBase([c3], c4).then((b) => b?.id), c1)
  t.equal((await entryAt(store, m.tree, 'g'))?.type, 'file')
  t.equal(await entryAt(store, m.tree, 'g/x'), undefined)
})

t.test('criss-cross: two best common ancestors are merged into the base, no spurious conflict', async (t) => {
  const { db, store, read, commit } = await setup(t)
  const c0 = await commit('a', 1, [], { f: '0', g: '0' })
  const a1 = await commit('a', 2, [c0], { f: ['A', 2], g: '0' })
  const b1 = await commit('b', 3, [c0], { f: '0', g: ['B', 3] })
  // Each merged the other's work at the same moment.
  const a2 = await commit('a', 4, [a1, b1], { f: ['A', 2], g: ['B', 3] })
  const b2 = await commit('b', 5, [b1, a1], { f: ['A', 2], g: ['B', 3] })
  const a3 = await commit('a', 6, [a2], { f: ['A3', 6], g: ['B', 3] })
  const b3 = await commit('b', 7, [b2], { f: ['A', 2], g: ['B3', 7] })
  const graph = new CommitGraph(store, db)
  t.same((await graph.mergeBases([a3], b3)).map((b) => b.id).sort(), [a1, b1].sort(), 'two best common ancestors')
  const m = await mergeHeads(store, graph, [a3, b3])
  t.same(m.conflicts, [], 'no conflict: each side changed only what the other did not')
  t.same(await read(m.tree!), { f: 'A3', g: 'B3' })
})

t.test('criss-cross: the base merges its commits as the heads were merged, so a kept version stays unchanged', async (t) => {
  const { db, store, read, commit } = await setup(t)
  const c0 = await commit('c1', 1, [], { k: 'k' })
  // Two computers added f at once: the same time and size, another content.
  const x1 = await commit('c3', 2, [c0], { k: 'k', f: ['v4', 1] })
  const y1 = await commit('c2', 3, [c0], { k: 'k', f: ['v5', 1] })
  const graph = new CommitGraph(store, db)
  const both = await mergeHeads(store, graph, [x1, y1])
  const copy = 'f.conflict-c3-19700101-000001'
  t.same(await read(both.tree!), { k: 'k', f: 'v5', [copy]: 'v4' }, 'a tie goes to the version that sorts last')
  // Both down-synced that merge (each naming the other's head): one edited f (the same time
  // again, a version that would lose a tie), the other kept what it received and up-synced later.
  const x2 = await commit('c3', 4, [x1, y1], { k: 'k', f: ['v18', 1], [copy]: ['v4', 1] })
  const y2 = await commit('c2', 5, [y1, x1], { k: 'k', f: ['v5', 1], [copy]: ['v4', 1] })
  t.same((await graph.mergeBases([y2], x2)).map((b) => b.id).sort(), [x1, y1].sort(), 'two best common ancestors')
  for (const heads of [
    [x2, y2],
    [y2, x2],
  ]) {
    const m = await mergeHeads(store, new CommitGraph(store, db), heads)
    t.same(await read(m.tree!), { k: 'k', f: 'v18', [copy]: 'v4' }, 'the edit keeps the name')
    t.same(m.conflicts, [], 'no conflict: the other side kept the version it received')
  }
})

t.test('a tie of modification times is decided by the versions, whichever side or head holds them', async (t) => {
  const { db, store, tree, read, commit } = await setup(t)
  const [base, ours, theirs] = [await tree({}), await tree({ f: ['vB', 1] }), await tree({ f: ['vA', 1] })]
  const stamp = '19700101-000001'
  const merged = await read(await mergeTrees(store, base, ours, theirs, sides(store, ours), []))
  t.same(merged, { f: 'vB', [`f.conflict-pc-theirs-${stamp}`]: 'vA' }, 'the version that sorts last keeps the name')
  t.same(
    await read(await mergeTrees(store, base, theirs, ours, sides(store, theirs), [])),
    { f: 'vB', [`f.conflict-pc-ours-${stamp}`]: 'vA' },
    'the same version whichever side is ours',
  )
  // A's head is the older, then A publishes a later commit still holding its version: merged
  // with B's head either way, B's version keeps the name and A's goes to the same copy. Were a
  // tie decided by the order of the heads, the second merge would undo the first one's choice
  // (a copy a computer deleted after the first would come back at the name).
  const c0 = await commit('c', 1, [], { k: 'k' })
  const a1 = await commit('a', 2, [c0], { k: 'k', f: ['vA', 1] })
  const b1 = await commit('b', 3, [c0], { k: 'k', f: ['vB', 1] })
  const a2 = await commit('a', 4, [a1], { k: ['k by a', 4], f: ['vA', 1] })
  const copy = `f.conflict-a-${stamp}`
  const first = await mergeHeads(store, new CommitGraph(store, db), [a1, b1])
  t.same(await read(first.tree!), { k: 'k', f: 'vB', [copy]: 'vA' })
  const later = await mergeHeads(store, new CommitGraph(store, db), [b1, a2])
  t.same(await read(later.tree!), { k: 'k by a', f: 'vB', [copy]: 'vA' }, "the later head's version still loses the tie")
})

t.test('the same new content on both sides is no conflict: the newer time is kept', async (t) => {
  const { store, tree } = await setup(t)
  const conflicts: MergeConflict[] = []
  const [ours, theirs] = [await tree({ s: ['y', 5] }), await tree({ s: ['y', 7] })]
  const merged = await mergeTrees(store, await tree({ s: 'x' }), ours, theirs, sides(store, ours), conflicts)
  t.same(conflicts, [])
  t.equal((await entryAt(store, merged, 's'))?.mtimeNs, String(7n * SEC))
})

t.test('conflict names fit NAME_MAX, keep the extension and whole UTF-8 characters, alike everywhere', async (t) => {
  const ms = Date.UTC(2026, 10, 24, 18, 5, 9)
  const long = 'é'.repeat(110) + 'x.conf' // 226 bytes
  const names = [1, 2, 13].map((n) => conflictName(long, 'laptop', ms, n))
  for (const n of names) {
    t.ok(Buffer.byteLength(n) <= NAME_MAX, `${Buffer.byteLength(n)} bytes`)
    t.ok(n.endsWith('.conf'), 'the extension stays last')
    t.notOk(n.includes('\ufffd'), 'no character cut in half')
    t.ok(isConflictCopyOf(n, long), 'still known as a copy of the name')
  }
  t.match(names[0], /^(é)+\.conflict-laptop-20261124-180509\.conf$/)
  t.match(names[1], /\.conflict-laptop-20261124-180509-2\.conf$/)
  t.equal(conflictName(long, 'laptop', ms), names[0], 'the same inputs, the same name')
  t.equal(
    freeConflictName(long, 'laptop', ms, (n) => n === names[0]),
    names[1],
  )
  const dotted = 'a'.repeat(20) + '.' + 'b'.repeat(240)
  t.ok(Buffer.byteLength(conflictName(dotted, 'x'.repeat(300), ms)) <= NAME_MAX, 'a long "extension" and device name too')
})

t.test('a copy both sides made alike, then deleted on one side, stays deleted', async (t) => {
  const { db, store, read, commit } = await setup(t)
  const c0 = await commit('c', 1, [], { f: 'v0' })
  // Two computers each kept the same version as the same copy in their own down-sync.
  const copy = 'f.conflict-c-19700101-000002'
  const a1 = await commit('a', 3, [c0], { f: ['vA', 3], [copy]: ['vC', 2] })
  const b1 = await commit('b', 4, [c0], { f: ['vB', 4], [copy]: ['vC', 2], g: 'from b' })
  const a2 = await commit('a', 5, [a1], { f: ['vA', 3] })
  const m = await mergeHeads(store, new CommitGraph(store, db), [a2, b1])
  t.same(await read(m.tree!), { f: 'vB', 'f.conflict-a-19700101-000003': 'vA', g: 'from b' }, 'the deleted copy does not come back')
  // Edited after the common add instead of deleted: the edit is a one-sided change, no conflict.
  const a3 = await commit('a', 6, [a1], { f: ['vA', 3], [copy]: ['vC edited', 6] })
  const e = await mergeHeads(store, new CommitGraph(store, db), [a3, b1])
  t.equal((await read(e.tree!))[copy], 'vC edited')
  t.notOk(
    e.conflicts.some((c) => c.path === copy),
    'no conflict on the copy',
  )
})

t.test('one version in copies of two names, one per side, is kept once: the shortest name', async (t) => {
  const { store, tree, read } = await setup(t)
  const stamp = '19700101-000002'
  const base = await tree({ 'n.txt': 'v0' })
  // Each side kept the same losing version beside its own: one as `-2` (its first name was taken there).
  const ours = await tree({ 'n.txt': ['vA', 3], [`n.conflict-c-${stamp}-2.txt`]: ['v61', 2], other: 'o' })
  const theirs = await tree({ 'n.txt': ['vB', 4], [`n.conflict-c-${stamp}.txt`]: ['v61', 2] })
  const want = {
    'n.txt': 'vB',
    [`n.conflict-c-${stamp}.txt`]: 'v61',
    'n.conflict-pc-ours-19700101-000003.txt': 'vA',
    other: 'o',
  }
  t.same(await read(await mergeTrees(store, base, ours, theirs, sides(store, ours), [])), want)
  t.same(await read(await mergeTrees(store, base, theirs, ours, sides(store, ours), [])), want, 'whichever side is ours')
  // Other versions, or copies of another name, are no twins.
  const apart = await tree({
    [`n.conflict-c-${stamp}.txt`]: ['v61', 2],
    [`n.conflict-c-${stamp}-2.txt`]: ['v62', 2],
    [`m.conflict-c-${stamp}.txt`]: ['v61', 2],
  })
  const changed = await tree({ 'n.txt': 'v0', z: 'z' })
  t.same(Object.keys(await read(await mergeTrees(store, base, apart, changed, sides(store, apart), []))).sort(), [
    `m.conflict-c-${stamp}.txt`,
    `n.conflict-c-${stamp}-2.txt`,
    `n.conflict-c-${stamp}.txt`,
    'z',
  ])
})

t.test("a version one side holds from the other's history is no edit of it: what the other did since wins", async (t) => {
  const { db, store, read, commit } = await setup(t)
  const c0 = await commit('c', 1, [], { f: 'v0', g: 'g' })
  // B edits f. C's down-sync moves C's own edit aside, writes B's version and stops before it
  // records B's head (killed, or --only): C's commit holds B's version on top of c0 alone.
  const b1 = await commit('b', 2, [c0], { f: ['vB', 2], g: 'g' })
  const copy = 'f.conflict-c-19700101-000002'
  const c1 = await commit('c', 4, [c0], { f: ['vB', 2], [copy]: ['vC', 2], g: 'g' })
  // A merged B's version and deleted it: the deletion wins, C's version stays in its copy.
  const a1 = await commit('a', 3, [b1], { g: 'g' })
  const d = await mergeHeads(store, new CommitGraph(store, db), [a1, c1])
  t.same(await read(d.tree!), { [copy]: 'vC', g: 'g' }, 'the deleted version does not come back')
  // A edited it instead (to an older time, which would lose a conflict): A's edit wins, no copy of B's.
  const a2 = await commit('a', 5, [b1], { f: ['vA', 1], g: 'g' })
  const e = await mergeHeads(store, new CommitGraph(store, db), [a2, c1])
  t.same(await read(e.tree!), { f: 'vA', [copy]: 'vC', g: 'g' }, 'the edit replaces the version it was made on')
  t.same(e.conflicts, [], 'no conflict')
})

t.test('a folder moved away and back: a side that only kept it from older history added nothing', async (t) => {
  const { db, store, read, commit } = await setup(t)
  const c0 = await commit('c', 1, [], { d: { f: 'v' } })
  // A up-syncs before it receives B's move of d to e, so a1 still holds d/f; A then merges the
  // move (a2), while B moves the folder back (b2).
  const a1 = await commit('a', 2, [c0], { d: { f: 'v' }, g: 'g1' })
  const b1 = await commit('b', 3, [c0], { e: { f: 'v' } })
  const a2 = await commit('a', 4, [a1, b1], { e: { f: 'v' }, g: 'g2' })
  const b2 = await commit('b', 5, [b1], { d: { f: 'v' } })
  const m = await mergeHeads(store, new CommitGraph(store, db), [a2, b2])
  t.same(await read(m.tree!), { d: { f: 'v' }, g: 'g2' }, 'the move back stays')
})

t.test('a folder moved back in a commit one of whose parents still held it: an add all the same', async (t) => {
  const { db, store, read, commit } = await setup(t)
  const c0 = await commit('c', 1, [], { n3: { f: 'v' } })
  // S up-syncs still holding n3/f, A moves n3 to n0; B merges both (the move wins).
  const s1 = await commit('s', 2, [c0], { n3: { f: 'v' }, x: 'x' })
  const a1 = await commit('a', 3, [c0], { n0: { f: 'v' } })
  const b1 = await commit('b', 4, [a1, s1], { n0: { f: 'v' }, x: 'x' })
  // A merges S's commit and moves the folder back; so does B, on its own. A then moves it on.
  const a2 = await commit('a', 5, [a1, s1], { n3: { f: 'v' }, x: 'x' })
  const b2 = await commit('b', 6, [b1], { n3: { f: 'v' }, x: 'x' })
  const a3 = await commit('a', 7, [a2], { m: { f: 'v' }, x: 'x' })
  const m = await mergeHeads(store, new CommitGraph(store, db), [a3, b2])
  t.same(await read(m.tree!), { m: { f: 'v' }, x: 'x' }, "B's move back was A's too: A's move on replaces both")
})

t.test('criss-cross: a merge copy deleted on one side stays deleted (the base names copies alike)', async (t) => {
  const { db, store, read, commit } = await setup(t)
  const c0 = await commit('c', 1, [], { f: 'v0', g: 'g-base' })
  const a1 = await commit('a', 2, [c0], { f: ['vA', 2], g: 'g-base' })
  const b1 = await commit('b', 3, [c0], { f: ['vB', 3], g: 'g-base' })
  const graph = new CommitGraph(store, db)
  const both = await mergeHeads(store, graph, [a1, b1])
  const copy = 'f.conflict-a-19700101-000002'
  t.same(await read(both.tree!), { f: 'vB', [copy]: 'vA', g: 'g-base' })
  // Both down-synced that merge; A deleted the copy, B changed g; each up-synced.
  const a2 = await commit('a', 4, [a1, b1], { f: ['vB', 3], g: 'g-base' })
  const b2 = await commit('b', 5, [b1, a1], { f: ['vB', 3], [copy]: ['vA', 2], g: ['g1', 5] })
  const m = await mergeHeads(store, graph, [a2, b2])
  t.same(await read(m.tree!), { f: 'vB', g: 'g1' })
  t.same(m.conflicts, [])
})

t.test('a folder replaced by a file, or removed, keeps only what the other side changed in it', async (t) => {
  const { store, tree, read } = await setup(t)
  const base = await tree({ d: { a: 'a0', b: 'b0' }, k: 'k' })
  const fileOurs = await tree({ d: ['F', 5], k: 'k' })
  const deletedInside = await tree({ d: { a: 'a0' }, k: 'k' })
  const editedInside = await tree({ d: { a: ['a1', 6], b: 'b0' }, k: 'k' })
  const removed = await tree({ k: 'k' })
  const conflicts: MergeConflict[] = []
  t.same(await read(await mergeTrees(store, base, fileOurs, deletedInside, sides(store, fileOurs), conflicts)), {
    d: 'F',
    k: 'k',
  })
  t.same(await read(await mergeTrees(store, base, deletedInside, fileOurs, sides(store, deletedInside), conflicts)), {
    d: 'F',
    k: 'k',
  })
  t.same(conflicts, [], 'no conflict: nothing changed in the folder but deletions')
  t.same(await read(await mergeTrees(store, base, fileOurs, editedInside, sides(store, fileOurs), [])), {
    d: { a: 'a1' },
    'd.conflict-pc-ours-19700101-000005': 'F',
    k: 'k',
  })
  t.same(
    await read(await mergeTrees(store, base, removed, deletedInside, sides(store, removed), [])),
    { k: 'k' },
    'no empty folder comes back',
  )
  t.same(await read(await mergeTrees(store, base, editedInside, removed, sides(store, editedInside), [])), {
    d: { a: 'a1' },
    k: 'k',
  })
})

// C replaced the folder d by a file; its down-sync kept the file, put A's d (f v2) in a copy and
// stopped halfway, and C's up-sync sent the copy on a commit built on a1. B added h to d.
t.test("a folder's copy a half-done down-sync sent takes what the other side changed in it; the file keeps the name", async (t) => {
  const { db, store, read, commit } = await setup(t)
  const a1 = await commit('a', 1, [], { d: { f: 'v1' } })
  const a2 = await commit('a', 2, [a1], { d: { f: ['v2', 2] }, g: 'g' })
  const copy = 'd.conflict-a-19700101-000002'
  const c1 = await commit('c', 4, [a1], { d: ['C', 1], [copy]: { f: ['v2', 2] } })
  // B's commit before C's (the folder's side is ours) and after (the file's side is ours).
  for (const second of [3, 5]) {
    const b1 = await commit('b', second, [a2], { d: { f: ['v2', 2], h: ['h', 3] }, g: 'g' })
    const m = await mergeHeads(store, new CommitGraph(store, db), [b1, c1])
    t.same(await read(m.tree!), { d: 'C', [copy]: { f: 'v2', h: 'h' }, g: 'g' }, `each version once (B at ${second})`)
    t.same(m.conflicts, [])
  }
  // A copy a whole down-sync made (C's commit is built on a2) holds only what the base held:
  // the folder keeps what B changed in it, and C's file goes to a copy, as for any other file.
  const c2 = await commit('c', 4, [a2], { d: ['C', 1], [copy]: { f: ['v2', 2] }, g: 'g' })
  const b1 = await commit('b', 3, [a2], { d: { f: ['v2', 2], h: ['h', 3] }, g: 'g' })
  const m = await mergeHeads(store, new CommitGraph(store, db), [b1, c2])
  t.same(await read(m.tree!), { d: { h: 'h' }, 'd.conflict-c-19700101-000001': 'C', [copy]: { f: 'v2' }, g: 'g' })
})

// Soak normal seed 72. A added n to the folder d; B, not having seen it, made d/n a folder; C
// had replaced d by a file, so its (whole) down-sync kept the file and put A's d, n too, in a
// copy, and C's user then removed the file (or kept it). A changed g since. Merging A's and B's
// heads keeps B's folder at d/n and A's n in a copy beside it; against C's removal of d that
// copy passed for what the others changed in d, and came back at d besides in C's copy of d.
for (const kept of [false, true])
  t.test(
    `a version the removed folder's copy keeps does not come back in a merge copy (C's file ${kept ? 'kept' : 'removed'})`,
    async (t) => {
      const { db, store, read, commit } = await setup(t)
      const a1 = await commit('a', 1, [], { d: { x: 'x' }, g: 'g' })
      const a2 = await commit('a', 2, [a1], { d: { x: 'x', n: ['n', 2] }, g: 'g' })
      const b3 = await commit('b', 3, [a1], { d: { x: 'x', n: { h: ['h', 3] } }, g: 'g' })
      const a4 = await commit('a', 4, [a2], { d: { x: 'x', n: ['n', 2] }, g: ['g2', 4] })
      const copy = 'd.conflict-a-19700101-000000'
      const c5 = await commit('c', 5, [a2], { ...(kept ? { d: ['C', 1] } : {}), [copy]: { x: 'x', n: ['n', 2] }, g: 'g' })
      const m = await mergeHeads(store, new CommitGraph(store, db), [a4, b3, c5])
      t.same(await read(m.tree!), {
        d: { n: { h: 'h' } },
        ...(kept ? { 'd.conflict-c-19700101-000001': 'C' } : {}),
        [copy]: { x: 'x', n: 'n' },
        g: 'g2',
      })
    },
  )

// Soak normal seed 91. C's commit c1 holds the folder d (file n, folder m). A had made d/n a
// folder and d/m a file: its (whole) down-sync kept both and put C's versions in copies beside
// them, in d. B had replaced d by a file: its (whole) down-sync kept the file and put C's d, n
// and m too, in a copy of d. C then edited d/x, so d stays a folder when C's and B's heads
// merge (with only x in it). Merged with A's after that, d was a folder on both sides: A's
// copies in d passed for changes of A's and were kept besides in B's copy of d. Merged in the
// other order (A's and B's first) each version was kept once, in B's copy.
for (const cFirst of [true, false])
  t.test(
    `a version a folder's copy keeps does not stay in a copy the other side made in the folder (${cFirst ? "C's" : "A's"} head first)`,
    async (t) => {
      const { db, store, read, commit } = await setup(t)
      const c1 = await commit('c', 1, [], { d: { n: 'n', x: 'x', m: { k: 'k' } }, g: 'g' })
      const nCopy = 'n.conflict-c-19700101-000001'
      const mCopy = 'm.conflict-c-19700101-000000'
      const dCopy = 'd.conflict-c-19700101-000000'
      const a = await commit('a', cFirst ? 4 : 2, [c1], {
        d: { n: { h: ['h', 2] }, [nCopy]: 'n', x: 'x', m: ['M', 2], [mCopy]: { k: 'k' } },
        g: 'g',
      })
      const b = await commit('b', 3, [c1], { d: ['B', 3], [dCopy]: { n: 'n', x: 'x', m: { k: 'k' } }, g: 'g' })
      const c = await commit('c', cFirst ? 2 : 4, [c1], { d: { n: 'n', x: ['x2', 4], m: { k: 'k' } }, g: 'g' })
      const m = await mergeHeads(store, new CommitGraph(store, db), [a, b, c])
      t.same(await read(m.tree!), {
        d: { n: { h: 'h' }, x: 'x2', m: 'M' },
        [dCopy]: { n: 'n', x: 'x', m: { k: 'k' } },
        'd.conflict-b-19700101-000003': 'B',
        g: 'g',
      })
    },
  )

t.test("a conflict copy is named after its version's author; a version goes to one copy", async (t) => {
  const { db, store, read, commit } = await setup(t)
  const c0 = await commit('a', 1, [], { f: 'v0' })
  const b1 = await commit('b', 2, [c0], { f: ['vB', 2] })
  // c only passed b's version on, with a change of its own.
  const c2 = await commit('c', 3, [b1], { f: ['vB', 2], g: 'from c' })
  const a3 = await commit('a', 4, [c0], { f: ['vA', 9] })
  const m = await mergeHeads(store, new CommitGraph(store, db), [c2, a3])
  t.same(await read(m.tree!), { f: 'vA', 'f.conflict-b-19700101-000002': 'vB', g: 'from c' })
  t.equal(await m.authorOf('f', (await entryAt(store, m.tree, 'f'))!), 'a')
  t.equal(await m.authorOf('g', (await entryAt(store, m.tree, 'g'))!), 'c')
  // A side that already keeps the losing version as a copy gets no second one.
  const d4 = await commit('d', 5, [c0], { f: ['vD', 1], 'f.conflict-b-19700101-000002-x': ['vD', 1] })
  const again = await mergeHeads(store, new CommitGraph(store, db), [a3, d4])
  t.same(Object.keys(await read(again.tree!)).sort(), ['f', 'f.conflict-b-19700101-000002-x'])
})
