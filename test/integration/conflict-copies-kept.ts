/**
 * Conflict copies, continued (conflict-copies.ts; split for time): a merge's copy added beside a
 * folder and deleted before the up-sync stays deleted, and a version one side keeps in a copy
 * does not also take the name.
 */
import t from 'tap'
import { lutimes, mkdir, readFile, readdir, readlink, rm, symlink, writeFile } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { cloudy } from '../helpers/cli.js'
import { run, sameCfg, sentByCDeletedByA, threeComputers, writeAt } from '../helpers/three-computers.js'

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
