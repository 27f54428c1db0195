/**
 * The conflict copies merges and down-syncs make: a copy deleted on one computer stays deleted
 * everywhere, whether two computers made it, one sent it from a half-done down-sync, or it was
 * deleted before it was ever sent; and a version a half-done (or killed) down-sync wrote is the
 * chain's, not an edit of this computer's.
 */
import t from 'tap'
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdir, readFile, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises'
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { BIN, cloudy } from '../helpers/cli.js'
import { describeTree } from '../helpers/tree.js'
import { run, sentByCDeletedByA, threeComputers, writeAt } from '../helpers/three-computers.js'

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
  t.same(await describeTree(join(a.home, 'cfg')), await describeTree(join(c.home, 'cfg')), 'A and C are equal')
  t.same(await describeTree(join(b.home, 'cfg')), await describeTree(join(c.home, 'cfg')), 'B and C are equal')
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
  t.same(await describeTree(join(a.home, 'cfg')), await describeTree(join(b.home, 'cfg')), 'A and B are equal')
  t.same(await describeTree(join(c.home, 'cfg')), await describeTree(join(b.home, 'cfg')), 'C and B are equal')
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
  t.same(await describeTree(join(a.home, 'cfg')), await describeTree(join(c.home, 'cfg')), 'A and C are equal')
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
  t.same(await describeTree(join(a.home, 'cfg')), await describeTree(join(c.home, 'cfg')), 'A and C are equal')
  t.same(await describeTree(join(b.home, 'cfg')), await describeTree(join(c.home, 'cfg')), 'B and C are equal')
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
    t.same(await describeTree(join(a.home, 'cfg')), await describeTree(join(b.home, 'cfg')), 'A and B are equal')
    t.same(await describeTree(join(c.home, 'cfg')), await describeTree(join(b.home, 'cfg')), 'C and B are equal')
  })

// Soak adversarial seed 53: C's down-sync moved C's unsent edit of n2.txt aside, wrote the
// chain's version (B's) at the name and was killed before it recorded anything; A deleted B's
// version. C's next sync must not pass the version the chain wrote here for an edit of C's, which
// would win over A's deletion (an edit beats a deletion) and bring it back everywhere.
for (const cFirst of ['up', 'down'])
  t.test(`a version a half-done down-sync wrote is the chain's: its deletion wins (C syncs ${cFirst} first)`, async (t) => {
    const { a, b, c } = await threeComputers(t)
    // Every write has one time (as in the soak's adversarial mode): a tie goes to the incoming version.
    const time = '2026-01-01T00:00:00Z'
    await writeAt(join(a.home, 'cfg/n2.txt'), 'v0 by A', time)
    await run(t, a, ['sync', 'up'])
    for (const x of [b, c]) await run(t, x, ['sync', 'down', '--yes'])
    // B edits n2.txt (and g, so that C's down-sync has more to do than n2.txt); A receives it.
    await writeAt(join(b.home, 'cfg/n2.txt'), 'v27 by B', time)
    await writeAt(join(b.home, 'cfg/g'), 'g by B', time)
    await run(t, b, ['sync', 'up'])
    await run(t, a, ['sync', 'down', '--yes'])
    // C edits n2.txt and does not up-sync; A's user deletes B's version.
    await writeAt(join(c.home, 'cfg/n2.txt'), 'v35 by C', time)
    await rm(join(a.home, 'cfg/n2.txt'))
    // C's down-sync writes n2.txt and stops there (as a killed one does): C's version to a copy,
    // B's at the name; nothing else is applied, so C's last synced state stays the old one.
    await run(t, c, ['sync', 'down', '--yes', '--only', 'settings/cfg/n2.txt'], 6)
    const copy = 'n2.conflict-pc-c-20260101-000000.txt'
    t.equal(await readFile(join(c.home, 'cfg/n2.txt'), 'utf8'), 'v27 by B')
    t.equal(await readFile(join(c.home, 'cfg', copy), 'utf8'), 'v35 by C')
    t.notOk(existsSync(join(c.home, 'cfg/g')), 'the rest is not applied')
    await run(t, a, ['sync', 'up'])
    if (cFirst === 'up') await run(t, c, ['sync', 'up'])
    for (const x of [c, a, b, c]) await cloudy(x, ['sync', 'down', '--yes'])
    for (const x of [a, b, c]) await cloudy(x, ['sync', 'up'])
    for (const x of [a, b, c]) await cloudy(x, ['sync', 'down', '--yes'])
    for (const x of [a, b, c]) {
      t.notOk(existsSync(join(x.home, 'cfg/n2.txt')), "A's deletion of B's version wins")
      t.equal(await readFile(join(x.home, 'cfg', copy), 'utf8'), 'v35 by C', "C's version is kept in its copy")
      t.same((await readdir(join(x.home, 'cfg'))).sort(), ['g', copy], 'each version once')
    }
    t.same(await describeTree(join(a.home, 'cfg')), await describeTree(join(b.home, 'cfg')), 'A and B are equal')
    t.same(await describeTree(join(b.home, 'cfg')), await describeTree(join(c.home, 'cfg')), 'B and C are equal')
  })

