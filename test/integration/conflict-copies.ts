/**
 * The conflict copies merges and down-syncs make: a copy deleted on one computer stays deleted
 * everywhere, whether two computers made it, one sent it from a half-done down-sync, or it was
 * deleted before it was ever sent. What a half-done down-sync wrote is in half-done-down.ts.
 */
import t from 'tap'
import { lutimes, mkdir, readFile, readdir, readlink, rm, symlink, utimes, writeFile } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { cloudy, type Computer } from '../helpers/cli.js'
import { describeTree } from '../helpers/tree.js'
import { run, sameCfg, sentByCDeletedByA, threeComputers, writeAt } from '../helpers/three-computers.js'

/** Every computer down-syncs, then up-syncs, twice round: the chain settles. */
async function settle(...xs: Computer[]): Promise<void> {
  for (let round = 0; round < 2; round++)
    for (const x of xs) {
      await cloudy(x, ['sync', 'down', '--yes'])
      await cloudy(x, ['sync', 'up'])
    }
}

/** The files under `x`'s ~/cfg whose text is `text`. */
async function filesHolding(x: Computer, text: string): Promise<string[]> {
  const out: string[] = []
  for (const f of await describeTree(join(x.home, 'cfg')))
    if (f.type === 'file' && (await readFile(join(x.home, 'cfg', f.path), 'utf8')) === text) out.push(f.path)
  return out
}

t.test('a copy two computers made in their down-syncs, deleted on one before its up-sync, stays deleted', async (t) => {
  const { a, b, c } = await threeComputers(t)
  // A publishes a file f and a folder d; B and C each have a never-synced f (newer) and a file
  // d, alike on both: both down-syncs keep A's versions beside theirs, as the same two copies.
  await writeAt(join(a.home, 'cfg/f'), 'f by A', '2026-01-01T00:00:00Z')
  await mkdir(join(a.home, 'cfg/d'))
  await writeFile(join(a.home, 'cfg/d/x'), 'x by A')
  await writeFile(join(a.home, 'cfg/d/y'), 'y by A')
  await utimes(join(a.home, 'cfg/d'), new Date('2026-01-01T00:00:00Z'), new Date('2026-01-01T00:00:00Z'))
  await run(t, a, ['sync', 'up'])
  for (const x of [b, c]) {
    await writeAt(join(x.home, 'cfg/f'), 'f here', '2026-02-01T00:00:00Z')
    await writeAt(join(x.home, 'cfg/d'), 'd here', '2026-02-01T00:00:00Z')
    await run(t, x, ['sync', 'down', '--yes'], 6)
  }
  const fCopy = 'f.conflict-pc-a-20260101-000000'
  const dCopy = 'd.conflict-pc-a-20260101-000000'
  for (const x of [b, c]) {
    t.equal(await readFile(join(x.home, 'cfg', fCopy), 'utf8'), 'f by A')
    t.equal(await readFile(join(x.home, 'cfg', dCopy, 'x'), 'utf8'), 'x by A')
  }
  // B's user dismisses the copy of f and one file of the copied folder before B ever up-syncs
  // them: the chain never held them from B, yet the deletion must reach C's identical copies.
  await rm(join(b.home, 'cfg', fCopy))
  await rm(join(b.home, 'cfg', dCopy, 'x'))
  await run(t, c, ['sync', 'up'])
  await run(t, b, ['sync', 'up'])
  for (const x of [a, b, c]) await run(t, x, ['sync', 'down', '--yes'])
  for (const x of [a, b, c]) {
    t.notOk(existsSync(join(x.home, 'cfg', fCopy)), 'the deleted copy stays deleted')
    t.notOk(existsSync(join(x.home, 'cfg', dCopy, 'x')), 'the file deleted in the copied folder stays deleted')
    t.equal(await readFile(join(x.home, 'cfg', dCopy, 'y'), 'utf8'), 'y by A', 'the rest of the copied folder stays')
  }
  await sameCfg(t, { a, b, c })
})

