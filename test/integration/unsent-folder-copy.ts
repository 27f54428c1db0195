/**
 * A folder's copy a whole down-sync made (the incoming folder kept beside this computer's file)
 * and no up-sync sent yet is finished by the next down-sync, never made twice, and the folder
 * does not come back beside it: every version is kept once (README, "Conflicts keep both
 * versions."). What a down-sync that stopped halfway left is in half-done-copies.ts.
 */
import t from 'tap'
import { existsSync } from 'node:fs'
import { mkdir, readFile, readdir, rename, rm, utimes } from 'node:fs/promises'
import { join } from 'node:path'
import { cloudy } from '../helpers/cli.js'
import { describeTree } from '../helpers/tree.js'
import { run, sameCfg, threeComputers, writeAt } from '../helpers/three-computers.js'

const T0 = '2026-01-01T00:00:00Z'
const T1 = '2026-01-01T00:01:00Z'

// Soak normal seed 71: c2 had a file n2 it never sent; its down-sync kept it and put the chain's
// folder n2 (c3's n2.txt, v27) in n2.conflict-c3-…, and ran whole. c1's commit then moved v27
// inside the folder (the merge kept it as n2.conflict-c3-….txt, c1's v33 at n2.txt). c2's next
// down-sync, before any up-sync, met the file again, made `n2.conflict-c3-…-2` with what the
// chain changed in the folder (v27 under its new name), and the up-sync sent both copies: v27
// kept twice. Here B moves A's f.txt to g.txt. Whether C's file d was never synced (as in the
// seed) or replaced the synced folder, and whether C's user deleted the file d in between, the
// copy is finished with B's move.
for (const synced of [false, true])
  for (const fileGone of [false, true])
    t.test(
      `a folder's unsent copy is finished by the next down-sync (${synced ? 'C replaced the synced folder' : "C's file never synced"}${fileGone ? ', then deleted its file' : ''})`,
      async (t) => {
        const { a, b, c } = await threeComputers(t)
        const d = (x: { home: string }, rel = '') => join(x.home, 'cfg/d', rel)
        await mkdir(d(a))
        await writeAt(d(a, 'f.txt'), 'v1 by A', T0)
        await utimes(d(a), new Date(T0), new Date(T0))
        await run(t, a, ['sync', 'up'])
        if (synced) {
          // C had the folder and replaced it by a file; A then edits f.txt.
          await run(t, c, ['sync', 'down', '--yes'])
          await rm(d(c), { recursive: true })
          await writeAt(d(c), 'file by C', T0)
          await writeAt(d(a, 'f.txt'), 'v2 by A', T1)
          await utimes(d(a), new Date(T0), new Date(T0))
          await run(t, a, ['sync', 'up'])
        } else {
          await writeAt(d(c), 'file by C', T0)
        }
        const text = synced ? 'v2 by A' : 'v1 by A'
        // C's down-sync runs whole: C's file stays, A's folder goes to the copy.
        const copy = 'd.conflict-pc-a-20260101-000000'
        await run(t, c, ['sync', 'down', '--yes'], 6)
        t.equal(await readFile(d(c), 'utf8'), 'file by C')
        t.equal(await readFile(join(c.home, 'cfg', copy, 'f.txt'), 'utf8'), text, "A's f.txt is in the copy")
        if (fileGone) await rm(d(c))
        // B moves f.txt in the folder (its time put back: the copy's name stays the same).
        await run(t, b, ['sync', 'down', '--yes'])
        await rename(d(b, 'f.txt'), d(b, 'g.txt'))
        await utimes(d(b), new Date(T0), new Date(T0))
        await run(t, b, ['sync', 'up'])
        // C down-syncs again before any up-sync.
        await cloudy(c, ['sync', 'down', '--yes'])
        const left = fileGone ? [copy] : ['d', copy]
        t.same((await readdir(join(c.home, 'cfg'))).sort(), left, 'one copy of the folder, and no folder beside it')
        t.same(await readdir(join(c.home, 'cfg', copy)), ['g.txt'], "the copy holds B's move")
        for (const x of [c, a, b]) await cloudy(x, ['sync', 'up'])
        for (const x of [a, b, c]) await cloudy(x, ['sync', 'down', '--yes'])
        for (const x of [a, b, c]) {
          const files = (await describeTree(join(x.home, 'cfg'))).filter((e) => e.type === 'file')
          const texts = await Promise.all(files.map((e) => readFile(join(x.home, 'cfg', e.path), 'utf8')))
          t.equal(texts.filter((s) => s === text).length, 1, "A's version once")
          t.same((await readdir(join(x.home, 'cfg'))).sort(), left, 'the folder is in its copy only')
          t.equal(await readFile(join(x.home, 'cfg', copy, 'g.txt'), 'utf8'), text)
          t.equal(existsSync(d(x)), !fileGone, fileGone ? 'the deleted file stays deleted' : "C's file keeps the name")
        }
        await sameCfg(t, { a, b, c })
      },
    )
