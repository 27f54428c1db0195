/**
 * `cloudy vault move`: a vault on the local folder moved to S3 (s3rver on loopback) while two
 * computers use it. Both follow (the other one at its next sync, with nothing asked; a running
 * service at once), nothing is lost, and `check --read-data` is clean at the new place.
 */
import t, { type Test } from 'tap'
import { existsSync } from 'node:fs'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { startS3Server } from '../../scripts/servers/s3.js'
import { cloudy, computer, initVault, joinedComputer, ok, tempDir, useServer } from '../helpers/cli.js'
import { startService, until } from '../helpers/service.js'

const server = await startS3Server()
t.teardown(() => server.stop())

/** A (alpha) and B (bravo) on a vault in a local folder, both able to reach the S3 server. */
async function twoOnLocalFolder(t: Test) {
  const vault = tempDir(t, 'vault')
  const a = computer(t)
  await useServer(a, server)
  await mkdir(join(a.home, 'cfg'))
  await writeFile(join(a.home, 'cfg/a.txt'), 'from A')
  await initVault(t, a, vault, ['~/cfg'], 'alpha')
  await ok(t, a, ['sync', 'up'])
  return { vault, a, b: await joinedComputer(t, vault, ['~/cfg'], 'bravo', server) }
}

t.test('local folder to S3: both computers follow, nothing lost', async (t) => {
  const { vault, a, b } = await twoOnLocalFolder(t)
  await writeFile(join(b.home, 'cfg/b.txt'), 'from B, before the move')
  await ok(t, b, ['sync', 'up'])

  const url = server.newUrl()
  const move = await ok(t, a, ['vault', 'move', '--to', url])
  t.match(move.stdout, /Moved the vault to .* objects, .* copied and read back/)
  t.match(await readFile(join(a.cloudyHome, 'config.toml'), 'utf8'), /provider = "s3:/, "A's config names the new place")
  t.ok(existsSync(join(vault, 'Cloudy', 'moved')), 'the old place keeps a pointer')

  // B knows nothing yet: its next sync follows the pointer, and sends there.
  await writeFile(join(b.home, 'cfg/b.txt'), 'from B, after the move')
  const up = await ok(t, b, ['sync', 'up'])
  t.match(up.stderr, /the vault moved to s3:.* \(by alpha, .*\); this computer follows it/)
  t.match(await readFile(join(b.cloudyHome, 'config.toml'), 'utf8'), /provider = "s3:/, "B's config follows")
  await ok(t, a, ['sync', 'down', '--yes'])
  t.equal(await readFile(join(a.home, 'cfg/b.txt'), 'utf8'), 'from B, after the move', "B's change reached A through the new place")
  await ok(t, b, ['sync', 'down', '--yes'])
  t.equal(await readFile(join(b.home, 'cfg/a.txt'), 'utf8'), 'from A')

  const check = await cloudy(a, ['check', '--read-data'])
  t.equal(check.code, 0, `check --read-data at the new place: ${check.stdout}${check.stderr}`)
  const history = (await ok(t, a, ['history', 'settings/cfg/b.txt'])).stdout
  t.match(history, /bravo.*\n.*bravo/s, 'the history from before the move came along')

  // A third computer that was told the old place is sent to the new one.
  const c = computer(t)
  await useServer(c, server)
  const join2 = await cloudy(c, ['join', '--provider', vault, '--name', 'charlie'])
  t.equal(join2.code, 2)
  t.match(join2.stderr, /the vault moved to s3:.*join it there: cloudy join --provider/)
  t.equal((await cloudy(a, ['vault', 'move', '--to', url])).code, 2, 'a place that holds a vault is refused')
})

t.test("a running service follows the move and goes on taking the chain's changes", async (t) => {
  const { a, b } = await twoOnLocalFolder(t)
  const service = await startService(t, a)
  await until(t, "A's service is unlocked", () => service.log().includes('unlocked'))

  await ok(t, b, ['vault', 'move', '--to', server.newUrl()])
  await until(t, "A's service follows the pointer", () => /the vault moved; opening it at its new place/.test(service.log()))
  await until(t, "A's config names the new place", async () =>
    /provider = "s3:/.test(await readFile(join(a.cloudyHome, 'config.toml'), 'utf8')),
  )
  await writeFile(join(b.home, 'cfg/b.txt'), 'from B, at the new place')
  await ok(t, b, ['sync', 'up'])
  await until(t, "B's change reaches A's HOME through the service", () => existsSync(join(a.home, 'cfg/b.txt')), 30_000)
  t.equal(await readFile(join(a.home, 'cfg/b.txt'), 'utf8'), 'from B, at the new place')
  t.equal(await service.stop(), 0)
})