// Soak adversarial seed 21: C sent the copy B also made; B, which deleted its own before any
// up-sync, must not take C's back in its next down-sync (in a copy of a folder B replaced too).
t.test('a copy two computers made, deleted on one before it down-syncs the other, stays deleted', async (t) => {
  const { a, b, c } = await threeComputers(t)
  // A publishes g and d/f; B and C each have a never-synced, newer g and d/f: both down-syncs
  // keep A's versions beside theirs, as the same two copies.
  await writeAt(join(a.home, 'cfg/g'), 'g by A', '2026-01-01T00:00:00Z')
  await mkdir(join(a.home, 'cfg/d'))
  await writeAt(join(a.home, 'cfg/d/f'), 'f by A', '2026-01-01T00:00:00Z')
  await run(t, a, ['sync', 'up'])
  for (const x of [b, c]) {
    await writeAt(join(x.home, 'cfg/g'), 'g here', '2026-02-01T00:00:00Z')
    await mkdir(join(x.home, 'cfg/d'))
    await writeAt(join(x.home, 'cfg/d/f'), 'f here', '2026-02-01T00:00:00Z')
    await run(t, x, ['sync', 'down', '--yes'], 6)
  }
  const gCopy = 'g.conflict-pc-a-20260101-000000'
  const fCopy = 'f.conflict-pc-a-20260101-000000'
  for (const x of [b, c]) {
    t.equal(await readFile(join(x.home, 'cfg', gCopy), 'utf8'), 'g by A')
    t.equal(await readFile(join(x.home, 'cfg/d', fCopy), 'utf8'), 'f by A')
  }
  await run(t, c, ['sync', 'up'])
  // B's user dismisses both copies, and replaces the folder d by a file, before B ever sends
  // them. B's down-sync then meets C's identical copies: the one of f in the copy of C's folder d.
  await rm(join(b.home, 'cfg', gCopy))
  await rm(join(b.home, 'cfg/d'), { recursive: true })
  await writeFile(join(b.home, 'cfg/d'), 'd is a file on B')
  await run(t, b, ['sync', 'down', '--yes'], 6)
  t.notOk(existsSync(join(b.home, 'cfg', gCopy)), "B's down-sync does not bring back the copy B deleted")
  const dCopies = (await readdir(join(b.home, 'cfg'))).filter((n) => n.startsWith('d.conflict-'))
  t.equal(dCopies.length, 1, "C's folder d is kept beside B's file")
  t.equal(await readFile(join(b.home, 'cfg', dCopies[0]!, 'f'), 'utf8'), 'f here')
  t.notOk(existsSync(join(b.home, 'cfg', dCopies[0]!, fCopy)), "nor the copy of f B deleted, in the copy of C's folder")
  for (let round = 0; round < 2; round++)
    for (const x of [b, a, c]) {
      await cloudy(x, ['sync', 'up'])
      await cloudy(x, ['sync', 'down', '--yes'])
    }
  for (const x of [a, b, c]) {
    t.notOk(existsSync(join(x.home, 'cfg', gCopy)), 'the deleted copy stays deleted')
    t.notOk(existsSync(join(x.home, 'cfg', dCopies[0]!, fCopy)), 'the deleted copy of f stays deleted')
    t.equal(await readFile(join(x.home, 'cfg/d'), 'utf8'), 'd is a file on B')
  }
  await sameCfg(t, { a, b, c })
})

t.test("a merge's copy deleted before the up-sync stays deleted though a half-done down-sync sent it", async (t) => {
  const { a, b, c } = await threeComputers(t)
  // A and B publish different versions of f: the merge keeps A's older one as a copy.
  await writeAt(join(a.home, 'cfg/f'), 'f by A', '2026-01-01T00:00:00Z')
  await run(t, a, ['sync', 'up'])
  await writeAt(join(b.home, 'cfg/f'), 'f by B', '2026-01-02T00:00:00Z')
  await run(t, b, ['sync', 'up'])
  const copy = 'f.conflict-pc-a-20260101-000000'
  await run(t, a, ['sync', 'down', '--yes'], 6)
  t.equal(await readFile(join(a.home, 'cfg', copy), 'utf8'), 'f by A')
  await sentByCDeletedByA(t, { a, b, c }, copy, 'f by A')
  for (const x of [a, b, c]) {
    t.notOk(existsSync(join(x.home, 'cfg', copy)), 'the deleted copy stays deleted')
    t.equal(await readFile(join(x.home, 'cfg/f'), 'utf8'), 'f by B')
  }
  await sameCfg(t, { a, c })
})

