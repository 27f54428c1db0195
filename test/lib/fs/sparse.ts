import t from 'tap'
import { open, readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { dataRuns, HOLE_BLOCK, writeSparse } from '../../../lib/fs/sparse.js'

t.test('whole zero blocks, aligned in the file, are left out', async (t) => {
  const data = Buffer.alloc(4 * HOLE_BLOCK)
  data[10] = 1
  data[3 * HOLE_BLOCK + 5] = 1
  t.same(dataRuns(data, 0), [
    [0, HOLE_BLOCK],
    [3 * HOLE_BLOCK, 4 * HOLE_BLOCK],
  ])
  // At offset 100 the file's block edges fall 100 bytes earlier in the data.
  t.same(dataRuns(data, 100), [
    [0, HOLE_BLOCK - 100],
    [3 * HOLE_BLOCK - 100, 4 * HOLE_BLOCK],
  ])
  t.same(dataRuns(Buffer.alloc(100), 0), [[0, 100]], 'a partial block is written')
  t.same(dataRuns(Buffer.alloc(HOLE_BLOCK), 0), [])
})

t.test('a file written sparse has the same bytes and fewer blocks', async (t) => {
  const file = join(t.testdir(), 'f')
  const data = Buffer.alloc(64 * HOLE_BLOCK)
  data.write('head', 0)
  data.write('tail', data.length - 4)
  const fh = await open(file, 'wx')
  await fh.truncate(data.length)
  await writeSparse(fh, data.subarray(0, 1000), 0)
  await writeSparse(fh, data.subarray(1000), 1000)
  await fh.close()
  t.same(await readFile(file), data)
  t.ok((await stat(file)).blocks * 512 < data.length / 4)
})
