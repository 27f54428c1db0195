/**
 * Acceptance: re-up-syncing unchanged data uploads no new pack; inserting 10 bytes at the start
 * of a 50 MiB file uploads at most a few chunks.
 */
import t from 'tap'
import { randomFillSync } from 'node:crypto'
import { stat, writeFile, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { cloudy, computer, initVault, tempDir } from '../helpers/cli.js'
import { listFiles } from '../helpers/tree.js'

async function packs(vault: string): Promise<Map<string, number>> {
  const files = await listFiles(vault, '/packs/')
  return new Map(await Promise.all(files.map(async (p) => [p, (await stat(p)).size] as [string, number])))
}

function added(before: Map<string, number>, after: Map<string, number>): number {
  let bytes = 0
  for (const [p, size] of after) if (!before.has(p)) bytes += size
  return bytes
}

t.test('dedup and content-defined chunking', async (t) => {
  const a = computer(t)
  const vault = tempDir(t, 'vault')
  const data = randomFillSync(Buffer.allocUnsafe(50 * 1024 * 1024))
  await writeFile(join(a.home, 'big'), data)
  await writeFile(join(a.home, 'small'), 'hello\n')
  await initVault(t, a, vault, ['~/big', '~/small'])
  const first = await cloudy(a, ['sync', 'up', '--json'])
  t.equal(first.code, 0, first.stderr)
  const p1 = await packs(vault)
  t.ok(added(new Map(), p1) >= 50 * 1024 * 1024, 'the first up-sync stores the data')

  const again = await cloudy(a, ['sync', 'up', '--json'])
  t.equal(again.code, 0)
  t.same(await packs(vault), p1, 'an unchanged re-run uploads no new pack')
  t.equal(JSON.parse(again.stdout).spaces[0].commit, undefined, 'and publishes no commit')
  const { rm } = await import('node:fs/promises')
  await rm(join(a.cloudyHome, 'state.db'))
  const lost = await cloudy(a, ['sync', 'up', '--json'])
  t.same(await packs(vault), p1, 'with the state database lost, still no new pack')
  t.equal(JSON.parse(lost.stdout).spaces[0].commit, undefined, 'nor a commit: the vault says it is published')

  // Same content under another name: nothing new either (dedup by content).
  await writeFile(join(a.home, 'small'), await readFile(join(a.home, 'big')))
  const copy = await cloudy(a, ['sync', 'up', '--json'])
  const p2 = await packs(vault)
  t.ok(added(p1, p2) < 64 * 1024, `a copy of the big file adds only a tree (${added(p1, p2)} bytes)`)
  t.equal(JSON.parse(copy.stdout).spaces[0].stats.blobsAdded <= 2, true)

  await writeFile(join(a.home, 'big'), Buffer.concat([Buffer.from('0123456789'), data]))
  const shifted = await cloudy(a, ['sync', 'up', '--json'])
  t.equal(shifted.code, 0)
  const bytes = added(p2, await packs(vault))
  // Chunks average 1 MiB (max 8 MiB): "a few chunks" is well under 8 MiB of 50.
  t.ok(bytes <= 8 * 1024 * 1024, `10 bytes inserted at the start upload ${(bytes / 1048576).toFixed(2)} MiB, not 50`)
  t.ok(JSON.parse(shifted.stdout).spaces[0].stats.blobsAdded <= 4, 'at most a few new chunks (+ trees)')
})