// Soak normal seed 79: where this computer's version keeps the name, the merge's copy of the
// other one is a plain add here, and was not recorded as written here.
t.test("a merge's copy added beside a folder here, deleted before the up-sync, stays deleted", async (t) => {
  const { a, b, c } = await threeComputers(t)
  // A publishes a folder f, B a file f: the folder keeps the name, B's file goes to a copy.
  await mkdir(join(a.home, 'cfg/f'))
  await writeFile(join(a.home, 'cfg/f/inside'), 'a')
  await run(t, a, ['sync', 'up'])
  await writeAt(join(b.home, 'cfg/f'), 'f by B', '2026-01-02T00:00:00Z')
  await run(t, b, ['sync', 'up'])
  const copy = 'f.conflict-pc-b-20260102-000000'
  await cloudy(a, ['sync', 'down', '--yes'])
  t.equal(await readFile(join(a.home, 'cfg', copy), 'utf8'), 'f by B', "A's down-sync wrote the merge's copy")
  await sentByCDeletedByA(t, { a, b, c }, copy, 'f by B')
  for (const x of [a, b, c]) {
    t.notOk(existsSync(join(x.home, 'cfg', copy)), 'the deleted copy stays deleted')
    t.equal(await readFile(join(x.home, 'cfg/f/inside'), 'utf8'), 'a', 'the folder keeps the name')
  }
  await sameCfg(t, { a, b, c })
})

// Soak normal seed 80: B keeps A's file beside its own folder as a copy in its down-sync; A's own
// merge later makes the same copy, and A's user deletes it. A's up-sync that found nothing else
// changed published nothing, so only the commit of the copy as written before its deletion tells
// the chain A held it; and B, down-syncing before it ever sent its copy, deletes it as the chain did.
for (const bFirst of ['up', 'down'])
  t.test(`a copy one computer made, another merged and then deleted, stays deleted (B syncs ${bFirst} first)`, async (t) => {
    const { a, b, c } = await threeComputers(t)
    // B has a folder n2 (never synced); A publishes a file n2; B keeps A's file as a copy.
    await mkdir(join(b.home, 'cfg/n2'))
    await writeFile(join(b.home, 'cfg/n2/inside'), 'b')
    await writeAt(join(a.home, 'cfg/n2'), 'v41 by A', '2026-01-01T00:00:00Z')
    await run(t, a, ['sync', 'up'])
    await run(t, b, ['sync', 'down', '--yes'], 6)
    const copy = 'n2.conflict-pc-a-20260101-000000'
    t.equal(await readFile(join(b.home, 'cfg', copy), 'utf8'), 'v41 by A', "B kept A's file as a copy")
    // C published its own newer n2 meanwhile; A's merge keeps C's at the name, A's in the same
    // copy. A's up-sync then finds nothing changed: it publishes nothing.
    await writeAt(join(c.home, 'cfg/n2'), 'v45 by C', '2026-02-01T00:00:00Z')
    await run(t, c, ['sync', 'up'])
    await run(t, a, ['sync', 'down', '--yes'], 6)
    t.equal(await readFile(join(a.home, 'cfg', copy), 'utf8'), 'v41 by A')
    t.match((await run(t, a, ['sync', 'up'])).stdout, /no change/)
    // A's user dismisses the copy.
    await rm(join(a.home, 'cfg', copy))
    await run(t, a, ['sync', 'up'])
    const order = bFirst === 'up' ? ['up', 'down'] : ['down', 'up']
    for (const what of order) await cloudy(b, what === 'up' ? ['sync', 'up'] : ['sync', 'down', '--yes'])
    for (let round = 0; round < 2; round++)
      for (const x of [a, b, c]) {
        await cloudy(x, ['sync', 'up'])
        await cloudy(x, ['sync', 'down', '--yes'])
      }
    for (const x of [a, b, c]) t.notOk(existsSync(join(x.home, 'cfg', copy)), 'the copy A deleted stays deleted')
    t.equal(await readFile(join(b.home, 'cfg/n2/inside'), 'utf8'), 'b', "B's folder keeps the name")
    await sameCfg(t, { a, b, c })
  })