// The same with a real kill: C's down-sync is killed after it wrote B's version at n2.txt, while
// it still writes a large file; it recorded nothing, not even the file it wrote in its file cache.
t.test("a version a killed down-sync wrote is the chain's: its deletion wins", async (t) => {
  const { a, b, c } = await threeComputers(t)
  const time = '2026-01-01T00:00:00Z'
  await writeAt(join(a.home, 'cfg/n2.txt'), 'v0 by A', time)
  await run(t, a, ['sync', 'up'])
  for (const x of [b, c]) await run(t, x, ['sync', 'down', '--yes'])
  // B's n2.txt fills the first small packs, z the many after: the kill lands while z is written.
  const v27 = randomBytes(4 * 1024 * 1024)
  const z = randomBytes(32 * 1024 * 1024)
  await writeFile(join(b.home, 'cfg/n2.txt'), v27)
  await utimes(join(b.home, 'cfg/n2.txt'), new Date(time), new Date(time))
  await writeFile(join(b.home, 'cfg/z'), z)
  const up = await cloudy(b, ['sync', 'up'], { CLOUDY_PACK_SIZE: String(1024 * 1024) })
  t.equal(up.code, 0, up.stderr)
  await run(t, a, ['sync', 'down', '--yes'])
  await writeAt(join(c.home, 'cfg/n2.txt'), 'v35 by C', time)
  await rm(join(a.home, 'cfg/n2.txt'))

  const cfg = join(c.home, 'cfg')
  const child = spawn(process.execPath, [BIN, 'sync', 'down', '--yes'], {
    env: { PATH: process.env.PATH, HOME: c.home, CLOUDY_HOME: c.cloudyHome, CLOUDY_PASSWORD: 'correct horse' },
    stdio: 'ignore',
  })
  const exited = new Promise((resolve) => child.on('exit', resolve))
  let seen = false
  for (let i = 0; i < 30_000 && child.exitCode === null; i++) {
    const written = (await stat(join(cfg, 'n2.txt')).catch(() => undefined))?.size === v27.length
    if ((seen = written && readdirSync(cfg).some((n) => n.includes('.cloudy-')))) break
    await sleep(1)
  }
  child.kill('SIGKILL')
  await exited
  t.ok(seen, "killed after it wrote B's version, while it wrote z")
  t.same(await readFile(join(cfg, 'n2.txt')), v27, "B's version is at the name")
  const copy = 'n2.conflict-pc-c-20260101-000000.txt'
  t.equal(await readFile(join(cfg, copy), 'utf8'), 'v35 by C', "C's version was moved aside")

  await run(t, a, ['sync', 'up'])
  await run(t, c, ['sync', 'up'])
  for (const x of [c, a, b, c]) await cloudy(x, ['sync', 'down', '--yes'])
  for (const x of [a, b, c]) {
    t.notOk(existsSync(join(x.home, 'cfg/n2.txt')), "A's deletion of B's version wins")
    t.equal(await readFile(join(x.home, 'cfg', copy), 'utf8'), 'v35 by C', "C's version is kept in its copy")
    t.same((await readdir(join(x.home, 'cfg'))).sort(), [copy, 'z'], 'each version once, no temporary')
  }
  t.same(await readFile(join(cfg, 'z')), z, 'z arrives whole')
  t.same(await describeTree(join(a.home, 'cfg')), await describeTree(join(c.home, 'cfg')), 'A and C are equal')
})

// Soak normal seed 54: C's down-sync wrote A's new file (a conflict copy there, a plain add here)
// and was killed before it recorded anything; A then deleted it. C's base and the chain's state
// both lack the path, so the diff never looks at it: the next up-sync sent the version the chain
// wrote here as an add of C's, bringing the deleted file back everywhere.
for (const cFirst of ['up', 'down'])
  t.test(`a new file a half-done down-sync wrote, deleted in the chain since, stays deleted (C syncs ${cFirst} first)`, async (t) => {
    const { a, b, c } = await threeComputers(t)
    const time = '2026-01-01T00:00:00Z'
    // A adds n (and g, so that C's down-sync has more to do than n).
    await writeAt(join(a.home, 'cfg/n'), 'n by A', time)
    await writeAt(join(a.home, 'cfg/g'), 'g by A', time)
    await run(t, a, ['sync', 'up'])
    // C's down-sync writes n and stops there (as a killed one does): C's last synced state stays the old one.
    await run(t, c, ['sync', 'down', '--yes', '--only', 'settings/cfg/n'])
    t.equal(await readFile(join(c.home, 'cfg/n'), 'utf8'), 'n by A')
    t.notOk(existsSync(join(c.home, 'cfg/g')), 'the rest is not applied')
    await rm(join(a.home, 'cfg/n'))
    await run(t, a, ['sync', 'up'])
    if (cFirst === 'up') await run(t, c, ['sync', 'up'])
    for (const x of [c, a, b, c]) await cloudy(x, ['sync', 'down', '--yes'])
    for (const x of [a, b, c]) await cloudy(x, ['sync', 'up'])
    for (const x of [a, b, c]) await cloudy(x, ['sync', 'down', '--yes'])
    for (const x of [a, b, c]) t.same((await readdir(join(x.home, 'cfg'))).sort(), ['g'], "A's deletion of n stays")
    t.same(await describeTree(join(a.home, 'cfg')), await describeTree(join(c.home, 'cfg')), 'A and C are equal')
    t.same(await describeTree(join(b.home, 'cfg')), await describeTree(join(c.home, 'cfg')), 'B and C are equal')
  })
