/**
 * The sync engine in process: the operations a plan produces, asserted exactly, from the same
 * library calls the command line, the mount and the service make (`syncUpAll`, `planDownAll`,
 * `applyDownAll`). Two computers of one local vault; the set-up alone runs the command line.
 */
import t, { type Test } from 'tap'
import { existsSync } from 'node:fs'
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { openSession, type Session } from '../../../lib/session.js'
import { applyDownAll, planDownAll, type DownAllPlan } from '../../../lib/sync/down-all.js'
import { syncUpAll } from '../../../lib/sync/up-all.js'
import { computer, initVault, joinVault, ok, tempDir, type Computer } from '../../helpers/cli.js'

function session(t: Test, c: Computer): Promise<Session> {
  const env = { PATH: process.env.PATH, HOME: c.home, CLOUDY_HOME: c.cloudyHome, ...c.env }
  return openSession({ env, password: async () => 'correct horse' }).then((s) => {
    t.teardown(() => s.close())
    return s
  })
}

/** The plan's operations, `<op> <item>`, in the plan's order. */
const ops = (plan: DownAllPlan) => plan.spaces.flatMap((sp) => sp.items.map((it) => `${it.op} ${it.item}`))

t.test('the plan a change of the chain makes, operation by operation, and its apply', async (t) => {
  const vault = tempDir(t, 'vault')
  const a = computer(t)
  const b = computer(t)
  await mkdir(join(a.home, 'cfg/sub'), { recursive: true })
  await writeFile(join(a.home, 'cfg/a.txt'), 'a1\n')
  await writeFile(join(a.home, 'cfg/sub/b.txt'), 'b1\n')
  await initVault(t, a, vault, ['~/cfg'], 'alpha')
  await joinVault(t, b, vault, ['~/cfg'], 'bravo')
  const [sa, sb] = [await session(t, a), await session(t, b)]

  const up = await syncUpAll(sa)
  t.match(
    up.spaces.map((sp) => [sp.space, !!sp.commit]),
    [['settings', true]],
    'one commit, of the settings space',
  )

  // The first down-sync: every item an add, and nothing written by planning.
  let plan = await planDownAll(sb)
  t.same(ops(plan), ['add settings/cfg', 'add settings/cfg/a.txt', 'add settings/cfg/sub', 'add settings/cfg/sub/b.txt'])
  t.notOk(existsSync(join(b.home, 'cfg')), 'a plan changes nothing')
  const applied = await applyDownAll(sb, plan)
  t.same(
    applied.map((r) => r?.applied.length),
    [4],
  )
  t.equal(await readFile(join(b.home, 'cfg/sub/b.txt'), 'utf8'), 'b1\n')
  t.same(ops(await planDownAll(sb)), [], 'applied: nothing left to do')

  // An edit and a deletion on A: one update, one delete (the emptied folder goes with it).
  await writeFile(join(a.home, 'cfg/a.txt'), 'a2, longer\n')
  await rm(join(a.home, 'cfg/sub'), { recursive: true })
  await syncUpAll(sa)
  plan = await planDownAll(sb)
  t.same(ops(plan).sort(), ['delete settings/cfg/sub', 'delete settings/cfg/sub/b.txt', 'update settings/cfg/a.txt'])
  await applyDownAll(sb, plan)
  t.same(await readdir(join(b.home, 'cfg')), ['a.txt'])

  // Changed on both: a conflict. The newer version (A's, written last) keeps the name; B's is
  // moved to a copy named after B beside it.
  await writeFile(join(b.home, 'cfg/a.txt'), 'a3 on bravo\n')
  await writeFile(join(a.home, 'cfg/a.txt'), 'a3 on alpha\n')
  await syncUpAll(sa)
  plan = await planDownAll(sb)
  t.same(ops(plan), ['conflict settings/cfg/a.txt'])
  const item = plan.spaces[0]!.items[0]!
  t.match(item.resolution, { keep: 'incoming', copy: /^cfg\/a\.conflict-bravo-\d{8}-\d{6}\.txt$/ })
  const [result] = await applyDownAll(sb, plan)
  t.equal(result?.conflicts.length, 1, 'reported as a conflict')
  t.equal(await readFile(join(b.home, 'cfg/a.txt'), 'utf8'), 'a3 on alpha\n', "A's version at the name")
  t.equal(await readFile(join(b.home, item.resolution!.copy), 'utf8'), 'a3 on bravo\n', "B's beside it")
  // B sends both; A takes in B's copy: one add, nothing overwritten there.
  await syncUpAll(sb)
  plan = await planDownAll(sa)
  t.same(ops(plan), [`add settings/${item.resolution!.copy}`], "A receives B's version, in its copy")
  t.equal(await readFile(join(a.home, 'cfg/a.txt'), 'utf8'), 'a3 on alpha\n')
  await ok(t, a, ['check'])
})
