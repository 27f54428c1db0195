/**
 * A storage account that misbehaves: with a fifth of all requests failing (dropped, answers
 * lost, delayed, hanging, 503 with Retry-After, uploads broken off), an up-sync of the bench's
 * small-file set completes and the vault passes `check --read-data`; an account that fills up
 * mid-way stops the up-sync (exit 5) with the vault valid and nothing here changed, and the next
 * run sends only what was not stored yet.
 */
import t, { type Test } from 'tap'
import { randomBytes } from 'node:crypto'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { makeDataSet } from '../../scripts/bench-data.js'
import { cloudy, computer, initVault, joinVault, tempDir, type Computer } from '../helpers/cli.js'
import { describeTree } from '../helpers/tree.js'

const FAULTS = 'rate=0.2,delay=30,hang=1000,timeout=250'

function injected(stderr: string): Record<string, number> {
  const m = /fault injection: (\{.*\})/.exec(stderr)
  return m ? (JSON.parse(m[1]!) as { faults: Record<string, number> }).faults : {}
}

async function ok(t: Test, c: Computer, args: string[], env: Record<string, string> = {}) {
  const r = await cloudy(c, args, env)
  t.equal(r.code, 0, `${args.join(' ')}: ${r.stderr.slice(-2000)}`)
  return r
}

t.test("20% transient failures: the bench's small files go up whole, and come down whole", async (t) => {
  const vault = tempDir(t, 'vault')
  const a = computer(t)
  makeDataSet({ smallFiles: 20000, bigMiB: 0, dir: join(a.home, 'bench') })
  await initVault(t, a, vault, ['~/bench/small'], 'a')
  const up = await ok(t, a, ['sync', 'up'], { CLOUDY_FAULT_INJECTION: `${FAULTS},seed=11` })
  const faults = injected(up.stderr)
  t.comment(`faults met by the up-sync: ${JSON.stringify(faults)}`)
  t.ok(Object.values(faults).reduce((x, y) => x + y, 0) > 0, 'faults were injected')
  await ok(t, a, ['check', '--read-data'])

  const b = computer(t)
  await joinVault(t, b, vault, ['~/bench/small'], 'b')
  await ok(t, b, ['sync', 'down', '--yes'], { CLOUDY_FAULT_INJECTION: `${FAULTS},seed=12` })
  t.same(await describeTree(join(b.home, 'bench/small')), await describeTree(join(a.home, 'bench/small')), 'B has every file, intact')
})

t.test('an account that fills up mid-way: exit 5, the vault valid, nothing here changed, then only the rest is sent', async (t) => {
  const vault = tempDir(t, 'vault')
  const a = computer(t)
  await mkdir(join(a.home, 'data'))
  // 48 MiB of incompressible files: three packs of 16 MiB.
  for (let i = 0; i < 12; i++) await writeFile(join(a.home, 'data', `f${i}`), randomBytes(4 * 1024 * 1024))
  await initVault(t, a, vault, ['~/data'], 'a')
  const before = await describeTree(a.home)
  const full = await cloudy(a, ['sync', 'up'], { CLOUDY_FAULT_INJECTION: `quota=${20 * 1024 * 1024}` })
  t.equal(full.code, 5, full.stderr)
  t.match(full.stderr, /the storage account is full/)
  t.same(await describeTree(a.home), before, 'nothing here changed')
  await ok(t, a, ['check', '--read-data'])

  const next = await ok(t, a, ['sync', 'up', '--json'])
  const sent = (JSON.parse(next.stdout) as { spaces: { stats: { packBytes: number; plainBytes: number } }[] }).spaces[0]!.stats
  t.comment(`second run sent ${sent.packBytes} bytes of packs for ${sent.plainBytes} bytes of new data`)
  t.ok(sent.packBytes < 34 * 1024 * 1024, 'what the first run stored (a 16 MiB pack at least) is not sent again')
  t.ok(sent.packBytes > 0)
  await ok(t, a, ['check', '--read-data'])
  const b = computer(t)
  await joinVault(t, b, vault, ['~/data'], 'b')
  await ok(t, b, ['sync', 'down', '--yes'])
  t.same(await describeTree(join(b.home, 'data')), await describeTree(join(a.home, 'data')))
})
