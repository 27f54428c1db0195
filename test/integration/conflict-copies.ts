/**
 * The conflict copies merges and down-syncs make: a copy deleted on one computer stays deleted
 * everywhere, whether two computers made it, one sent it from a half-done down-sync, or it was
 * deleted before it was ever sent. What a half-done down-sync wrote is in half-done-down.ts.
 */
import t from 'tap'
import { mkdir, readFile, readdir, rm, utimes, writeFile } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { cloudy } from '../helpers/cli.js'
import { run, sameCfg, sentByCDeletedByA, threeComputers, writeAt } from '../helpers/three-computers.js'

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
