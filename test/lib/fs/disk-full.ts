import t from 'tap'
import { diskFull, DiskFullError, isDiskFull } from '../../../lib/fs/disk-full.js'

t.test('a full disk is told with how much is missing', async (t) => {
  t.ok(isDiskFull(Object.assign(new Error('x'), { code: 'ENOSPC' })))
  t.ok(isDiskFull({ code: 'EDQUOT' }))
  t.notOk(isDiskFull(new Error('x')))
  const e = new DiskFullError('/home/u', 3 * 1024 * 1024, 1024 * 1024)
  t.equal(e.code, 'ENOSPC')
  t.equal(e.exitCode, 1)
  t.match(e.message, /disk holding \/home\/u is full: 3\.0 MiB were still to be written and 1\.0 MiB is free \(about 2\.0 MiB missing\)/)
  const real = await diskFull(t.testdir(), 1)
  t.ok(real.free > 0, 'the free space is asked of the file system')
})
