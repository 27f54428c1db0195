/**
 * The mount's libfuse 3 path (native/fuse3, lib/mount/fuse3.ts, mount.ts) answering what
 * ordinary programs do that a path-by-path view does not see directly: O_TRUNC on open, a file
 * read and written after it was deleted or replaced while open, renameat2's NOREPLACE, a time
 * set alone, names of 255 bytes or not UTF-8, a folder listed in several replies, an unmount
 * from outside. Each is compared with what the same commands do in a plain folder.
 */
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { computer, initVault, tempDir } from '../helpers/cli.js'
import { eventually, isMounted, mountPoint, sh, startMount } from '../helpers/mount.js'

t.test('POSIX edges through the mount, as in a plain folder', async (t) => {
  const vault = tempDir(t, 'vault')
  const a = computer(t)
  await initVault(t, a, vault, [], 'alpha-pc')
  const dir = mountPoint(t)
  const mount = await startMount(t, a, dir, ['--upsync-after', '60'])
  await sh(`mkdir ${dir}/apps/posix`)
  const app = `${dir}/apps/posix`
  const ref = tempDir(t, 'reference')

  for (const d of [app, ref]) {
    // A shorter file over a longer one: O_TRUNC reaches the mount with the open.
    await sh(`printf 'first\\nsecond\\nthird' > ${d}/log.txt && echo short > ${d}/log.txt`)
    // Kept open across its deletion, read and written after it.
    await sh(
      `echo before > ${d}/open.txt && exec 3<>${d}/open.txt && rm ${d}/open.txt && echo after >&3 && cat <&3 > /dev/null && cat /proc/self/fd/3 > ${d}/read-after-rm.txt; exec 3>&-`,
    )
    // Replaced by a rename while open: the old bytes stay readable through the open file.
    await sh(
      `echo old > ${d}/r.txt && echo new > ${d}/r2.txt && exec 3<${d}/r.txt && mv ${d}/r2.txt ${d}/r.txt && cat <&3 > ${d}/old-through-fd.txt; exec 3<&-`,
    )
    // The modification time alone (tar x, touch -m).
    await sh(`echo m > ${d}/m.txt && touch -m -d @1400000000.5 ${d}/m.txt`)
    // A name of 255 bytes (2-byte characters and one ASCII).
    await sh(`echo long > "${d}/${'é'.repeat(127)}x"`)
    // A folder of 3000 entries: more than one READDIRPLUS reply.
    await sh(`mkdir ${d}/many && cd ${d}/many && seq 1 3000 | xargs touch`)
  }
  const listing = (d: string) =>
    sh(
      `cd ${d} && find . -mindepth 1 -path ./many -prune -o -printf '%p %y %s %m\\n' | LC_ALL=C sort && ls many | wc -l && ls -l many | tail -n +2 | wc -l`,
    )
  t.equal(await listing(app), await listing(ref), 'the same tree as in a plain folder')
  for (const f of ['log.txt', 'read-after-rm.txt', 'old-through-fd.txt', 'r.txt'])
    t.equal(await sh(`cat ${app}/${f}`), await sh(`cat ${ref}/${f}`), `${f}: the same bytes`)
  t.equal(await sh(`cat ${app}/log.txt`), 'short\n')
  // "after\n" written over "before\n" from the start, through the deleted file.
  t.equal(await sh(`cat ${app}/read-after-rm.txt`), 'after\n\n', 'a deleted file stays readable and writable while open')
  t.equal(await sh(`stat -c %.1Y ${app}/m.txt`), '1400000000.5\n', 'a modification time set alone is kept')
  t.notMatch(await sh(`ls -a ${app}`), /\.fuse_hidden/, 'nothing hidden is left once the files are closed')

  // renameat2(RENAME_NOREPLACE) (mv --no-clobber uses it): refused where the target exists.
  await sh(`echo a > ${app}/na && echo b > ${app}/nb`)
  await sh(`mv --no-clobber ${app}/na ${app}/nb`).catch(() => '')
  t.equal(await sh(`cat ${app}/na ${app}/nb`), 'a\nb\n', 'mv --no-clobber keeps both')

  // A name that is not UTF-8 cannot be stored (names are Unicode in the vault): refused with
  // EILSEQ, nothing made.
  const bad = await sh(`touch "$(printf '${app}/bad-\\377')" 2>&1; echo "exit $?"`)
  t.match(bad, /Invalid or incomplete multibyte or wide character/, bad)
  t.match(bad, /exit 1/)
  t.notMatch(await sh(`ls ${app}`), /bad-/)

  // A name longer than 255 bytes is the kernel's refusal, as on a local disk.
  const tooLong = await sh(`touch "${app}/${'x'.repeat(256)}" 2>&1; echo "exit $?"`)
  t.match(tooLong, /File name too long/)

  // Unmounted from outside: the mount notices, publishes and exits 0.
  const exited = new Promise<number | null>((resolve) => mount.once('exit', (code) => resolve(code)))
  await sh(`fusermount3 -u ${dir}`)
  t.equal(await exited, 0, mount.stderrText())
  t.notOk(isMounted(dir), 'unmounted')
  t.match(mount.stderrText(), /published|unmounted/i)
})

t.test("a full disk under the journal is the writing program's ENOSPC, and the mount goes on", async (t) => {
  const vault = tempDir(t, 'vault')
  const a = computer(t)
  // The state folder (the journal's disk) on a small tmpfs of its own.
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=6m', 'tmpfs', a.cloudyHome])
  t.teardown(() => execFileSync('umount', ['-l', a.cloudyHome], { timeout: 10_000, stdio: 'ignore' }))
  await initVault(t, a, vault, [], 'alpha-pc')
  const dir = mountPoint(t)
  const mount = await startMount(t, a, dir, ['--upsync-after', '60'])
  await sh(`mkdir ${dir}/apps/full`)
  const app = `${dir}/apps/full`
  const dd = await sh(`dd if=/dev/zero of=${app}/big bs=1M count=20 2>&1; echo "exit $?"`)
  t.match(dd, /No space left on device/, dd)
  t.match(dd, /exit 1/)
  // Deleting gives the room back (shortly: once the deletion is durable), as on a local disk.
  await sh(`rm ${app}/big`)
  t.equal(await eventually(`echo fine > ${app}/small.txt && cat ${app}/small.txt`, 'fine\n'), 'fine\n', 'with room again, writes go on')
  t.notMatch(mount.stderrText(), /unexpected|at .*\.js:\d+/, 'no stack trace')
  await mount.stop()
})
