/**
 * A folder's copy a down-sync that stopped halfway (killed, or `--only`) made is finished, never
 * made twice, and the folder does not come back beside it: whatever C does next (down-sync, an
 * up-sync first, or deleting its file), every version is kept once (README, "Conflicts keep both
 * versions."). Split from half-done-down.ts to keep each file within tap's time limit.
 */
import t, { type Test } from 'tap'
import { existsSync } from 'node:fs'
import { mkdir, readFile, readdir, rm, utimes } from 'node:fs/promises'
import { join } from 'node:path'
import { cloudy, type Computer } from '../helpers/cli.js'
import { describeTree } from '../helpers/tree.js'
import { run, sameCfg, threeComputers, writeAt } from '../helpers/three-computers.js'

/**
 * A folder's copy left by a half-done down-sync: A's folder d (f.txt) reached B and C; C replaced
 * it by a file and did not up-sync; A edited d/f.txt and added g; C's down-sync kept its file,
 * made the copy of A's folder, and stopped there (`--only`, as a killed one may), so C's last
 * synced state stays the old one.
 */
async function copyLeftHalfDone(t: Test) {
  const { a, b, c } = await threeComputers(t)
  const d = (x: { home: string }, rel = '') => join(x.home, 'cfg/d', rel)
  await mkdir(d(a))
  await writeAt(d(a, 'f.txt'), 'v1 by A', '2026-01-01T00:00:00Z')
  await utimes(d(a), new Date('2026-01-01T00:00:00Z'), new Date('2026-01-01T00:00:00Z'))
  await run(t, a, ['sync', 'up'])
  for (const x of [b, c]) await run(t, x, ['sync', 'down', '--yes'])
  await rm(d(c), { recursive: true })
  await writeAt(d(c), 'file by C', '2026-01-01T00:00:00Z')
  await writeAt(d(a, 'f.txt'), 'v2 by A', '2026-01-01T00:01:00Z')
  await utimes(d(a), new Date('2026-01-01T00:01:00Z'), new Date('2026-01-01T00:01:00Z'))
  await writeAt(join(a.home, 'cfg/g'), 'g by A', '2026-01-01T00:01:00Z')
  await run(t, a, ['sync', 'up'])
  await run(t, b, ['sync', 'down', '--yes'])
  const copy = 'd.conflict-pc-a-20260101-000100'
  await run(t, c, ['sync', 'down', '--yes', '--only', 'settings/cfg/d', `settings/cfg/${copy}`], 6)
  return { a, b, c, d, copy }
}

// Soak normal seed 62: C had replaced the folder d by a file; C's down-sync made the copy of
// the chain's folder d (A's edit of f.txt in it) and was killed before it recorded anything. B
// then changed d again, so the next down-sync met another version of the folder: it made a
// second copy, named after B's version, holding A's f.txt again, and C's up-sync sent both:
// one version kept twice. Normal seed 98: the same with the folder unchanged, but the killed run
// had finished the copy (its mode set): the next made `-2`. The copy the half-done run made is
// the one to finish.
for (const changed of [true, false])
  t.test(`a folder's copy a half-done down-sync made is finished${changed ? ', though the folder changed since' : ''}`, async (t) => {
    const { a, b, c, d, copy } = await copyLeftHalfDone(t)
    t.equal(await readFile(join(c.home, 'cfg', copy, 'f.txt'), 'utf8'), 'v2 by A', "A's folder is in the copy")
    t.notOk(existsSync(join(c.home, 'cfg/g')), 'the rest is not applied')
    // B adds h to the folder: the chain's folder is another version now.
    const inCopy = changed ? ['f.txt', 'h'] : ['f.txt']
    if (changed) {
      await writeAt(d(b, 'h'), 'h by B', '2026-01-01T00:02:00Z')
      await utimes(d(b), new Date('2026-01-01T00:02:00Z'), new Date('2026-01-01T00:02:00Z'))
      await run(t, b, ['sync', 'up'])
    }
    await cloudy(c, ['sync', 'down', '--yes'])
    t.same((await readdir(join(c.home, 'cfg'))).sort(), ['d', copy, 'g'], 'one copy of the folder')
    t.same((await readdir(join(c.home, 'cfg', copy))).sort(), inCopy, 'what the chain changed in it since C last synced')
    for (const x of [c, a, b]) await cloudy(x, ['sync', 'up'])
    for (const x of [a, b, c]) await cloudy(x, ['sync', 'down', '--yes'])
    for (const x of [a, b, c]) {
      t.same((await readdir(join(x.home, 'cfg'))).sort(), ['d', copy, 'g'], 'each version once')
      t.equal(await readFile(d(x), 'utf8'), 'file by C', "C's file keeps the name")
      t.same((await readdir(join(x.home, 'cfg', copy))).sort(), inCopy)
      t.equal(await readFile(join(x.home, 'cfg', copy, 'f.txt'), 'utf8'), 'v2 by A')
    }
    await sameCfg(t, { a, b, c })
  })

// Two more ways the copy a half-done down-sync made of a folder (as above, with B's change of d
// after it) could keep a version twice. C's up-sync sends the copy before C's next down-sync:
// C's commit is built on C's old state, so the merge took A's f.txt for a change of B's in the
// folder and kept it at d too, besides in the copy. Or C's user deletes the file d: there was no
// conflict left to finish the copy in, and the folder came back with f.txt. Either way the copy
// is finished with B's h, and the folder does not come back.
for (const [variant, between, left] of [
  ['C up-syncs the copy first', (c: Computer) => cloudy(c, ['sync', 'up']), ['d']],
  ["C's user deletes the file d", (c: Computer) => rm(join(c.home, 'cfg/d')), []],
] as const)
  t.test(`a folder's copy a half-done down-sync made keeps each version once: ${variant}`, async (t) => {
    const { a, b, c, d, copy } = await copyLeftHalfDone(t)
    await writeAt(d(b, 'h'), 'h by B', '2026-01-01T00:02:00Z')
    await run(t, b, ['sync', 'up'])
    await between(c)
    await cloudy(c, ['sync', 'down', '--yes'])
    for (const x of [c, a, b]) await cloudy(x, ['sync', 'up'])
    for (const x of [a, b, c]) await cloudy(x, ['sync', 'down', '--yes'])
    for (const x of [a, b, c]) {
      const files = (await describeTree(join(x.home, 'cfg'))).filter((e) => e.type === 'file')
      const texts = await Promise.all(files.map((e) => readFile(join(x.home, 'cfg', e.path), 'utf8')))
      t.equal(texts.filter((s) => s === 'v2 by A').length, 1, "A's f.txt once")
      t.equal(texts.filter((s) => s === 'h by B').length, 1, "B's h once")
      t.same((await readdir(join(x.home, 'cfg'))).sort(), [...left, copy, 'g'], 'the folder is in its copy only')
      t.same((await readdir(join(x.home, 'cfg', copy))).sort(), ['f.txt', 'h'], 'with what B changed in it since')
    }
    await sameCfg(t, { a, b, c })
  })
