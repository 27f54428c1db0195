/**
 * Conflict copies, continued (conflict-copies.ts, conflict-copies-kept.ts; split for time): a
 * version a folder's copy holds is not kept again, beside what took its name or in a copy made
 * inside the folder.
 */
import t from 'tap'
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { cloudy } from '../helpers/cli.js'
import { filesHolding, run, sameCfg, settle, threeComputers, writeAt } from '../helpers/three-computers.js'

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
