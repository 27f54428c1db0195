/**
 * Resuming: an up-sync killed (kill -9) at 5 random points leaves what it stored usable, so the
 * run that completes sends at most what was not stored yet plus one pack, and no pack is left
 * that no index lists. `check` lists such orphan packs without failing.
 */
import t from 'tap'
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { copyFileSync, existsSync, readdirSync, statSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { cloudyArgv, cloudy, computer, initVault, joinVault, tempDir, type Computer } from '../helpers/cli.js'
import { describeTree } from '../helpers/tree.js'
import { mulberry32 } from '../../lib/seeded-random.js'

const PACK_SIZE = 128 * 1024
const PACK = { CLOUDY_PACK_SIZE: String(PACK_SIZE) }

/** Every pack file of the vault: path -> size. */
function packs(vault: string): Map<string, number> {
  const out = new Map<string, number>()
  const walk = (dir: string) => {
    if (!existsSync(dir)) return
    for (const name of readdirSync(dir)) {
      const p = join(dir, name)
      if (statSync(p).isDirectory()) walk(p)
      else if (p.includes('/packs/')) out.set(p, statSync(p).size)
    }
  }
  walk(join(vault, 'Cloudy', 's'))
  return out
}

const sum = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0)

/** `cloudy sync up`, killed with SIGKILL once the vault holds `target` packs (or when it ends by itself). */
function killedUpSync(c: Computer, vault: string, target: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const env = { PATH: process.env.PATH, HOME: c.home, CLOUDY_HOME: c.cloudyHome, CLOUDY_PASSWORD: 'correct horse', ...PACK }
    const child = spawn(...cloudyArgv(['sync', 'up']), { env, stdio: 'ignore' })
    let killed = false
    const poll = setInterval(() => {
      if (packs(vault).size >= target && !killed) {
        killed = child.kill('SIGKILL')
      }
    }, 5)
    child.on('error', reject)
    child.on('exit', () => {
      clearInterval(poll)
      resolve(killed)
    })
  })
}

async function makeData(c: Computer): Promise<void> {
  await mkdir(join(c.home, 'data'))
  // 6 MiB of incompressible data in files of one chunk each: ~48 packs of 128 KiB.
  for (let i = 0; i < 48; i++) await writeFile(join(c.home, 'data', `f${i}`), randomBytes(128 * 1024))
}

t.test('kill -9 at 5 random points: the run that completes sends only what was missing (plus one pack), no orphan left', async (t) => {
  const vault = tempDir(t, 'vault')
  const a = computer(t)
  await makeData(a)
  await initVault(t, a, vault, ['~/data'], 'a')
  const random = mulberry32(Number(process.env.RESUME_SEED ?? 5))
  let kills = 0
  for (let i = 0; i < 5; i++) {
    const target = packs(vault).size + 1 + Math.floor(random() * 6)
    if (await killedUpSync(a, vault, target)) kills++
  }
  t.ok(kills >= 4, `${kills} up-syncs killed mid-way`)
  const stored = packs(vault)
  t.comment(`${stored.size} packs (${sum(stored)} bytes) stored by the killed runs`)

  const done = await cloudy(a, ['sync', 'up', '--json'], PACK)
  t.equal(done.code, 0, done.stderr)
  const sent = (JSON.parse(done.stdout) as { spaces: { stats: { packBytes: number } }[] }).spaces[0]!.stats.packBytes
  const after = packs(vault)
  t.equal(sum(after) - sum(stored), sent, 'the stats say what reached the vault')

  // What a clean up-sync of the same data stores (another vault: other keys, the same sizes give or take a header).
  const ref = computer(t)
  const refVault = tempDir(t, 'ref')
  await makeData(ref)
  const { cpSync } = await import('node:fs')
  cpSync(join(a.home, 'data'), join(ref.home, 'data'), { recursive: true })
  await initVault(t, ref, refVault, ['~/data'], 'ref')
  t.equal((await cloudy(ref, ['sync', 'up'], PACK)).code, 0)
  const clean = sum(packs(refVault))
  t.comment(`completing run sent ${sent} bytes; a clean up-sync stores ${clean}; the killed runs stored ${sum(stored)}`)
  t.ok(sum(packs(vault)) <= clean + PACK_SIZE, 'nothing stored by the killed runs was sent again (one pack of slack)')
  t.ok(sent <= Math.max(0, clean - sum(stored)) + PACK_SIZE, 'the completing run sent at most what was not stored yet plus one pack')

  const check = await cloudy(a, ['check', '--json'])
  t.equal(check.code, 0, check.stderr)
  t.same((JSON.parse(check.stdout) as { orphanPacks?: unknown[] }).orphanPacks ?? [], [], 'check reports no orphan pack')

  const b = computer(t)
  await joinVault(t, b, vault, ['~/data'], 'b')
  t.equal((await cloudy(b, ['sync', 'down', '--yes'])).code, 0)
  t.same(await describeTree(join(b.home, 'data')), await describeTree(join(a.home, 'data')), 'every byte comes down')
})

t.test('check lists a pack no index lists, as an orphan that is not damage', async (t) => {
  const vault = tempDir(t, 'vault')
  const a = computer(t)
  await mkdir(join(a.home, 'data'))
  await writeFile(join(a.home, 'data', 'f'), randomBytes(100_000))
  await initVault(t, a, vault, ['~/data'], 'a')
  t.equal((await cloudy(a, ['sync', 'up'])).code, 0)
  const [pack] = [...packs(vault).keys()]
  const orphanId = randomBytes(32).toString('hex')
  const orphan = join(pack!, '..', '..', orphanId.slice(0, 2), orphanId)
  await mkdir(join(orphan, '..'), { recursive: true })
  copyFileSync(pack!, orphan)
  const r = await cloudy(a, ['check'])
  t.equal(r.code, 0, 'an orphan pack is not damage: check passes')
  t.match(r.stdout, new RegExp(`ORPHAN \\S*${orphanId}.*no index lists.*not damage`), 'and lists it, saying what it is')
  const json = await cloudy(a, ['check', '--json'])
  t.match((JSON.parse(json.stdout) as { orphanPacks: { object: string }[] }).orphanPacks, [{ object: new RegExp(orphanId) }])
})
