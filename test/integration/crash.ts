/**
 * An up-sync killed with SIGKILL at a random moment, ten times over, leaves a vault that passes
 * `check --read-data`, and the next up-sync completes and carries everything.
 */
import t from 'tap'
import { spawn } from 'node:child_process'
import { randomBytes, randomInt } from 'node:crypto'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { cloudyArgv, cloudy, computer, initVault, joinVault, tempDir, type Computer } from '../helpers/cli.js'
import { describeTree } from '../helpers/tree.js'

function killedUpSync(c: Computer, afterMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(...cloudyArgv(['sync', 'up']), {
      env: { PATH: process.env.PATH, HOME: c.home, CLOUDY_HOME: c.cloudyHome, CLOUDY_PASSWORD: 'correct horse' },
      stdio: 'ignore',
    })
    const timer = setTimeout(() => child.kill('SIGKILL'), afterMs)
    child.on('error', reject)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve(signal ?? `exit ${code}`)
    })
  })
}

t.test('kill -9 of an up-sync, ten times: the vault stays valid and nothing is lost', async (t) => {
  const vault = tempDir(t, 'vault')
  const a = computer(t)
  await mkdir(join(a.home, 'data'))
  await initVault(t, a, vault, ['~/data'], 'a')
  const outcomes: string[] = []
  for (let round = 0; round < 10; round++) {
    // Fresh work for every round: small files, and one larger file rewritten.
    await mkdir(join(a.home, 'data', `r${round}`))
    for (let i = 0; i < 40; i++) await writeFile(join(a.home, 'data', `r${round}`, `f${i}`), randomBytes(randomInt(1, 48 * 1024)))
    await writeFile(join(a.home, 'data/big'), randomBytes(6 * 1024 * 1024))
    outcomes.push(await killedUpSync(a, randomInt(150, 700)))
  }
  t.comment(`outcomes: ${outcomes.join(', ')}`)
  t.ok(outcomes.includes('SIGKILL'), 'at least one up-sync was killed mid-way')

  const check = await cloudy(a, ['check', '--read-data'])
  t.equal(check.code, 0, `check --read-data passes: ${check.stdout}${check.stderr}`)
  const up = await cloudy(a, ['sync', 'up'])
  t.equal(up.code, 0, up.stderr)
  t.equal((await cloudy(a, ['check', '--read-data'])).code, 0)

  const b = computer(t)
  await joinVault(t, b, vault, ['~/data'], 'b')
  const down = await cloudy(b, ['sync', 'down', '--yes'])
  t.equal(down.code, 0, down.stderr)
  t.same(await describeTree(join(b.home, 'data')), await describeTree(join(a.home, 'data')), 'everything reached the other computer')
})
