/**
 * What was deleted stays deleted across merges of two or three computers' work (a folder
 * replaced by a file, a removed folder, a version its author deleted), conflict copies are named
 * after their version's author, a conflict name fits NAME_MAX, and a tie of times is settled
 * alike by every merge. The conflict copies that merges and down-syncs make, and what deleting
 * them does, are in conflict-copies.ts.
 */
import t from 'tap'
import { chmod, mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { cloudy, joinedComputer } from '../helpers/cli.js'
import { run, sameCfg, setUp, threeComputers, writeAt } from '../helpers/three-computers.js'

t.test('deleted things do not come back; copies are named after their author', async (t) => {
  const { a, b } = await setUp(t, async (home) => {
    await writeFile(join(home, 'cfg/f'), 'base')
    await writeFile(join(home, 'cfg/k'), 'base')
    await mkdir(join(home, 'cfg/d'))
    await writeFile(join(home, 'cfg/d/a'), 'a')
    await writeFile(join(home, 'cfg/d/b'), 'b')
    await mkdir(join(home, 'cfg/e'))
    await writeFile(join(home, 'cfg/e/x'), 'x')
    await writeFile(join(home, 'cfg/e/y'), 'y')
  })
  // A: edits f, replaces folder d by a file, removes folder e. B: edits f and k, deletes a file
  // in each folder. Both up-sync before either down-syncs.
  await writeAt(join(a.home, 'cfg/f'), 'f by A', '2026-03-01T00:00:00Z')
  await rm(join(a.home, 'cfg/d'), { recursive: true })
  await writeFile(join(a.home, 'cfg/d'), 'd is a file now')
  await rm(join(a.home, 'cfg/e'), { recursive: true })
  await writeAt(join(b.home, 'cfg/f'), 'f by B', '2026-03-02T00:00:00Z')
  await writeAt(join(b.home, 'cfg/k'), 'k by B', '2026-03-02T00:00:00Z')
  await rm(join(b.home, 'cfg/d/b'))
  await rm(join(b.home, 'cfg/e/x'))
  await run(t, a, ['sync', 'up'])
  await run(t, b, ['sync', 'up'])
  // A edits k again before down-syncing: its newer version stays, B's goes to a copy.
  await writeAt(join(a.home, 'cfg/k'), 'k by A, newer', '2026-03-03T00:00:00Z')

  await run(t, a, ['sync', 'down', '--yes'], 6)
  await run(t, b, ['sync', 'down', '--yes'])
  const copy = 'f.conflict-pc-a-20260301-000000'
  for (const c of [a, b]) {
    t.equal(await readFile(join(c.home, 'cfg', copy), 'utf8'), 'f by A', 'the older version is kept as a copy')
    t.equal(
      await readFile(join(c.home, 'cfg/d'), 'utf8'),
      'd is a file now',
      'the file replaced the folder: nothing deleted in it comes back',
    )
    t.notOk(existsSync(join(c.home, 'cfg/e')), 'the removed folder does not come back (empty)')
  }
  t.equal(
    await readFile(join(a.home, 'cfg/k.conflict-pc-b-20260302-000000'), 'utf8'),
    'k by B',
    "the copy of B's version is named after B, not after the merged heads",
  )

  // Each computer changes something more; A deletes the copy both now hold. Both up-sync.
  await rm(join(a.home, 'cfg', copy))
  await writeFile(join(b.home, 'cfg/g'), 'new on B')
  await run(t, a, ['sync', 'up'])
  await run(t, b, ['sync', 'up'])
  await run(t, a, ['sync', 'down', '--yes'])
  await run(t, b, ['sync', 'down', '--yes'])
  for (const c of [a, b]) t.notOk(existsSync(join(c.home, 'cfg', copy)), 'the deleted copy stays deleted')
  await sameCfg(t, { a, b })
})

t.test('a conflict copy of a long name fits NAME_MAX and keeps its extension', async (t) => {
  const long = 'n'.repeat(224) + '.txt'
  const { a, b } = await setUp(t, (home) => writeFile(join(home, 'cfg', long), 'base'))
  await writeFile(join(a.home, 'cfg', long), 'by A')
  await run(t, a, ['sync', 'up'])
  await writeAt(join(b.home, 'cfg', long), 'by B, older', '2026-01-02T03:04:05Z')
  const down = await run(t, b, ['sync', 'down', '--yes'], 6)
  t.match(down.stdout, /conflict: /)
  const copy = (await readdir(join(b.home, 'cfg'))).find((n) => n.includes('.conflict-pc-b-20260102-030405'))
  t.ok(copy, 'the local version is kept as a copy')
  t.ok(Buffer.byteLength(copy!) <= 255, `${Buffer.byteLength(copy!)} bytes`)
  t.ok(copy!.endsWith('.txt'), 'the extension stays last')
  t.equal(await readFile(join(b.home, 'cfg', copy!), 'utf8'), 'by B, older')
  t.equal(await readFile(join(b.home, 'cfg', long), 'utf8'), 'by A')
})

t.test('a version a copy of n0.txt keeps still gets its own copy when n0 loses to a folder', async (t) => {
  const { a, b } = await setUp(t, (home) => writeFile(join(home, 'cfg/keep'), 'base'))
  // A has one version at n0 and at n0.txt (same bytes, mode and time); B a newer n0.txt.
  await writeAt(join(a.home, 'cfg/n0.txt'), 'v', '2026-01-01T00:00:00Z')
  await writeAt(join(a.home, 'cfg/n0'), 'v', '2026-01-01T00:00:00Z')
  await run(t, a, ['sync', 'up'])
  await writeAt(join(b.home, 'cfg/n0.txt'), 'w', '2026-02-01T00:00:00Z')
  await run(t, b, ['sync', 'up'])
  // A's n0.txt loses: its version goes to n0.conflict-pc-a-….txt, which A's next commit holds
  // beside n0 (a change of A's own makes one).
  await run(t, a, ['sync', 'down', '--yes'], 6)
  await writeFile(join(a.home, 'cfg/keep'), 'by A')
  await run(t, a, ['sync', 'up'])
  const txtCopy = 'n0.conflict-pc-a-20260101-000000.txt'
  t.equal(await readFile(join(a.home, 'cfg', txtCopy), 'utf8'), 'v')
  // Meanwhile B made n0 a folder: the folder keeps the name, A's file n0 goes to a copy of n0.
  await mkdir(join(b.home, 'cfg/n0'))
  await writeFile(join(b.home, 'cfg/n0/inside'), 'i')
  await run(t, b, ['sync', 'up'])
  await run(t, b, ['sync', 'down', '--yes'])
  await run(t, a, ['sync', 'down', '--yes'], 6)
  for (const c of [a, b]) {
    t.equal(await readFile(join(c.home, 'cfg/n0/inside'), 'utf8'), 'i', 'the folder keeps the name')
    t.equal(
      await readFile(join(c.home, 'cfg/n0.conflict-pc-a-20260101-000000'), 'utf8').catch(() => 'missing'),
      'v',
      "n0's version is kept in a copy of n0, though a copy of n0.txt holds the same bytes",
    )
    t.equal(await readFile(join(c.home, 'cfg', txtCopy), 'utf8'), 'v')
  }
  await sameCfg(t, { a, b })
})

t.test('a conflict copy a criss-cross base holds is not lost when a side never had it', async (t) => {
  const { a, b, vault } = await setUp(t, (home) => writeFile(join(home, 'cfg/x'), 'x'))
  const c = await joinedComputer(t, vault, ['~/cfg'], 'pc-c')
  // B adds f; A receives it and publishes a commit holding it.
  await writeAt(join(b.home, 'cfg/f'), 'f by B', '2026-03-01T00:00:00Z')
  await run(t, b, ['sync', 'up'])
  await run(t, a, ['sync', 'down', '--yes'])
  await writeFile(join(a.home, 'cfg/a1'), '1')
  await run(t, a, ['sync', 'up'])
  await run(t, b, ['sync', 'down', '--yes'])
  // C, not having seen B's f, adds its own, newer one: A's merge keeps C's at the name and B's
  // as a copy.
  await writeAt(join(c.home, 'cfg/f'), 'f by C', '2026-03-02T00:00:00Z')
  await run(t, c, ['sync', 'up'])
  await run(t, a, ['sync', 'down', '--yes'], 6)
  const copy = 'f.conflict-pc-b-20260301-000000'
  t.equal(await readFile(join(a.home, 'cfg', copy), 'utf8'), 'f by B')
  await run(t, a, ['sync', 'up'])
  // C deletes its f, B changes something else (B still has its f at the name, no copy), A edits
  // f; each up-syncs, in that order.
  await rm(join(c.home, 'cfg/f'))
  await run(t, c, ['sync', 'up'])
  await writeFile(join(b.home, 'cfg/b1'), '1')
  await run(t, b, ['sync', 'up'])
  await writeAt(join(a.home, 'cfg/f'), 'f by A', '2026-03-03T00:00:00Z')
  await run(t, a, ['sync', 'up'])
  // C merges the three heads: the base of B's and A's is a criss-cross whose merge holds the
  // copy, which B never had. B's version must stay in the copy, not vanish.
  await run(t, c, ['sync', 'down', '--yes'])
  t.equal(await readFile(join(c.home, 'cfg/f'), 'utf8'), 'f by A', 'the edit wins over the deletion')
  t.equal(await readFile(join(c.home, 'cfg', copy), 'utf8'), 'f by B', "B's version stays in its copy")
})

t.test('a version its author deleted stays deleted though another merge met it in another order', async (t) => {
  const { a, b, c } = await threeComputers(t)
  // A and B add f with one time: a tie. B's version (mode 755) wins it over A's (mode 644)
  // wherever the two meet, whichever head holds each.
  const time = '2026-01-01T00:00:00Z'
  await writeAt(join(a.home, 'cfg/f'), 'f by A', time)
  await run(t, a, ['sync', 'up'])
  await run(t, c, ['sync', 'down', '--yes'])
  await writeAt(join(b.home, 'cfg/f'), 'f by B', time)
  await chmod(join(b.home, 'cfg/f'), 0o755)
  await run(t, b, ['sync', 'up'])
  // A merges its head with B's: B's version keeps the name, A's goes to a copy, which A's user
  // dismisses.
  await run(t, a, ['sync', 'down', '--yes'], 6)
  const copy = 'f.conflict-pc-a-20260101-000000'
  t.equal(await readFile(join(a.home, 'cfg/f'), 'utf8'), 'f by B')
  t.equal(await readFile(join(a.home, 'cfg', copy), 'utf8'), 'f by A')
  await rm(join(a.home, 'cfg', copy))
  // C, which holds A's version, publishes a change of its own on top of it: B then merges B's
  // head with C's, the other way round (C's head is now the later one), and publishes.
  await writeFile(join(c.home, 'cfg/g'), 'g by C')
  await run(t, c, ['sync', 'up'])
  await cloudy(b, ['sync', 'down', '--yes'])
  await writeFile(join(b.home, 'cfg/k'), 'k by B')
  await run(t, b, ['sync', 'up'])
  await run(t, a, ['sync', 'up'])
  for (const x of [a, b, c]) await cloudy(x, ['sync', 'down', '--yes'])
  for (const x of [a, b, c]) {
    t.equal(await readFile(join(x.home, 'cfg/f'), 'utf8'), 'f by B', 'the version that won the tie keeps the name')
    t.notOk(existsSync(join(x.home, 'cfg', copy)), 'the copy A deleted stays deleted')
    t.same((await readdir(join(x.home, 'cfg'))).sort(), ['f', 'g', 'k'], "A's version is nowhere, in no other copy")
  }
  await sameCfg(t, { a, b, c })
})

t.test('a conflict of one time stays settled when a side up-syncs again', async (t) => {
  const { a, b, c } = await threeComputers(t)
  // A and B add f with one time: a tie, which B's version (mode 755) wins over A's (mode 644).
  const time = '2026-01-01T00:00:00Z'
  await writeAt(join(a.home, 'cfg/f'), 'f by A', time)
  await run(t, a, ['sync', 'up'])
  await writeAt(join(b.home, 'cfg/f'), 'f by B', time)
  await chmod(join(b.home, 'cfg/f'), 0o755)
  await run(t, b, ['sync', 'up'])
  await run(t, c, ['sync', 'down', '--yes'], 6)
  const copy = 'f.conflict-pc-a-20260101-000000'
  t.equal(await readFile(join(c.home, 'cfg/f'), 'utf8'), 'f by B')
  t.equal(await readFile(join(c.home, 'cfg', copy), 'utf8'), 'f by A')
  // A, not yet down-synced, changes something else and up-syncs: its head, still holding its
  // version of f, is now the later one. The conflict C saw settled stays as it is.
  await writeFile(join(a.home, 'cfg/g'), 'g by A')
  await run(t, a, ['sync', 'up'])
  for (const x of [c, a, b]) await cloudy(x, ['sync', 'down', '--yes'])
  for (const x of [a, b, c]) {
    t.equal(await readFile(join(x.home, 'cfg/f'), 'utf8'), 'f by B', 'the version that won the tie keeps the name')
    t.equal(await readFile(join(x.home, 'cfg', copy), 'utf8'), 'f by A', "A's version stays in its copy")
    t.same((await readdir(join(x.home, 'cfg'))).sort(), ['f', copy, 'g'], 'each version once')
  }
  await sameCfg(t, { a, b, c })
})
