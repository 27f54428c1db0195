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
import { conflictName, entryAt, freeConflictName, mergeHeads, mergeTrees, type MergeConflict } from '../../../lib/sync/merge.js'
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

const deviceOf = async (side: 'ours' | 'theirs') => (side === 'ours' ? 'pc-ours' : 'pc-theirs')

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
})

t.test('one-sided changes, deletions and folders merge; concurrent edits keep both', async (t) => {
  const { store, tree, read } = await setup(t)
  const base = await tree({ keep: 'k', edited: 'e0', gone: 'g', dir: { x: 'x0', y: 'y0' }, both: 'b0', editVsDelete: 'd0' })
  const ours = await tree({ keep: 'k', edited: 'e1', dir: { x: 'x1', y: 'y0' }, both: ['bOurs', 5], editVsDelete: 'd1', newOurs: 'n1' })
  const theirs = await tree({ keep: 'k', edited: 'e0', gone: 'g', dir: { x: 'x0', y: 'y1', z: 'z' }, both: ['bTheirs', 9] })
  const conflicts: MergeConflict[] = []
  const merged = await mergeTrees(store, base, ours, theirs, deviceOf, conflicts)
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
  const swapped = async (side: 'ours' | 'theirs') => deviceOf(side === 'ours' ? 'theirs' : 'ours')
  const again = await mergeTrees(store, base, theirs, ours, swapped, [])
  t.same(await read(again), await read(merged), 'the same result whichever side is ours')
})

t.test('a folder keeps its name against a file; a folder deleted on one side keeps what was edited in it', async (t) => {
  const { store, tree, read } = await setup(t)
  const base = await tree({ thing: 'file', d: { a: 'a0', b: 'b0' } })
  const ours = await tree({ thing: { inside: 'i' }, d: { a: 'a1', b: 'b0' } })
  const theirs = await tree({ thing: ['changed file', 3] })
  const merged = await read(await mergeTrees(store, base, ours, theirs, deviceOf, []))
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

t.test('the same new content on both sides is no conflict: the newer time is kept', async (t) => {
  const { store, tree } = await setup(t)
  const conflicts: MergeConflict[] = []
  const merged = await mergeTrees(
    store,
    await tree({ s: 'x' }),
    await tree({ s: ['y', 5] }),
    await tree({ s: ['y', 7] }),
    deviceOf,
    conflicts,
  )
  t.same(conflicts, [])
  t.equal((await entryAt(store, merged, 's'))?.mtimeNs, String(7n * SEC))
})
