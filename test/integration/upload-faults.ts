/**
 * The fault matrix of up-sync: a multi-pack up-sync (small packs through `CLOUDY_PACK_SIZE`),
 * from the command line and from a mount's journal, with the account filling up at 10 points
 * and with uploads refused at random (seeded). Every run either completes (exit 0, the vault
 * passes `check --read-data`) or fails with exit 5 having published nothing and settled
 * nothing; with the fault lifted the next run completes, and a second computer reads every
 * byte. No run ends on an unhandled rejection.
 */
import t, { type Test } from 'tap'
import { createHash, randomBytes } from 'node:crypto'
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { cloudy, computer, initVault, joinVault, tempDir, type Computer, type RunResult } from '../helpers/cli.js'
import { mountPoint, sh, startMount } from '../helpers/mount.js'
import { describeTree } from '../helpers/tree.js'

const PACK = { CLOUDY_PACK_SIZE: String(64 * 1024) }

/** Every file under `dir` (recursively) with the hash of its content. */
function files(dir: string, out = new Map<string, string>()): Map<string, string> {
  if (!existsSync(dir)) return out
  for (const name of readdirSync(dir)) {
    const p = join(dir, name)
    if (statSync(p).isDirectory()) files(p, out)
    else out.set(p, createHash('sha256').update(readFileSync(p)).digest('hex'))
  }
  return out
}

/**
 * The journal's data files that its records name, and their hashes: the ones a settle would
 * drop. (Empty spares made ahead are deleted by any open of the journal.)
 */
function journalData(dir: string): Map<string, string> {
  const named = new Set<string>()
  for (const tag of existsSync(dir) ? readdirSync(dir) : []) {
    const log = join(dir, tag, 'log')
    if (existsSync(log)) for (const m of readFileSync(log, 'utf8').matchAll(/"data":"([0-9a-f]+)"/g)) named.add(m[1]!)
  }
  return new Map([...files(dir)].filter(([p]) => p.includes('/data/') && named.has(basename(p))))
}

/** Every space's heads in the vault: what is published. */
function heads(vault: string): Map<string, string> {
  const out = new Map<string, string>()
  const spaces = join(vault, 'Cloudy', 's')
  if (!existsSync(spaces)) return out
  for (const space of readdirSync(spaces)) files(join(spaces, space, 'heads'), out)
  return out
}

/** Bytes of every pack in the vault. */
function packBytes(vault: string): number {
  let n = 0
  const spaces = join(vault, 'Cloudy', 's')
  for (const space of readdirSync(spaces)) for (const f of files(join(spaces, space, 'packs')).keys()) n += statSync(f).size
  return n
}

/** A run under a fault: exit 0 or 5, never an unhandled rejection or an unexpected error. */
function faultOutcome(t: Test, r: RunResult, what: string): void {
  t.ok(r.code === 0 || r.code === 5, `${what}: exit 0 or 5, got ${r.code}: ${r.stderr.slice(-1500)}`)
  t.notMatch(r.stderr, /unhandled|unexpected error|    at /i, `${what}: no unhandled rejection, no stack`)
}

async function checkClean(t: Test, c: Computer, what: string): Promise<void> {
  const r = await cloudy(c, ['check', '--read-data'])
  t.equal(r.code, 0, `${what}: check --read-data: ${r.stdout}${r.stderr}`)
  t.notMatch(r.stdout, /ORPHAN/, `${what}: no orphan pack`)
}

/** The faults of the matrix: 10 points where the account is full (a share of `bytes`), then 2 seeds of refused uploads. */
function matrix(bytes: number): { name: string; spec: string }[] {
  const points = Array.from({ length: 10 }, (_, i) => {
    const quota = Math.round((bytes * (i + 0.5)) / 10)
    return { name: `account full after ${quota} bytes`, spec: `quota=${quota}` }
  })
  const random = [1, 2].map((seed) => ({ name: `uploads refused at random, seed ${seed}`, spec: `putfail=0.25,seed=${seed}` }))
  return [...points, ...random]
}

/** A second computer joins and down-syncs: it must get every byte of A's `~/data`. */
async function secondComputerReadsAll(t: Test, vault: string, a: Computer): Promise<void> {
  const b = computer(t)
  await joinVault(t, b, vault, ['~/data'], 'b')
  const down = await cloudy(b, ['sync', 'down', '--yes'])
  t.equal(down.code, 0, down.stderr)
  t.same(await describeTree(join(b.home, 'data')), await describeTree(join(a.home, 'data')), 'every byte reached the second computer')
}

