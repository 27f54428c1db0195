/** `cloudy mount`: the vault as a folder, read with ordinary tools from other processes. */
import t from 'tap'
import { mkdir, symlink, writeFile } from 'node:fs/promises'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { cloudy, computer, initVault, joinedComputer, tempDir } from '../helpers/cli.js'
import { eventually, isMounted, mountPoint, sh, startMount } from '../helpers/mount.js'

t.test('the settings space, read through the mount with ls, cat and cmp', async (t) => {
  const vault = tempDir(t, 'vault')
  const a = computer(t)
  await mkdir(join(a.home, 'cfg/sub'), { recursive: true })
  await writeFile(join(a.home, 'cfg/a.txt'), 'alpha\n')
  const big = randomBytes(5 * 1024 * 1024 + 123)
  await writeFile(join(a.home, 'cfg/sub/big.bin'), big)
  await symlink('a.txt', join(a.home, 'cfg/link'))
  await initVault(t, a, vault, ['~/cfg'], 'a')
  t.equal((await cloudy(a, ['sync', 'up'])).code, 0)

  const dir = mountPoint(t)
  const child = await startMount(t, a, dir)
  const top = ['apps', 'installed-apps.json', 'settings', ...(process.getuid?.() === 0 ? ['system'] : [])]
  t.same(
    (await sh(`ls ${dir}`)).split('\n').filter(Boolean),
    top,
    'the layout of docs/ARCHITECTURE.md, "The mount" (system/ for administrators)',
  )
  t.equal(await sh(`cat ${dir}/installed-apps.json`), '[]\n', 'no inventory published yet: an empty list')
  t.same((await sh(`ls ${dir}/settings/cfg`)).split('\n').filter(Boolean), ['a.txt', 'link', 'sub'])
  t.equal(await sh(`cat ${dir}/settings/cfg/a.txt`), 'alpha\n')
  t.equal(await sh(`readlink ${dir}/settings/cfg/link`), 'a.txt\n')
  t.equal(
    await sh(`cmp ${dir}/settings/cfg/sub/big.bin ${join(a.home, 'cfg/sub/big.bin')} && echo same`),
    'same\n',
    'a 5 MiB file reads back byte for byte',
  )
  t.match(await sh(`stat -c '%s %a' ${dir}/settings/cfg/sub/big.bin`), `${big.length} 644`)
  // Read-only areas answer EROFS, missing paths ENOENT.
  for (const write of [
    `echo x > ${dir}/settings/cfg/new.txt`,
    `echo x >> ${dir}/settings/cfg/a.txt`,
    `rm ${dir}/settings/cfg/a.txt`,
    `mkdir ${dir}/settings/cfg/d`,
    `mv ${dir}/settings/cfg/a.txt ${dir}/settings/cfg/b.txt`,
    `chmod 600 ${dir}/settings/cfg/a.txt`,
    `touch ${dir}/installed-apps.json`,
    `mkdir ${dir}/other`,
    `echo x > ${dir}/top.txt`,
    `echo x > ${dir}/apps/not-a-folder`,
  ])
    await t.rejects(sh(write), /Read-only file system|Operation not permitted/, write)
  await t.rejects(sh(`cat ${dir}/settings/nope`), /No such file/)
  await t.rejects(sh(`cat ${dir}/apps/nope/x`), /No such file/)
  t.equal(await sh(`cat ${dir}/settings/cfg/a.txt`), 'alpha\n', 'nothing changed')

  await child.stop('SIGTERM')
  t.equal(child.exitCode, 0, 'SIGTERM unmounts and exits 0')
  t.notOk(isMounted(dir), 'unmounted')
  const again = await startMount(t, a, dir)
  await again.stop('SIGINT')
  t.equal(again.exitCode, 0, 'SIGINT (Ctrl-C) too')
  t.notOk(isMounted(dir))
})

t.test('.preview/: PLAN.txt is the CLI preview; incoming/ and local/ hold the two versions', async (t) => {
  const vault = tempDir(t, 'vault')
  const a = computer(t)
  await mkdir(join(a.home, 'cfg'), { recursive: true })
  await writeFile(join(a.home, 'cfg/a.txt'), 'base')
  await writeFile(join(a.home, 'cfg/b.txt'), 'b from A')
  await initVault(t, a, vault, ['~/cfg'], 'a')
  t.equal((await cloudy(a, ['sync', 'up'])).code, 0)
  const b = await joinedComputer(t, vault, ['~/cfg'], 'b')
  // A changes a.txt and adds c.txt; B changes a.txt too (a conflict) and has never synced d.txt.
  await writeFile(join(a.home, 'cfg/a.txt'), 'A version')
  await writeFile(join(a.home, 'cfg/c.txt'), 'new on A')
  t.equal((await cloudy(a, ['sync', 'up'])).code, 0)
  await writeFile(join(b.home, 'cfg/a.txt'), 'B version, local')

  const preview = await cloudy(b, ['sync', 'down', '--preview'])
  t.equal(preview.code, 0, preview.stderr)
  const dir = mountPoint(t)
  await startMount(t, b, dir)
  t.equal(await sh(`cat ${dir}/.preview/PLAN.txt`), preview.stdout, 'PLAN.txt is what sync down --preview prints')
  t.equal(await sh(`cat ${dir}/.preview/incoming/settings/cfg/a.txt`), 'A version')
  t.equal(await sh(`cat ${dir}/.preview/local/settings/cfg/a.txt`), 'B version, local')
  t.equal(await sh(`cat ${dir}/.preview/incoming/settings/cfg/c.txt`), 'new on A')
  await t.rejects(sh(`cat ${dir}/.preview/local/settings/cfg/c.txt`), /No such file/, 'nothing local to replace for an add')
  t.same((await sh(`ls ${dir}/.preview/incoming/settings/cfg`)).split('\n').filter(Boolean), ['a.txt', 'c.txt'])
  t.ok((await sh(`ls -A ${dir}`)).split('\n').includes('.preview'))

  // A's next up-sync shows in the mounted preview and in settings/ without remounting.
  await writeFile(join(a.home, 'cfg/e.txt'), 'late')
  t.equal((await cloudy(a, ['sync', 'up'])).code, 0)
  t.equal(await eventually(`cat ${dir}/.preview/incoming/settings/cfg/e.txt`, 'late'), 'late')
  t.equal(await eventually(`cat ${dir}/settings/cfg/e.txt`, 'late'), 'late')
  t.equal(await sh(`cat ${dir}/.preview/PLAN.txt`), (await cloudy(b, ['sync', 'down', '--preview'])).stdout, 'PLAN.txt follows')
})
