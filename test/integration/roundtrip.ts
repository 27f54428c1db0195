/**
 * Acceptance: up-sync a HOME with nested folders, empty files, a 200 MiB file, symlinks, modes
 * and mtimes; down-sync into another, empty HOME; the trees are identical.
 */
import t from 'tap'
import { randomFillSync } from 'node:crypto'
import { mkdir, open, symlink, utimes, writeFile, chmod, lutimes } from 'node:fs/promises'
import { join } from 'node:path'
import { cloudy, computer, initVault, tempDir } from '../helpers/cli.js'
import { describeTree } from '../helpers/tree.js'

async function bigFile(path: string, bytes: number): Promise<void> {
  const fh = await open(path, 'w')
  const buf = Buffer.allocUnsafe(8 * 1024 * 1024)
  for (let done = 0; done < bytes; done += buf.length) {
    randomFillSync(buf)
    await fh.write(buf, 0, Math.min(buf.length, bytes - done))
  }
  await fh.close()
}

t.test('round trip of a whole settings tree into an empty HOME', async (t) => {
  const a = computer(t)
  const vault = join(tempDir(t, 'vault'), 'v')
  const h = a.home
  await mkdir(join(h, 'dot/deep/er/still'), { recursive: true })
  await mkdir(join(h, 'dot/empty-dir'))
  await writeFile(join(h, 'dot/a.txt'), 'alpha\n'.repeat(1000))
  await writeFile(join(h, 'dot/empty'), '')
  await writeFile(join(h, 'dot/deep/er/still/leaf.conf'), 'x = 1\n')
  await writeFile(join(h, 'dot/script.sh'), '#!/bin/sh\necho hi\n')
  await chmod(join(h, 'dot/script.sh'), 0o750)
  await writeFile(join(h, 'dot/secret'), 'token')
  await chmod(join(h, 'dot/secret'), 0o600)
  await bigFile(join(h, 'dot/big.bin'), 200 * 1024 * 1024)
  await symlink('a.txt', join(h, 'dot/rel-link'))
  await symlink('/etc/hostname', join(h, 'dot/abs-link'))
  await symlink('does-not-exist', join(h, 'dot/dangling'))
  await utimes(join(h, 'dot/a.txt'), 1_000_000_000, 1_000_000_000.123)
  await lutimes(join(h, 'dot/rel-link'), 1_100_000_000, 1_100_000_000)
  await chmod(join(h, 'dot/deep'), 0o701)
  await utimes(join(h, 'dot/deep/er'), 1_200_000_000, 1_200_000_000)
  await writeFile(join(h, 'top.rc'), 'set -o vi\n')

  await initVault(t, a, vault, ['~/dot', '~/top.rc'])
  const up = await cloudy(a, ['sync', 'up'])
  t.equal(up.code, 0, up.stderr)

  // A second computer on the same vault: same CLOUDY_HOME config, fresh state, empty HOME.
  const b = computer(t)
  const { copyFile } = await import('node:fs/promises')
  await copyFile(join(a.cloudyHome, 'config.toml'), join(b.cloudyHome, 'config.toml'))
  const down = await cloudy(b, ['sync', 'down', '--yes'])
  t.equal(down.code, 0, down.stderr)
  t.same(await describeTree(b.home), await describeTree(a.home), 'restored tree equals the original')

  const again = await cloudy(b, ['sync', 'down', '--preview'])
  t.match(again.stdout, /Nothing to do/, 'nothing left to apply')
})
