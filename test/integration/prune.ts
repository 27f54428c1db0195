/**
 * `cloudy forget` and `cloudy prune` while the chain goes on (docs/FORMAT.md, "Retention and
 * prune"): two computers up-sync in a loop while a third forgets and prunes with a short grace
 * period, and every commit kept restores byte for byte; after half the data is deleted, prune
 * brings the vault within 10 % of what its kept commits need.
 */
import t, { type Test } from 'tap'
import { createHash, randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { spawn } from 'node:child_process'
import { cloudy, cloudyArgv, computer, initVault, joinVault, tempDir, type Computer } from '../helpers/cli.js'
import { run } from '../helpers/three-computers.js'

/** Small packs, so that a few files make many of them and prune has choices to make. */
const PACKS = { CLOUDY_PACK_SIZE: '8192' }

const withPacks = (c: Computer) => Object.assign(c, { env: { ...c.env, ...PACKS } })

/** Every file under `dir` (relative path -> sha256 of its bytes). */
async function snapshot(dir: string, rel = ''): Promise<Map<string, string>> {
  const out = new Map<string, string>()
  for (const e of await readdir(join(dir, rel), { withFileTypes: true }).catch(() => [])) {
    const p = rel ? `${rel}/${e.name}` : e.name
    if (e.isDirectory()) for (const [k, v] of await snapshot(dir, p)) out.set(k, v)
    else
      out.set(
        p,
        createHash('sha256')
          .update(await readFile(join(dir, p)))
          .digest('hex'),
      )
  }
  return out
}

/** The bytes of every object of the vault at `vault` (its `Cloudy` folder), temporary files aside. */
async function vaultBytes(dir: string): Promise<number> {
  let n = 0
  for (const e of await readdir(dir, { withFileTypes: true })) {
    if (e.name === '.tmp') continue
    const p = join(dir, e.name)
    n += e.isDirectory() ? await vaultBytes(p) : (await stat(p)).size
  }
  return n
}

/** pc-a with `n` random files in ~/cfg (file i of `size(i)` bytes) up-synced, then every other one deleted and up-synced. */
async function halfDeleted(t: Test, n: number, size: (i: number) => number) {
  const vault = tempDir(t, 'vault')
  const a = withPacks(computer(t))
  const dir = join(a.home, 'cfg')
  await mkdir(dir)
  for (let i = 0; i < n; i++) await writeFile(join(dir, `f${i}`), randomBytes(size(i)))
  await initVault(t, a, vault, ['~/cfg'], 'pc-a')
  await run(t, a, ['sync', 'up'])
  for (let i = 0; i < n; i += 2) await rm(join(dir, `f${i}`))
  await run(t, a, ['sync', 'up'])
  return { vault, a, dir }
}

t.test('two computers up-sync while a third forgets and prunes; every kept commit restores byte for byte', async (t) => {
  const vault = tempDir(t, 'vault')
  const a = withPacks(computer(t))
  const b = withPacks(computer(t))
  const c = withPacks(computer(t))
  for (const x of [a, b]) await mkdir(join(x.home, 'cfg', x === a ? 'a' : 'b'), { recursive: true })
  await initVault(t, a, vault, ['~/cfg/a'], 'pc-a')
  await joinVault(t, b, vault, ['~/cfg/b'], 'pc-b')
  await joinVault(t, c, vault, ['~/cfg'], 'pc-c')

  /** What each commit of a computer held, by commit id. */
  const held = new Map<string, { who: 'a' | 'b'; files: Map<string, string> }>()
  const loop = async (x: Computer, who: 'a' | 'b', rounds: number) => {
    const dir = join(x.home, 'cfg', who)
    const deleted: Buffer[] = []
    for (let i = 0; i < rounds; i++) {
      // New files, a changed one, a deleted one, and one back with the bytes of one deleted
      // before: its chunk may be in a pack a prune has condemned by now.
      for (let j = 0; j < 3; j++) await writeFile(join(dir, `r${i}-${j}`), randomBytes(2000 + 1500 * j))
      if (i > 0) await writeFile(join(dir, `r${i - 1}-0`), randomBytes(3000))
      if (i > 1) {
        const gone = join(dir, `r${i - 2}-1`)
        deleted.push(await readFile(gone))
        await rm(gone)
      }
      if (deleted.length > 1) await writeFile(join(dir, `back${i}`), deleted[deleted.length - 2]!)
      const r = await cloudy(x, ['sync', 'up', '--json'])
      t.equal(r.code, 0, `sync up on ${who}, round ${i}: ${r.stderr}`)
      const commit = (JSON.parse(r.stdout) as { spaces: { commit?: string }[] }).spaces.find((s) => s.commit)?.commit
      if (commit) held.set(commit, { who, files: await snapshot(dir) })
    }
  }
  let writing = true
  const pruned: number[] = []
  const pruner = (async () => {
    while (writing) {
      await run(t, c, ['forget', '--keep-last', '2'])
      const r = await run(t, c, ['prune', '--grace', '2s', '--max-unused', '0%', '--json'])
      pruned.push((JSON.parse(r.stdout) as { spaces: { deleted: { packs: number } }[] }).spaces.reduce((n, s) => n + s.deleted.packs, 0))
    }
  })()
  await Promise.all([loop(a, 'a', 12), loop(b, 'b', 12)])
  writing = false
  await pruner
  await run(t, c, ['forget', '--keep-last', '2'])
  await run(t, c, ['prune', '--grace', '2s', '--max-unused', '0%'])
  t.ok(
    pruned.some((n) => n > 0),
    `prunes during the loop deleted packs (${pruned.join(', ')})`,
  )

  const check = await cloudy(c, ['check', '--read-data'])
  t.equal(check.code, 0, `check --read-data after the loop: ${check.stdout}${check.stderr}`)

  // Every commit kept restores as it was made, on a computer that never synced.
  const history = JSON.parse((await run(t, c, ['history', '--json'])).stdout) as { commits: { commit: string; device: string }[] }
  const kept = history.commits.filter((x) => held.has(x.commit))
  t.equal(kept.length, 4, 'two commits of each computer are kept')
  const d = withPacks(computer(t))
  await joinVault(t, d, vault, ['~/cfg'], 'pc-d')
  for (const { commit } of kept) {
    const { who, files } = held.get(commit)!
    await rm(join(d.home, 'cfg'), { recursive: true, force: true })
    await run(t, d, ['restore', '--at', commit, `settings/cfg/${who}`])
    t.same(await snapshot(join(d.home, 'cfg', who)), files, `commit ${commit.slice(0, 8)} of pc-${who} restores byte for byte`)
  }
  // And the chain syncs on: A takes B's state in.
  await run(t, a, ['sync', 'down', '--yes'])
  t.same(await snapshot(join(a.home, 'cfg', 'b')), await snapshot(join(b.home, 'cfg', 'b')), "A holds B's files after the prunes")
})

t.test('after half the data is deleted, prune brings the vault within 10 % of what the kept commits need', async (t) => {
  const { vault, a, dir } = await halfDeleted(t, 60, (i) => 3000 + ((i * 677) % 2000))
  const before = await vaultBytes(join(vault, 'Cloudy'))
  const dry = await run(t, a, ['prune', '--dry-run'])
  t.match(dry.stdout, /nothing was changed \(--dry-run\)/)
  t.equal(await vaultBytes(join(vault, 'Cloudy')), before, '--dry-run changes nothing')
  const forget = await run(t, a, ['forget', '--keep-last', '1'])
  t.match(forget.stdout, /settings: keep 1, forget 1 commits/)
  await run(t, a, ['prune', '--grace', '2s'])
  const after = await vaultBytes(join(vault, 'Cloudy'))

  // What the kept commit needs: a vault made anew from the same files.
  const fresh = tempDir(t, 'vault')
  const e = withPacks(computer(t))
  await mkdir(join(e.home, 'cfg'))
  for (const name of await readdir(dir)) await writeFile(join(e.home, 'cfg', name), await readFile(join(dir, name)))
  await initVault(t, e, fresh, ['~/cfg'], 'pc-e')
  await run(t, e, ['sync', 'up'])
  const needed = await vaultBytes(join(fresh, 'Cloudy'))
  t.comment(`vault before prune ${before} B, after ${after} B; a vault of the kept commit alone ${needed} B`)
  t.ok(Math.abs(after - needed) <= needed * 0.1, `after prune ${after} B is within 10 % of ${needed} B`)
  t.ok(after < before * 0.7, 'prune freed the deleted half')
  const check = await cloudy(a, ['check', '--read-data'])
  t.equal(check.code, 0, check.stdout + check.stderr)
})

t.test('a prune killed while it waits is finished by the next one, at once', async (t) => {
  const { vault, a } = await halfDeleted(t, 20, () => 3000)
  await run(t, a, ['forget', '--keep-last', '1'])
  const before = await vaultBytes(join(vault, 'Cloudy'))
  // Killed once its mark is written, while it waits for the grace period.
  const [cmd, args] = cloudyArgv(['prune', '--grace', '2s'])
  const child = spawn(cmd, args, {
    env: { PATH: process.env.PATH, HOME: a.home, CLOUDY_HOME: a.cloudyHome, CLOUDY_PASSWORD: 'correct horse', ...a.env },
    stdio: 'ignore',
  })
  t.teardown(() => void child.kill('SIGKILL'))
  const marks = async () => (await readdir(join(vault, 'Cloudy', 's'), { recursive: true })).filter((p) => p.includes('prune/')).length
  for (let i = 0; i < 400 && (await marks()) === 0; i++) await new Promise((r) => setTimeout(r, 50))
  t.ok((await marks()) > 0, 'the mark is written')
  child.kill('SIGKILL')
  await new Promise((r) => child.once('exit', r))
  // The lock it left is its own computer's, its process gone: taken over at once. Its mark
  // waits its grace from when this run first sees it, unless this computer saw it already.
  const next = await run(t, a, ['prune', '--grace', '2s', '--json'])
  const deleted = (JSON.parse(next.stdout) as { spaces: { deleted: { packs: number } }[] }).spaces.reduce((n, s) => n + s.deleted.packs, 0)
  t.ok(deleted > 0, `the next prune deleted what the killed one marked (${deleted} packs)`)
  t.ok((await vaultBytes(join(vault, 'Cloudy'))) < before, 'the vault shrank')
  const check = await cloudy(a, ['check', '--read-data'])
  t.equal(check.code, 0, check.stdout + check.stderr)
})

t.test('a prune whose copies the account refuses (full) marks and deletes nothing; the next one does', async (t) => {
  const { vault, a } = await halfDeleted(t, 30, (i) => 2000 + ((i * 677) % 2000))
  await run(t, a, ['forget', '--keep-last', '1'])
  const before = await vaultBytes(join(vault, 'Cloudy'))
  // Room for the lock, not for a pack of copies.
  const full = await cloudy(a, ['prune', '--grace', '2s'], { CLOUDY_FAULT_INJECTION: 'quota=2000' })
  t.equal(full.code, 5, `a full account stops the prune: ${full.stderr}`)
  const marks = (await readdir(join(vault, 'Cloudy', 's'), { recursive: true })).filter(
    (p) => p.includes('prune/') && /[0-9a-f]{64}$/.test(p),
  )
  t.same(marks, [], 'no mark was written')
  t.ok((await vaultBytes(join(vault, 'Cloudy'))) >= before, 'nothing was deleted')
  t.equal((await cloudy(a, ['check', '--read-data'])).code, 0, 'the vault is whole')
  await run(t, a, ['prune', '--grace', '2s'])
  t.ok((await vaultBytes(join(vault, 'Cloudy'))) < before, 'the next prune, with room, frees the space')
  const check = await cloudy(a, ['check', '--read-data'])
  t.equal(check.code, 0, check.stdout + check.stderr)
})

t.test('a pack no index lists is deleted by a prune once seen for the grace period, not before', async (t) => {
  const { vault, a } = await halfDeleted(t, 10, () => 3000)
  // A stopped run's pack: stored, its index file never written (a copy of a real one, under another id).
  const packsDir = join(vault, 'Cloudy', 's')
  const real = (await readdir(packsDir, { recursive: true })).find((p) => /\/packs\/[0-9a-f]{2}\/[0-9a-f]{64}$/.test(p))!
  const id = randomBytes(32).toString('hex')
  const orphan = join(packsDir, real, '..', '..', id.slice(0, 2), id)
  await mkdir(join(orphan, '..'), { recursive: true })
  await writeFile(orphan, await readFile(join(packsDir, real)))
  t.match((await cloudy(a, ['check'])).stdout, new RegExp(`ORPHAN \\S*${id}`))

  const dry = await run(t, a, ['prune', '--dry-run', '--grace', '2s'])
  t.match(dry.stdout, /1 packs no index lists \(.*\), left by a stopped up-sync or prune: 0 would be marked, the rest once seen here/)
  const first = await run(t, a, ['prune', '--grace', '2s'])
  t.match(first.stdout, /1 packs no index lists .*: 0 marked, the rest once seen here for the grace period/, 'first seen: kept')
  t.ok(existsSync(orphan), 'the pack is still there')
  await new Promise((r) => setTimeout(r, 2100))
  const second = await run(t, a, ['prune', '--grace', '2s', '--json'])
  const [settings] = (JSON.parse(second.stdout) as { spaces: { orphans: { marked: number }; deleted: { packs: number; bytes: number } }[] })
    .spaces
  t.equal(settings!.orphans.marked, 1, 'seen for the grace period: marked')
  t.ok(settings!.deleted.bytes >= (await stat(join(packsDir, real))).size, `and deleted, its bytes counted (${settings!.deleted.bytes} B)`)
  t.notOk(existsSync(orphan), 'the pack is gone')
  const check = await cloudy(a, ['check', '--read-data'])
  t.equal(check.code, 0, check.stdout + check.stderr)
  t.notMatch(check.stdout, /ORPHAN/)
})