t.test('command line: exit 0 and whole, or exit 5 with nothing published; the next run completes', async (t) => {
  const vault = tempDir(t, 'vault')
  const a = computer(t)
  await mkdir(join(a.home, 'data'))
  await initVault(t, a, vault, ['~/data'], 'a')
  const faults = matrix(1024 * 1024)
  for (const [round, fault] of faults.entries()) {
    // About 1 MiB of new, incompressible data a round: ~16 packs of 64 KiB.
    const dir = join(a.home, 'data', `r${round}`)
    await mkdir(dir)
    for (let i = 0; i < 4; i++) await writeFile(join(dir, `f${i}`), randomBytes(128 * 1024 + i * 64 * 1024))
    const before = heads(vault)
    const r = await cloudy(a, ['sync', 'up'], { ...PACK, CLOUDY_FAULT_INJECTION: fault.spec })
    faultOutcome(t, r, fault.name)
    if (r.code === 5) {
      t.same(heads(vault), before, `${fault.name}: exit 5, nothing published`)
      t.match(r.stderr, /full|refused/, `${fault.name}: says why`)
    }
    // After an exit 0 the lifted run changes nothing: its check is this run's.
    const next = await cloudy(a, ['sync', 'up'], PACK)
    t.equal(next.code, 0, `${fault.name}, lifted: ${next.stderr}`)
    // What failed was not taken for stored: the next run publishes it (not "no change").
    if (r.code === 5) t.match(next.stdout, /settings: published/, `${fault.name}, lifted: the next run publishes what was missing`)
    await checkClean(t, a, `${fault.name}, lifted`)
  }
  t.ok(faults.length > 0 && packBytes(vault) > 0, `${faults.length} runs under a fault, ${packBytes(vault)} bytes of packs in the vault`)
  await secondComputerReadsAll(t, vault, a)
})

t.test('a refused upload stops the whole walk: exit 5 at once, nothing stored after it, all readable', async (t) => {
  const vault = tempDir(t, 'vault')
  const a = computer(t)
  await initVault(t, a, vault, ['~/data'], 'a')
  // Many folders, each with files big enough for the seal threads and small ones for the reader
  // threads: most of the walk is still ahead when the first upload is refused.
  for (let d = 0; d < 24; d++) {
    const dir = join(a.home, 'data', `d${d}`)
    await mkdir(dir, { recursive: true })
    for (let i = 0; i < 3; i++) await writeFile(join(dir, `big${i}`), randomBytes(150 * 1024))
    for (let i = 0; i < 4; i++) await writeFile(join(dir, `small${i}`), randomBytes(3000))
  }
  for (const seed of [1, 2, 3]) {
    const before = heads(vault)
    const what = `uploads refused at random, seed ${seed}`
    // A walk that went on after the failure kept the process alive on threads nobody closed.
    const r = await cloudy(a, ['sync', 'up'], { ...PACK, CLOUDY_FAULT_INJECTION: `putfail=0.3,seed=${seed}` }, { timeoutMs: 60_000 })
    t.equal(r.code, 5, `${what}: exit 5: ${r.stderr.slice(-800)}`)
    faultOutcome(t, r, what)
    t.same(heads(vault), before, `${what}: nothing published`)
    // Every pack that reached the vault opens with the space's key (none sealed after the run
    // ended, with keys already wiped); orphans of the stopped run are allowed.
    const check = await cloudy(a, ['check', '--read-data'])
    t.equal(check.code, 0, `${what}: check --read-data: ${check.stdout}${check.stderr}`)
  }
  const next = await cloudy(a, ['sync', 'up'], PACK)
  t.equal(next.code, 0, `lifted: ${next.stderr}`)
  await checkClean(t, a, 'lifted')
  await secondComputerReadsAll(t, vault, a)
})

