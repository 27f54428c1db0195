/**
 * Write-behind (docs/MOUNT.md, "Durability"): a file written past the binding's threshold has
 * flushes asked on a thread of its own while the writes go on. Whatever those flushes do, every
 * byte reads back as written, through the mount and in the journal's data file, and a mount
 * with flushes still queued stops at once. The mount is served in this process over a journaled
 * view; every access to it is a child process.
 */
import t from 'tap'
import { createHash, randomBytes } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { sh } from '../../helpers/mount.js'
import { servedMount } from '../../helpers/served-mount.js'

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex')

/** 40 MiB that differ everywhere (a repeated pattern would hide a chunk written at the wrong place). */
const data = randomBytes(40 << 20)

/** `data` in a file under `root`, for the child processes to copy. */
function source(root: string): string {
  const path = join(root, 'src.bin')
  writeFileSync(path, data)
  return path
}

t.test('a large file written in order and out of order reads back byte for byte', async (t) => {
  const { root, dir, view } = await servedMount(t, 'app/w')
  const path = source(root)
  await sh(`dd if=${path} of=${dir}/seq.bin bs=1M status=none conv=fsync`)
  // Out of order: the second half first, then the first half over a file already that long.
  await sh(
    `dd if=${path} of=${dir}/rev.bin bs=1M skip=20 seek=20 status=none && ` +
      `dd if=${path} of=${dir}/rev.bin bs=1M count=20 conv=notrunc status=none`,
  )
  t.equal(await sh(`sha256sum < ${dir}/seq.bin | cut -c1-64`), `${sha(data)}\n`)
  t.equal(await sh(`sha256sum < ${dir}/rev.bin | cut -c1-64`), `${sha(data)}\n`)
  // What the journal holds, read beside the kernel's cache.
  for (const name of ['seq.bin', 'rev.bin']) t.equal(sha(await view.read(name, 0, data.length)), sha(data), name)
})

t.test('a mount with flushes still queued stops at once', async (t) => {
  const { root, dir, handle } = await servedMount(t, 'app/w')
  const path = source(root)
  // No fsync: the flushes asked during the copy may all still wait when the unmount comes.
  await sh(`for i in 1 2 3; do cat ${path} > ${dir}/f$i.bin; done`)
  let timer: NodeJS.Timeout | undefined
  const late = new Promise((r) => (timer = setTimeout(() => r('late'), 5_000)))
  t.not(await Promise.race([handle.unmount().then(() => 'done'), late]), 'late', 'unmounted within 5 s')
  clearTimeout(timer)
})
