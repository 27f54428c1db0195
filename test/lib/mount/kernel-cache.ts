/**
 * What the kernel caches of a mount served in this process (mount.ts over an in-memory view),
 * when the view changes without the kernel: docs/MOUNT.md, "Caching". Every access to the
 * mount is a child process (never touch a mount synchronously from the process serving it).
 */
import t, { type Test } from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { mountView, type MountHandle } from '../../../mount.js'
import type { MountView, ViewEntry } from '../../../lib/mount/view.js'
import { sh, unmountServed } from '../../helpers/mount.js'

/** One folder of files whose bytes the test changes behind the kernel's back. */
class Files implements MountView {
  readonly files = new Map<string, { bytes: Buffer; mtimeMs: number; version: string }>()
  /** Entries that reflect the local disk (as `.preview/` does): the kernel keeps them a second. */
  volatile = false

  async stat(path: string): Promise<ViewEntry | undefined> {
    if (path === '')
      return { type: 'dir', mode: 0o755, size: 4096, mtimeMs: 0, version: [...this.files.values()].map((f) => f.version).join() }
    const f = this.files.get(path)
    return f && { type: 'file', mode: 0o644, size: f.bytes.length, mtimeMs: f.mtimeMs, version: f.version, volatile: this.volatile }
  }

  async list(path: string): Promise<string[] | undefined> {
    return path === '' ? [...this.files.keys()] : undefined
  }

  async read(path: string, offset: number, length: number): Promise<Buffer> {
    return this.files.get(path)!.bytes.subarray(offset, offset + length)
  }
}

async function mounted(t: Test, view: MountView): Promise<{ dir: string; handle: MountHandle }> {
  const root = mkdtempSync(join(tmpdir(), 'cloudy-kcache-'))
  const dir = join(root, 'm')
  await sh(`mkdir ${dir}`)
  const handle = await mountView(dir, view)
  t.teardown(async () => {
    await unmountServed(handle, dir)
    rmSync(root, { recursive: true, force: true })
  })
  return { dir, handle }
}

t.test('a listing that brings new attributes before the revalidation drops the old pages', async (t) => {
  const view = new Files()
  view.files.set('f', { bytes: Buffer.from('aaaa'), mtimeMs: 1_700_000_000_123, version: 'one' })
  const { dir, handle } = await mounted(t, view)
  t.equal(await sh(`cat ${dir}/f`), 'aaaa', 'read once: the kernel keeps its pages')
  // Another computer's bytes, same size: the listing (READDIRPLUS) tells the kernel first.
  view.files.set('f', { bytes: Buffer.from('bbbb'), mtimeMs: 1_700_000_000_456, version: 'two' })
  t.match(await sh(`ls -l ${dir}`), /f\n/)
  await handle.revalidate()
  t.equal(await sh(`cat ${dir}/f`), 'bbbb', 'the new bytes, not the pages of the old ones')
})

t.test('a volatile entry is kept a second, whether a lookup or a getattr told it', async (t) => {
  const view = new Files()
  view.volatile = true
  view.files.set('f', { bytes: Buffer.from('aaaa'), mtimeMs: 1_700_000_000_000, version: 'one' })
  const { dir } = await mounted(t, view)
  // Through an open file the kernel asks GETATTR, not LOOKUP, once the attributes expired.
  const sizes = sh(`exec 3<${dir}/f; sleep 1.2; stat -L -c %s /dev/fd/3; sleep 1.6; stat -L -c %s /dev/fd/3`)
  setTimeout(() => view.files.set('f', { bytes: Buffer.from('aaaaaa'), mtimeMs: 1_700_000_000_000, version: 'two' }), 1800)
  t.equal(await sizes, '4\n6\n', 'the size a getattr told is asked again a second later')
})
