/**
 * Conflict copies, continued (conflict-copies.ts): two computers that keep one incoming version
 * in copies of different names (one of them still held an older copy at the first name) keep it
 * once when their up-syncs merge.
 */
import t from 'tap'
import { readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { filesHolding, run, sameCfg, settle, threeComputers, writeAt } from '../helpers/three-computers.js'

// Soak adversarial seeds 52 and 87: a down-sync names the copy of the version that loses by the
// first name free here, and B still held an older copy at it (the chain had deleted it, B had
// not down-synced since), so B kept A's version as `-2` while C kept it at the first name.
t.test('one version kept in copies of two names by two computers is kept once', async (t) => {
  const { a, b, c } = await threeComputers(t)
  const old = 'n.conflict-pc-a-20260102-000000'
  await writeAt(join(a.home, 'cfg/n'), 'v0 by A', '2026-01-01T00:00:00Z')
  await writeAt(join(a.home, 'cfg', old), 'an older copy', '2026-01-02T00:00:00Z')
  await run(t, a, ['sync', 'up'])
  for (const x of [b, c]) await run(t, x, ['sync', 'down', '--yes'])
  // C dismisses the older copy; A follows. B does not down-sync yet.
  await rm(join(c.home, 'cfg', old))
  await run(t, c, ['sync', 'up'])
  await run(t, a, ['sync', 'down', '--yes'])
  // A's new version of n, of the same second as the older copy's name.
  await writeAt(join(a.home, 'cfg/n'), 'v61 by A', '2026-01-02T00:00:00Z')
  await run(t, a, ['sync', 'up'])
  // B and C each edited n (newer): each keeps its own at the name and A's in a copy.
  await writeAt(join(b.home, 'cfg/n'), 'vB by B', '2026-01-03T00:00:00Z')
  await writeAt(join(c.home, 'cfg/n'), 'vC by C', '2026-01-04T00:00:00Z')
  await run(t, b, ['sync', 'down', '--yes'], 6)
  await run(t, c, ['sync', 'down', '--yes'], 6)
  t.same(await filesHolding(b, 'v61 by A'), [`${old}-2`], 'B named its copy -2: the older copy was still here')
  t.same(await filesHolding(c, 'v61 by A'), [old], 'C named its copy by the first name')
  await run(t, b, ['sync', 'up'])
  await run(t, c, ['sync', 'up'])
  await settle(a, b, c)
  for (const x of [a, b, c]) {
    t.equal((await filesHolding(x, 'v61 by A')).length, 1, "A's version is kept once")
    t.equal((await filesHolding(x, 'vB by B')).length, 1, "B's version is kept once")
    t.equal(await readFile(join(x.home, 'cfg/n'), 'utf8'), 'vC by C', 'the newest keeps the name')
  }
  await sameCfg(t, { a, b, c })
})
