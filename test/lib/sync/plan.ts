/** Telling a local file from a version of the chain: the cache while it is fresh, else the bytes. */
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { lstatSync, utimesSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { CachedFile } from '../../../lib/state/db.js'
import { treeTime, type TreeEntry } from '../../../lib/store/objects.js'
import { spaceKeys } from '../../../lib/vault/keys.js'
import { chunkIds, chunkIdsOf, fileIs } from '../../../lib/sync/plan.js'
import { tempDir } from '../../helpers/temp.js'

const keys = spaceKeys('settings', randomBytes(32))

t.test('a file whose cached stat is stale is compared by content, not by size and time', async (t) => {
  const dir = tempDir(t)
  const path = join(dir, 'f')
  writeFileSync(path, 'version A')
  const when = new Date('2026-01-02T03:04:05Z')
  utimesSync(path, when, when)
  const stA = lstatSync(path, { bigint: true })
  const idsA = (await chunkIds(keys, path))!
  const versionA: TreeEntry = { name: 'f', type: 'file', mode: 0o644, mtimeNs: treeTime(stA.mtimeNs), size: 9, content: idsA }
  const cached: CachedFile = {
    size: 9,
    mtimeNs: stA.mtimeNs,
    ctimeNs: stA.ctimeNs,
    ino: Number(stA.ino),
    mode: 0o644,
    content: Buffer.from(idsA.join(''), 'hex'),
  }
  t.ok(await fileIs(path, stA, cached, versionA, chunkIdsOf(keys)), 'the fresh cache says: the same')

  // Rewritten with other bytes of the same size, its time put back (as `cp -p` does).
  writeFileSync(path, 'version B')
  utimesSync(path, when, when)
  const stB = lstatSync(path, { bigint: true })
  t.equal(stB.mtimeNs, stA.mtimeNs, 'the same time')
  t.notOk(await fileIs(path, stB, cached, versionA, chunkIdsOf(keys)), 'a stale cache entry: the content decides')
  t.notOk(await fileIs(path, stB, undefined, versionA, chunkIdsOf(keys)), 'no cache entry: the content decides')
  const versionB = { ...versionA, content: (await chunkIds(keys, path))! }
  t.ok(await fileIs(path, stB, cached, versionB, chunkIdsOf(keys)), 'the same bytes are the same version')
})
