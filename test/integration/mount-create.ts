/**
 * Creations the binding answers itself (docs/MOUNT.md, "Creations answered by the binding"): in a
 * folder made through the mount, a new file's record goes to the journal's log from the binding
 * before the program is answered. What the program was told is kept through a kill -9, through a
 * rename of the folder while files are being made in it, and through the up-syncs that run
 * meanwhile.
 */
import t, { type Test } from 'tap'
import { computer, initVault, joinVault, tempDir } from '../helpers/cli.js'
import { mountPoint, sh, startMount } from '../helpers/mount.js'

/** A computer of a new vault with its mount started (`args` for it). */
async function mounted(t: Test, args: string[]) {
  const vault = tempDir(t, 'vault')
  const a = computer(t)
  await initVault(t, a, vault, [], 'alpha-pc')
  const dir = mountPoint(t)
  return { vault, a, dir, mount: await startMount(t, a, dir, args) }
}

t.test('files made in a new folder, then kill -9: every one is there, with its bytes, and goes to another computer', async (t) => {
  const { vault, a, dir, mount: first } = await mounted(t, ['--upsync-after', '600'])
  // Empty files too: a creation closed at once is as durable against a crash of the mount.
  await sh(
    `mkdir -p ${dir}/apps/made/a/b && cd ${dir}/apps/made && for i in $(seq 1 150); do printf "file $i" > a/f$i; : > a/b/empty$i; done`,
  )
  await first.stop('SIGKILL')
  await startMount(t, a, dir, ['--upsync-after', '0'])
  t.equal(await sh(`ls ${dir}/apps/made/a | grep -c '^f'`), '150\n')
  t.equal(await sh(`ls ${dir}/apps/made/a/b | wc -l`), '150\n')
  t.equal(await sh(`cat ${dir}/apps/made/a/f1 ${dir}/apps/made/a/f150`), 'file 1file 150')
  t.equal(await sh(`find ${dir}/apps/made/a/b -type f -size +0 | wc -l`), '0\n', 'the empty files are empty')

  const b = computer(t)
  await joinVault(t, b, vault, [], 'bravo-pc')
  const dirB = mountPoint(t)
  await startMount(t, b, dirB)
  t.equal(await sh(`ls ${dirB}/apps/made/a | grep -c '^f'`), '150\n', 'the second computer has them all')
  t.equal(await sh(`cat ${dirB}/apps/made/a/f77`), 'file 77')
})

t.test('a folder renamed while files are being made in it: every file is under its new name, after a remount too', async (t) => {
  // Up-syncs as soon as the writes pause: snapshots taken while files are made.
  const { a, dir, mount: first } = await mounted(t, ['--upsync-after', '0'])
  await sh(`mkdir -p ${dir}/apps/moving/d`)
  // The shell's working folder follows the folder through its renames.
  await sh(
    `cd ${dir}/apps/moving/d && (for i in $(seq 1 400); do echo $i > f$i; done) & sleep 0.05; mv ${dir}/apps/moving/d ${dir}/apps/moving/e; sleep 0.05; mv ${dir}/apps/moving/e ${dir}/apps/moving/g; wait`,
  )
  t.equal(await sh(`ls ${dir}/apps/moving`), 'g\n')
  t.equal(await sh(`ls ${dir}/apps/moving/g | wc -l`), '400\n', 'all there while mounted')
  t.equal(await sh(`cat ${dir}/apps/moving/g/f1 ${dir}/apps/moving/g/f400`), '1\n400\n')
  await first.stop('SIGKILL')
  await startMount(t, a, dir)
  t.equal(await sh(`ls ${dir}/apps/moving`), 'g\n', 'after a kill -9 and a remount: only the last name')
  t.equal(await sh(`ls ${dir}/apps/moving/g | wc -l`), '400\n')
  t.equal(await sh(`cat ${dir}/apps/moving/g/f200`), '200\n')
})
