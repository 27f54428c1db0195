/**
 * Tampering with the chain's heads and device records, as whoever holds the storage account
 * can: a head or a whole space folder deleted, a head put back to an older copy, a device record
 * swapped or moved. A computer that saw the head refuses to down-sync (exit 7), and `check` and
 * `chain list` name what is wrong.
 */
import t from 'tap'
import { copyFile, readdir, rename, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { tempDir } from '../helpers/cli.js'
import { listFiles } from '../helpers/tree.js'
import { ok, pair, refused } from '../helpers/chain-tamper.js'

t.test('a deleted head, a deleted space and a head put back are refused and reported', async (t) => {
  const { vault, a, b, aTag } = await pair(t)
  const heads = (await listFiles(vault, '/heads/')).filter((f) => f.endsWith(aTag))
  t.equal(heads.length, 1, "A's head in one space")
  const head = heads[0]!
  const space = join(head, '..', '..')
  const backup = tempDir(t, 'backup')
  await copyFile(head, join(backup, 'head'))

  await rm(head)
  await refused(
    t,
    b,
    ['sync', 'down', '--yes'],
    "down B without A's head",
    /head of device alpha \([0-9a-f]{8}\) at #1 in space settings is gone/,
  )
  await refused(t, b, ['check'], 'check on B', /heads\/[0-9a-f]{32}: head of alpha \([0-9a-f]{8}\) is missing, though this computer saw #1/)
  await copyFile(join(backup, 'head'), head)
  await ok(t, b, ['sync', 'down', '--yes'], 'down B with the head back')

  // A whole space folder: every head in it is gone.
  await rename(space, join(backup, 'space'))
  const gone = await refused(
    t,
    b,
    ['sync', 'down', '--yes'],
    'down B without the space folder',
    /heads of devices .* in space settings are gone/,
  )
  t.match(gone.stderr, /alpha/)
  t.match(gone.stderr, /bravo/)
  await refused(t, b, ['check'], 'check on B without the space folder', /is missing, though this computer saw/)
  await rename(join(backup, 'space'), space)

  // A head put back to an older copy: down-sync already refused it; check reports it too.
  await writeFile(join(a.home, 'cfg/f.txt'), 'from A, v2')
  await ok(t, a, ['sync', 'up'], 'up A again')
  await ok(t, b, ['sync', 'down', '--yes'], 'down B')
  await copyFile(join(backup, 'head'), head)
  await refused(t, b, ['check'], 'check on B with an old head', /head of alpha \([0-9a-f]{8}\) went back from #2 to #1/)
  await refused(t, b, ['sync', 'down', '--yes'], 'down B with an old head', /went back from #2 to #1/)
})

t.test('a swapped or moved device record is reported, not listed as nothing', async (t) => {
  const { vault, a, aTag, bTag } = await pair(t)
  const dir = join(vault, 'devices')
  const backup = join(tempDir(t, 'backup'), 'record')
  await copyFile(join(dir, bTag), backup)

  // B's record replaced by a copy of A's.
  await copyFile(join(dir, aTag), join(dir, bTag))
  const swapped = await refused(
    t,
    a,
    ['chain', 'list'],
    'chain list, swapped',
    `DAMAGED devices/${bTag}: holds the record of another device (alpha`,
  )
  t.match(swapped.stdout, /alpha/, 'the intact record is still listed')
  await refused(t, a, ['check'], 'check, swapped', `devices/${bTag}: holds the record of another device (alpha`)

  // B's record moved to another tag.
  await copyFile(backup, join(dir, bTag))
  const other = 'ab'.repeat(16)
  await rename(join(dir, bTag), join(dir, other))
  await refused(
    t,
    a,
    ['chain', 'list'],
    'chain list, moved',
    `DAMAGED devices/${other}: holds the record of another device (${bTag.slice(0, 8)})`,
  )
  await rename(join(dir, other), join(dir, bTag))
  await ok(t, a, ['chain', 'list'], 'chain list, put back')
  t.same((await readdir(dir)).sort(), [aTag, bTag].sort())
})