t.test('through the mount: a journal up-sync under a fault fails with nothing published or settled; the next completes', async (t) => {
  const vault = tempDir(t, 'vault')
  const a = computer(t)
  await initVault(t, a, vault, [], 'a')
  const dir = mountPoint(t)
  const journal = join(a.cloudyHome, 'journal')
  const sums = new Map<string, string>()
  // The application and the settings space published first: the rounds publish only the app's writes.
  const first = await startMount(t, a, dir, ['--upsync-after', '600'])
  await sh(`mkdir -p ${dir}/apps/fm`)
  await first.stop('SIGKILL')
  t.equal((await cloudy(a, ['sync', 'up'])).code, 0)
  // Ten points where the account fills up, one seed of refused uploads (a mount per round costs).
  for (const [round, fault] of matrix(1024 * 1024)
    .slice(0, 11)
    .entries()) {
    // Written through a mount that is then killed: the journal alone holds the data.
    const m = await startMount(t, a, dir, ['--upsync-after', '600'])
    const file = `apps/fm/r${round}.bin`
    await sh(
      `mkdir -p ${dir}/apps/fm && head -c ${768 * 1024} /dev/urandom > ${dir}/${file} && head -c 300000 /dev/urandom > ${dir}/${file}.b`,
    )
    sums.set(file, await sh(`sha256sum < ${dir}/${file}`))
    sums.set(`${file}.b`, await sh(`sha256sum < ${dir}/${file}.b`))
    await m.stop('SIGKILL')
    const before = heads(vault)
    const journalBefore = journalData(journal)
    const r = await cloudy(a, ['sync', 'up'], { ...PACK, CLOUDY_FAULT_INJECTION: fault.spec })
    faultOutcome(t, r, `mount, ${fault.name}`)
    if (r.code === 5) {
      t.same(heads(vault), before, `mount, ${fault.name}: exit 5, nothing published`)
      // The journal's data files are all still there, unchanged: nothing was settled.
      const after = files(journal)
      t.ok(
        [...journalBefore].every(([p, h]) => !p.includes('/data/') || after.get(p) === h),
        `mount, ${fault.name}: the journal is not settled`,
      )
    }
    const next = await cloudy(a, ['sync', 'up'], PACK)
    t.equal(next.code, 0, `mount, ${fault.name}, lifted: ${next.stderr}`)
    if (r.code === 5) t.match(next.stdout, /journals of stopped mounts: published/, `mount, ${fault.name}, lifted: published now`)
    await checkClean(t, a, `mount, ${fault.name}, lifted`)
  }

  const b = computer(t)
  await joinVault(t, b, vault, [], 'b')
  const dirB = mountPoint(t)
  await startMount(t, b, dirB)
  for (const [file, sum] of sums) t.equal(await sh(`sha256sum < ${dirB}/${file}`), sum, `${file} reads whole on the second computer`)
})

t.test("a running mount's own up-sync into a full account: exit 5, nothing published or settled; published once lifted", async (t) => {
  const vault = tempDir(t, 'vault')
  const a = computer(t)
  await initVault(t, a, vault, [], 'a')
  t.equal((await cloudy(a, ['sync', 'up'])).code, 0)
  const dir = mountPoint(t)
  const journal = join(a.cloudyHome, 'journal')
  // The mount's storage fills up after 200 KB (the app's registry entry fits, its data does not).
  const full = { ...a, env: { ...PACK, CLOUDY_FAULT_INJECTION: `quota=${200 * 1024}` } }
  const m = await startMount(t, full, dir, ['--upsync-after', '600'])
  await sh(`mkdir -p ${dir}/apps/own && head -c ${1024 * 1024} /dev/urandom > ${dir}/apps/own/data.bin`)
  const sum = await sh(`sha256sum < ${dir}/apps/own/data.bin`)
  const before = heads(vault)
  const journalBefore = journalData(journal)
  const r = await cloudy(a, ['sync', 'up'], PACK)
  faultOutcome(t, r, 'running mount, account full')
  t.equal(r.code, 5, `the mount's failed upload is the run's: ${r.stderr}`)
  t.match(r.stderr, /full/)
  const after = files(journal)
  t.ok(
    [...journalBefore].every(([p, h]) => !p.includes('/data/') || after.get(p) === h),
    'the journal is not settled',
  )
  t.equal(await sh(`sha256sum < ${dir}/apps/own/data.bin`), sum, 'the file still reads whole through the mount')
  const published = heads(vault)
  t.ok(
    [...before].every(([p, h]) => published.get(p) === h),
    'no head that was there moved',
  )
  // Stopped, the mount tries once more, still into the full account: its exit says so.
  await m.stop('SIGTERM')
  t.equal(m.exitCode, 5, `the mount's last up-sync failed: exit 5 (${m.stderrText().slice(-600)})`)
  t.match(m.stderrText(), /kept for the next mount/)
  const next = await cloudy(a, ['sync', 'up'], PACK)
  t.equal(next.code, 0, next.stderr)
  await checkClean(t, a, 'lifted')
  const b = computer(t)
  await joinVault(t, b, vault, [], 'b')
  const dirB = mountPoint(t)
  await startMount(t, b, dirB)
  t.equal(await sh(`sha256sum < ${dirB}/apps/own/data.bin`), sum, 'the second computer reads every byte')
})
