/**
 * What a down-sync that stopped halfway (killed, or `--only`) wrote here is the chain's, not an
 * edit or an add of this computer's: what the chain did with it since wins, a deletion too.
 */
import t from 'tap'
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdir, readFile, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises'
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { cloudyArgv, cloudy } from '../helpers/cli.js'
import { run, sameCfg, setUp, threeComputers, writeAt } from '../helpers/three-computers.js'

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
    await sameCfg(t, { a, b, c })
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
  const child = spawn(...cloudyArgv(['sync', 'down', '--yes']), {
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
  await sameCfg(t, { a, c })
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
    await sameCfg(t, { a, b, c })
  })

// Soak adversarial seed 75: A's file n2 met C's folder n2 (made where C had never down-synced);
// the merge keeps the folder at the name and A's file in a copy. A's down-sync removed the file
// to make the folder and was killed while it wrote the copy: A's next up-sync published the
// folder, and A's version was in no computer's state any more. The copy goes first now.
t.test('a copy the merge keeps inside a folder that replaces a file here waits for the folder', async (t) => {
  // Soak normal seed 22: A's file n2 meets B's folder n2 and C's folder n2, whose n1 (a folder
  // at B, a file at C) the merge keeps in a copy inside n2. Written first (as the copies are),
  // that copy found A's file where its folder goes, and the folder's time was set on the file:
  // A's down-sync then kept the file as "changed here" and sent it back with the folder's time,
  // so the next merge kept A's version a second time under another name.
  const { a, b, c } = await threeComputers(t)
  await writeAt(join(a.home, 'cfg/n2'), "A's version", '2026-02-01T00:00:00Z')
  await run(t, a, ['sync', 'up'])
  await mkdir(join(b.home, 'cfg/n2/n1'), { recursive: true })
  await writeFile(join(b.home, 'cfg/n2/n1/x'), 'by B')
  await run(t, b, ['sync', 'up'])
  await mkdir(join(c.home, 'cfg/n2'))
  await writeAt(join(c.home, 'cfg/n2/n1'), "C's n1", '2026-03-01T00:00:00Z')
  await utimes(join(c.home, 'cfg/n2'), new Date('2026-03-02T00:00:00Z'), new Date('2026-03-02T00:00:00Z'))
  await run(t, c, ['sync', 'up'])

  const down = await cloudy(a, ['sync', 'down', '--yes'])
  t.equal(down.code, 6, down.stderr)
  t.notMatch(down.stderr, /changed here/, 'nothing of A changed while it ran')
  t.ok((await stat(join(a.home, 'cfg/n2'))).isDirectory(), `the folder takes the name here: ${down.stdout}`)
  t.equal(await readFile(join(a.home, 'cfg/n2/n1/x'), 'utf8'), 'by B')
  const inside = readdirSync(join(a.home, 'cfg/n2')).filter((n) => n.startsWith('n1.conflict-'))
  t.equal(inside.length, 1, inside.join(', '))
  t.equal(await readFile(join(a.home, 'cfg/n2', inside[0] ?? 'none'), 'utf8'), "C's n1")
  const copies = readdirSync(join(a.home, 'cfg')).filter((n) => n.startsWith('n2.conflict-'))
  t.equal(copies.length, 1, copies.join(', '))
  t.equal(await readFile(join(a.home, 'cfg', copies[0] ?? 'none'), 'utf8'), "A's version", "A's version is in the copy")

  for (const x of [a, b, c]) await cloudy(x, ['sync', 'up'])
  for (const x of [a, b, c]) await cloudy(x, ['sync', 'down', '--yes'])
  for (const x of [a, b, c]) await cloudy(x, ['sync', 'up'])
  for (const x of [a, b, c]) await cloudy(x, ['sync', 'down', '--yes'])
  for (const [name, x] of Object.entries({ a, b, c })) {
    const kept = readdirSync(join(x.home, 'cfg')).filter((n) => n.startsWith('n2.conflict-'))
    t.equal(kept.length, 1, `${name.toUpperCase()} keeps A's version once (${kept.join(', ')})`)
  }
  await sameCfg(t, { a, b, c })
})

t.test('a version the merge keeps in a copy is written before what replaces it here', async (t) => {
  const { a, b: c } = await setUp(t, async (home) => writeAt(join(home, 'cfg/g'), 'g', '2026-01-01T00:00:00Z'))
  const v6 = randomBytes(32 * 1024 * 1024)
  await writeFile(join(a.home, 'cfg/n2'), v6)
  const up = await cloudy(a, ['sync', 'up'], { CLOUDY_PACK_SIZE: String(1024 * 1024) })
  t.equal(up.code, 0, up.stderr)
  // C, not down-synced since, makes a folder of that name and sends it.
  await mkdir(join(c.home, 'cfg/n2'))
  await writeFile(join(c.home, 'cfg/n2/inner'), 'by C')
  await run(t, c, ['sync', 'up'])

  const cfg = join(a.home, 'cfg')
  const child = spawn(...cloudyArgv(['sync', 'down', '--yes']), {
    env: { PATH: process.env.PATH, HOME: a.home, CLOUDY_HOME: a.cloudyHome, CLOUDY_PASSWORD: 'correct horse' },
    stdio: 'ignore',
  })
  const exited = new Promise((resolve) => child.on('exit', resolve))
  let writing = false
  for (let i = 0; i < 30_000 && child.exitCode === null; i++) {
    if ((writing = readdirSync(cfg).some((n) => n.includes('.cloudy-')))) break
    await sleep(1)
  }
  child.kill('SIGKILL')
  await exited
  t.ok(writing, "killed while the copy of A's version was being written")

  await run(t, a, ['sync', 'up'])
  for (const x of [c, a, c]) await cloudy(x, ['sync', 'down', '--yes'])
  for (const x of [a, c]) await cloudy(x, ['sync', 'up'])
  for (const x of [a, c]) await cloudy(x, ['sync', 'down', '--yes'])
  for (const [name, x] of Object.entries({ a, c })) {
    const names = readdirSync(join(x.home, 'cfg'))
    const kept = []
    for (const n of names) {
      const st = await stat(join(x.home, 'cfg', n))
      if (st.isFile() && st.size === v6.length && (await readFile(join(x.home, 'cfg', n))).equals(v6)) kept.push(n)
    }
    t.equal(kept.length, 1, `${name.toUpperCase()} keeps A's version once (${names.join(', ')})`)
    t.equal(await readFile(join(x.home, 'cfg/n2/inner'), 'utf8'), 'by C', "C's folder keeps the name")
  }
  await sameCfg(t, { a, c })
})