// Soak adversarial seed 10: A's down-sync kept its edited file at the name and B's link (a kind
// A's file is not) in a copy, and stopped before it recorded the heads it applied; A's up-sync
// sent both on a commit built on the older state. The merge then found the name changed on both
// sides and gave it to B's newer link: with A's file in a new copy, the link was kept twice (at
// the name and in A's copy). A side that already keeps the winner in a copy keeps the name
// (README, "Conflicts keep both versions": a version is kept in one copy at most).
t.test("a version one side keeps in a copy does not also take the name from the other side's version", async (t) => {
  const { a, b } = await threeComputers(t)
  await writeAt(join(a.home, 'cfg/n'), 'v0 by A', '2026-01-01T00:00:00Z')
  await run(t, a, ['sync', 'up'])
  await run(t, b, ['sync', 'down', '--yes'])
  // B replaces the file by a link (newer); A edits the file without down-syncing first.
  await rm(join(b.home, 'cfg/n'))
  await symlink('target-by-b', join(b.home, 'cfg/n'))
  await lutimes(join(b.home, 'cfg/n'), new Date('2026-01-03T00:00:00Z'), new Date('2026-01-03T00:00:00Z'))
  await writeAt(join(b.home, 'cfg/g'), 'g by B', '2026-01-03T00:00:00Z')
  await run(t, b, ['sync', 'up'])
  await writeAt(join(a.home, 'cfg/n'), 'v1 by A', '2026-01-02T00:00:00Z')
  const copy = 'n.conflict-pc-b-20260103-000000'
  // Only the name (not g): the run stops before it records the heads it applied, as a killed one.
  await run(t, a, ['sync', 'down', '--yes', '--only', 'settings/cfg/n', `settings/cfg/${copy}`], 6)
  t.equal(await readlink(join(a.home, 'cfg', copy)), 'target-by-b', "A's down-sync kept B's link in a copy")
  t.equal(await readFile(join(a.home, 'cfg/n'), 'utf8'), 'v1 by A', "A's file keeps the name")
  await run(t, a, ['sync', 'up'])
  await run(t, b, ['sync', 'down', '--yes'])
  await run(t, a, ['sync', 'down', '--yes'])
  for (const x of [a, b]) {
    const names = (await readdir(join(x.home, 'cfg'))).sort()
    t.same(names, ['g', 'n', copy], 'each version once: no second copy')
    t.equal(await readFile(join(x.home, 'cfg/n'), 'utf8'), 'v1 by A', "A's file keeps the name")
    t.equal(await readlink(join(x.home, 'cfg', copy)), 'target-by-b', "B's link is in the copy only")
  }
  await sameCfg(t, { a, b })
})

// Soak normal seed 72: C had replaced A's folder d by a file, so its down-sync kept the file and
// put A's d, A's new file d/n too, in a copy. B, not having seen d/n, had made d/n a folder and
// up-synced after that; A changed g since. The heads of A and B merge first (older): B's folder
// keeps d/n, A's n goes to a copy beside it. C's user removes the file d (or keeps it). If C's
// up-sync sends the copy of d first, the merge took A's n in that merge copy for something the
// others changed in d, and kept it at d too. If C's down-sync comes first, its plan finishes
// its unsent copy of d with what the chain changed in d. It is in C's copy of d, once.
for (const cFile of ['removed', 'kept'])
  for (const cFirst of ['up', 'down'])
    t.test(
      `a version a folder's copy holds is not kept again beside what took its name (C's file ${cFile}, C ${cFirst} first)`,
      async (t) => {
        const { a, b, c } = await threeComputers(t)
        await mkdir(join(a.home, 'cfg/d'))
        await writeFile(join(a.home, 'cfg/d/x'), 'x by A')
        await writeFile(join(a.home, 'cfg/g'), 'g by A')
        await run(t, a, ['sync', 'up'])
        for (const x of [b, c]) await run(t, x, ['sync', 'down', '--yes'])
        await rm(join(c.home, 'cfg/d'), { recursive: true })
        await writeAt(join(c.home, 'cfg/d'), 'd by C', '2026-01-03T00:00:00Z')
        await writeAt(join(a.home, 'cfg/d/n'), 'n by A', '2026-01-01T00:00:00Z')
        await run(t, a, ['sync', 'up'])
        await run(t, c, ['sync', 'down', '--yes'], 6)
        const [copy] = (await readdir(join(c.home, 'cfg'))).filter((n) => n.startsWith('d.conflict-pc-a-'))
        t.equal(await readFile(join(c.home, 'cfg', copy!, 'n'), 'utf8'), 'n by A', "C keeps A's d in a copy")
        await mkdir(join(b.home, 'cfg/d/n'))
        await writeAt(join(b.home, 'cfg/d/n/h'), 'h by B', '2026-01-02T00:00:00Z')
        await run(t, b, ['sync', 'up'])
        await writeFile(join(a.home, 'cfg/g'), 'g2 by A')
        await run(t, a, ['sync', 'up'])
        if (cFile === 'removed') await rm(join(c.home, 'cfg/d'))
        await cloudy(c, cFirst === 'up' ? ['sync', 'up'] : ['sync', 'down', '--yes'])
        await settle(a, b, c)
        for (const x of [a, b, c]) {
          const holding = (text: string) => filesHolding(x, text)
          // Where C down-syncs first, its plan finishes its unsent copy of d with what the chain
          // changed in d since (9f297c9): n is there under the merge copy's name.
          const n = await holding('n by A')
          t.equal(n.length, 1, "A's n is kept once")
          t.ok(n[0]?.startsWith(`${copy}/`), "A's n is kept in C's copy of d")
          t.same((await holding('h by B')).length, 1, "B's h is kept once")
        }
        await sameCfg(t, { a, b, c })
      },
    )

