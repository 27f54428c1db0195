/**
 * The mount held by the service: `[mount] dir` mounts it at unlock, `cloudy mount --background`
 * and `cloudy unmount` start and end one. An unmount from outside (`fusermount -u`) ends it as
 * an unmount does: what its journal holds is published and the journal released, so a new
 * mount of the folder works and shows the last write. A stopped service leaves no mount.
 */
import t from 'tap'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { cloudy, computer, initVault, joinVault, ok, tempDir } from '../helpers/cli.js'
import { eventually, forceUnmount, isMounted, mountPoint, sh, startMount } from '../helpers/mount.js'
import { startService, until } from '../helpers/service.js'

t.test('the service mounts [mount] dir, survives fusermount -u cleanly, and mounts again on demand', async (t) => {
  const vault = tempDir(t, 'vault')
  const a = computer(t)
  await initVault(t, a, vault, [], 'alpha')
  const dir = join(tempDir(t, 'mnt'), 'Cloudy')
  const config = join(a.cloudyHome, 'config.toml')
  await writeFile(config, (await readFile(config, 'utf8')).replace(/^\[mount\]$/m, `[mount]\ndir = ${JSON.stringify(dir)}`))
  const service = await startService(t, a)
  t.teardown(() => forceUnmount(dir))
  await until(t, 'mounted at unlock', () => /mounted at /.test(service.log()) && isMounted(dir))
  t.match(JSON.parse((await ok(t, a, ['status', '--json'])).stdout).service.mounts, [dir], 'status lists the mount')

  await sh(`mkdir ${dir}/apps/ext && echo kept > ${dir}/apps/ext/f.txt`)
  await sh(`fusermount -u ${dir}`)
  await until(t, 'the journal published after the outside unmount', () =>
    new RegExp(`unmounted ${dir}; what it held is published`).test(service.log()),
  )
  t.match(service.log(), /was unmounted from outside; publishing what its journal holds/)
  t.notOk(isMounted(dir))
  t.notOk(JSON.parse((await ok(t, a, ['status', '--json'])).stdout).service.mounts, 'no mount left in the service')

  // The journal's lock was released: a new mount of the folder works and holds the last write.
  const again = await ok(t, a, ['mount', '--background', dir])
  t.match(again.stdout, `Mounted at ${dir} by the Cloudy service`)
  t.equal(await sh(`cat ${dir}/apps/ext/f.txt`), 'kept\n')
  await sh(`echo second > ${dir}/apps/ext/g.txt`)
  t.match((await ok(t, a, ['unmount', dir])).stdout, `Unmounted ${dir}; what it held was published.`)
  t.notOk(isMounted(dir))

  // Published: another computer reads both files.
  const b = computer(t)
  await joinVault(t, b, vault, [], 'bravo')
  const dirB = mountPoint(t)
  await startMount(t, b, dirB)
  t.equal(await sh(`cat ${dirB}/apps/ext/f.txt ${dirB}/apps/ext/g.txt`), 'kept\nsecond\n')

  // What cannot be done is said, with exit 2.
  const app = await cloudy(a, ['mount', '--background', '--app', 'ext', mountPoint(t)])
  t.equal(app.code, 2)
  t.match(app.stderr, /an application mount runs in a process of its own/)
  const none = await cloudy(a, ['unmount', mountPoint(t)])
  t.equal(none.code, 2)
  t.match(none.stderr, /no Cloudy mount there/)

  // Stopped with a mount: it unmounts first, within the 10 s.
  await ok(t, a, ['mount', '--background', dir])
  const started = Date.now()
  t.equal(await service.stop(), 0, 'SIGTERM: stopped cleanly')
  t.ok(Date.now() - started < 10_000, `in ${Date.now() - started} ms`)
  t.notOk(isMounted(dir), 'no mount left behind')

  // Killed outright with its mount: the kernel keeps a dead mount there; the next service clears
  // it and mounts again, the journal's last write intact.
  const killed = await startService(t, a)
  await until(t, 'mounted again', () => new RegExp(`mounted at ${dir}`).test(killed.log()) && isMounted(dir))
  await killed.stop('SIGKILL')
  const next = await startService(t, a)
  await until(t, 'mounted over the dead mount', () => new RegExp(`mounted at ${dir}`).test(next.log()), 30_000)
  t.equal(await sh(`cat ${dir}/apps/ext/g.txt`), 'second\n', 'the mount answers, with what was written')
  t.equal(await next.stop(), 0)
})

t.test("a service mount shows another computer's write as soon as the chain's pulse changes", async (t) => {
  const vault = tempDir(t, 'vault')
  const a = computer(t)
  await initVault(t, a, vault, [], 'alpha')
  const dirA = mountPoint(t)
  await startMount(t, a, dirA)
  await sh(`mkdir ${dirA}/apps/ext && echo one > ${dirA}/apps/ext/f.txt`)
  const b = computer(t)
  await joinVault(t, b, vault, [], 'bravo')
  const service = await startService(t, b)
  const dirB = mountPoint(t)
  t.teardown(() => forceUnmount(dirB))
  // Its own look at the chain every 10 minutes: only the pulse can bring the change sooner.
  await ok(t, b, ['mount', '--background', '--poll', '600', dirB])
  t.equal(await eventually(`cat ${dirB}/apps/ext/f.txt`, 'one\n'), 'one\n')
  const started = Date.now()
  await sh(`echo two > ${dirA}/apps/ext/f.txt`)
  t.equal(await eventually(`cat ${dirB}/apps/ext/f.txt`, 'two\n'), 'two\n')
  t.ok(Date.now() - started < 8000, `shown in ${Date.now() - started} ms`)
  t.match(service.log(), /mounted at /)
})
