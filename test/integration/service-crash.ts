/**
 * The service killed with SIGKILL in the middle of its work: during an up-sync (A's on-change
 * run of a large file) and during a down-sync (B applying it). Each time the vault checks clean,
 * HOME holds no half-written file, and the restarted service completes what was interrupted.
 */
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { existsSync, readdirSync } from 'node:fs'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { cloudy, computer, initVault, joinVault, ok, tempDir } from '../helpers/cli.js'
import { startService, until } from '../helpers/service.js'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const temps = (dir: string) => (existsSync(dir) ? readdirSync(dir).filter((n) => n.includes('.cloudy-')) : [])

/** Wait (polling every ms) until `check` holds; whether it did within `ms`. */
async function soon(check: () => boolean, ms = 30_000): Promise<boolean> {
  for (const start = Date.now(); Date.now() - start < ms; await sleep(1)) if (check()) return true
  return false
}

t.test('kill -9 of the service during an up-sync, then during a down-sync', async (t) => {
  const vault = tempDir(t, 'vault')
  const a = computer(t)
  const b = computer(t)
  await mkdir(join(a.home, 'cfg'))
  await writeFile(join(a.home, 'cfg/small.conf'), 'small\n')
  await initVault(t, a, vault, ['~/cfg'], 'alpha')
  await ok(t, a, ['sync', 'up'])
  await joinVault(t, b, vault, ['~/cfg'], 'bravo')
  await ok(t, b, ['sync', 'down', '--yes'])

  // A's service sends a 48 MiB file on change; it is killed while the packs are written.
  let onA = await startService(t, a)
  await until(t, "A's service arranged", () => /up-sync of settings \(start\)/.test(onA.log()))
  const big = randomBytes(48 * 1024 * 1024)
  await writeFile(join(a.home, 'cfg/big.bin'), big)
  const uploading = join(vault, 'Cloudy', '.tmp')
  t.ok(
    await soon(() => temps(uploading).length > 0 || (existsSync(uploading) && readdirSync(uploading).length > 0)),
    'a pack upload under way',
  )
  await onA.stop('SIGKILL')
  const check = await cloudy(a, ['check', '--read-data'])
  t.equal(check.code, 0, `the vault checks clean after the kill: ${check.stdout}${check.stderr}`)
  t.notMatch((await ok(t, b, ['sync', 'down', '--preview'])).stdout, /big\.bin/, 'nothing of the killed up-sync was published')

  // Restarted, A's service sends what the killed one did not (nothing else touches the file).
  onA = await startService(t, a)
  await until(t, 'the restarted service sent it', () => /up-sync of settings \(start\): published 1 space/.test(onA.log()), 60_000)

  // B's service applies it; killed while it writes the file, it leaves no half-written file
  // under the file's name, and restarted it completes the down-sync.
  let onB = await startService(t, b)
  const cfg = join(b.home, 'cfg')
  t.ok(await soon(() => temps(cfg).length > 0), "B's down-sync writing the file")
  await onB.stop('SIGKILL')
  t.notOk(existsSync(join(cfg, 'big.bin')) && (await readFile(join(cfg, 'big.bin'))).length !== big.length, 'no half-written big.bin')
  t.equal((await cloudy(b, ['check'])).code, 0, 'the vault checks clean')
  onB = await startService(t, b)
  await until(
    t,
    'the restarted service completed the down-sync',
    async () => existsSync(join(cfg, 'big.bin')) && temps(cfg).length === 0,
    60_000,
  )
  t.ok((await readFile(join(cfg, 'big.bin'))).equals(big), 'the file arrived whole')
  t.same(temps(cfg), [], 'its temporaries swept')
  t.notMatch(onA.log() + onB.log(), /failed/, 'nothing failed after the restarts')
})
