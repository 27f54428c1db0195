/**
 * A mount unmounted from outside (`fusermount -u`, as a file manager's eject does): the process
 * notices, publishes what its journal holds, gives up the journal's lock and exits 0. A mount
 * refused because another process holds the journal names that process.
 */
import t from 'tap'
import { cloudy, computer, initVault, joinVault, tempDir } from '../helpers/cli.js'
import { isMounted, mountPoint, sh, startMount, type MountProcess } from '../helpers/mount.js'

/** The exit code of `child`, or a failure after 20 s. */
function exitOf(child: MountProcess): Promise<number | string> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode)
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve('still running 20 s after the unmount'), 20_000)
    child.once('exit', (code, signal) => {
      clearTimeout(timer)
      resolve(code ?? String(signal))
    })
  })
}

t.test('fusermount -u from outside: the mount publishes, releases its journal and exits 0', async (t) => {
  const vault = tempDir(t, 'vault')
  const a = computer(t)
  await initVault(t, a, vault, [], 'alpha-pc')
  const dir = mountPoint(t)
  // No up-sync on its own: what the journal holds at the unmount goes only at the exit.
  const first = await startMount(t, a, dir, ['--upsync-after', '600'])
  await sh(`mkdir ${dir}/apps/ext && echo kept > ${dir}/apps/ext/f.txt`)
  await sh(`fusermount -u ${dir}`)
  t.equal(await exitOf(first), 0, first.stderrText())
  t.match(first.stderrText(), /was unmounted from outside; publishing what the journal holds/)
  t.notOk(isMounted(dir))

  // The journal's lock is free: the next mount is not refused, and holds the file.
  const second = await startMount(t, a, dir, ['--upsync-after', '600'])
  t.equal(await sh(`cat ${dir}/apps/ext/f.txt`), 'kept\n')
  // Another mount of a space this one holds is refused, naming the process that holds it.
  const refused = await cloudy(a, ['mount', '--app', 'ext', mountPoint(t)])
  t.equal(refused.code, 2, refused.stderr)
  t.match(refused.stderr, new RegExp(`app/ext is in use by another Cloudy process \\(process ${second.pid}\\)`))
  await second.stop()

  // It was published at the exit: a second computer gets it.
  const b = computer(t)
  await joinVault(t, b, vault, [], 'bravo-pc')
  const dirB = mountPoint(t)
  await startMount(t, b, dirB)
  t.equal(await sh(`cat ${dirB}/apps/ext/f.txt`), 'kept\n', 'the journal was published before the exit')
})
