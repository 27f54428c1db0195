/**
 * Setting a file's times through the mount with the ordinary tools (touch, touch -d, cp -p,
 * cp -a): the mount ends up with the times the same commands give in a plain folder, and a
 * second computer's mount shows them after an up-sync.
 */
import t from 'tap'
import { cloudy, computer, initVault, joinVault, tempDir } from '../helpers/cli.js'
import { mountPoint, sh, startMount } from '../helpers/mount.js'

/** Each file's modification time in milliseconds, by name (folders and files). */
const times = (dir: string) =>
  sh(`cd ${dir} && find . -mindepth 1 | LC_ALL=C sort | while read -r p; do echo "$p $(stat -c %.3Y "$p")"; done`)

t.test('touch, touch -d, cp -p and cp -a set times through the mount as in a plain folder', async (t) => {
  const vault = tempDir(t, 'vault')
  const a = computer(t)
  await initVault(t, a, vault, [], 'alpha-pc')
  // Sources whose access and modification times are one value (the first mount, on libfuse
  // 2.9, was handed one time only; mount-posix.ts sets the modification time alone).
  const src = tempDir(t, 'src')
  await sh(
    `mkdir -p ${src}/tree/sub && echo a > ${src}/a.txt && echo b > ${src}/tree/sub/b.txt && echo c > ${src}/tree/c.txt && ` +
      `touch -d @1500000000.25 ${src}/a.txt && touch -d @1400000000 ${src}/tree/sub/b.txt ${src}/tree/c.txt && ` +
      `touch -d @1300000000.5 ${src}/tree/sub && touch -d @1200000000 ${src}/tree`,
  )
  const ref = tempDir(t, 'reference')
  const dir = mountPoint(t)
  await startMount(t, a, dir)
  await sh(`mkdir ${dir}/apps/times`)
  const app = `${dir}/apps/times`
  const steps = (d: string) => [
    `echo x > ${d}/dated.txt && touch -d '2001-02-03 04:05:06.789' ${d}/dated.txt`,
    `cp -p ${src}/a.txt ${d}/a.txt`,
    `cp -a ${src}/tree ${d}/tree`,
    `mkdir ${d}/folder && touch -d @1100000000 ${d}/folder`,
  ]
  for (const step of steps(app)) await sh(step)
  for (const step of steps(ref)) await sh(step)
  const expected = await times(ref)
  t.match(expected, /\.\/dated\.txt 981173106\.789\n/, 'the reference has the times set')
  t.equal(await times(app), expected, 'the mount has the times a plain folder has')

  // A plain touch sets the time to now (it failed with EIO).
  const before = Date.now()
  await sh(`touch ${app}/a.txt`)
  const touched = Number(await sh(`stat -c %.3Y ${app}/a.txt`)) * 1000
  t.ok(touched >= before - 2000 && touched <= Date.now() + 2000, `touch sets now (${touched} vs ${before})`)
  await sh(`touch -d @1500000000.25 ${app}/a.txt`)

  const up = await cloudy(a, ['sync', 'up'])
  t.equal(up.code, 0, up.stderr)
  const b = computer(t)
  await joinVault(t, b, vault, [], 'bravo-pc')
  const dirB = mountPoint(t)
  await startMount(t, b, dirB)
  t.equal(await times(`${dirB}/apps/times`), expected, "the second computer's mount shows the same times")
})