// Soak normal seed 91: A publishes the folder d (files n and x, folder m with k). B, not having
// seen it, had made d/n a folder and d/m a file: its (whole) down-sync keeps both and puts A's
// n and m in copies beside them, in d. C had a file d: its (whole) down-sync keeps the file and
// puts A's d in a copy. A then edits d/x, and up-syncs before the others. Where C's head comes
// next, the merge of A's and C's keeps d a folder (with A's x alone); B's copies in d then
// passed for B's changes and were kept besides in C's copy of d: n and k kept twice.
for (const next of ['C', 'B'])
  t.test(`a version a folder's copy holds is not kept again in a copy made inside the folder (${next}'s head next)`, async (t) => {
    const { a, b, c } = await threeComputers(t)
    await mkdir(join(b.home, 'cfg/d/n'), { recursive: true })
    await writeAt(join(b.home, 'cfg/d/n/h'), 'h by B', '2026-01-02T00:00:00Z')
    await writeAt(join(b.home, 'cfg/d/m'), 'm by B', '2026-01-02T00:00:00Z')
    await writeAt(join(c.home, 'cfg/d'), 'd by C', '2026-01-03T00:00:00Z')
    await mkdir(join(a.home, 'cfg/d/m'), { recursive: true })
    await writeAt(join(a.home, 'cfg/d/n'), 'n by A', '2026-01-01T00:00:00Z')
    await writeAt(join(a.home, 'cfg/d/x'), 'x by A', '2026-01-01T00:00:00Z')
    await writeAt(join(a.home, 'cfg/d/m/k'), 'k by A', '2026-01-01T00:00:00Z')
    await run(t, a, ['sync', 'up'])
    for (const x of [b, c]) await run(t, x, ['sync', 'down', '--yes'], 6)
    const [copy] = (await readdir(join(c.home, 'cfg'))).filter((n) => n.startsWith('d.conflict-pc-a-'))
    t.equal(await readFile(join(c.home, 'cfg', copy!, 'n'), 'utf8'), 'n by A', "C keeps A's d in a copy")
    t.equal((await readdir(join(b.home, 'cfg/d'))).filter((n) => n.includes('.conflict-pc-a-')).length, 2, "B keeps A's n and m in copies")
    await writeFile(join(a.home, 'cfg/d/x'), 'x2 by A')
    await run(t, a, ['sync', 'up'])
    for (const x of next === 'C' ? [c, b] : [b, c]) await run(t, x, ['sync', 'up'])
    await settle(a, b, c)
    for (const x of [a, b, c]) {
      const holding = (text: string) => filesHolding(x, text)
      t.same(await holding('n by A'), [`${copy}/n`], "A's n is kept once, in C's copy of d")
      t.same(await holding('k by A'), [`${copy}/m/k`], "A's k is kept once, in C's copy of d")
      for (const text of ['x2 by A', 'h by B', 'm by B', 'd by C']) t.equal((await holding(text)).length, 1, `${text} is kept once`)
    }
    await sameCfg(t, { a, b, c })
  })
