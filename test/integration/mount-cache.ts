/**
 * The kernel keeps what the mount told it (names, attributes, file pages across opens) for long,
 * and the mount drops exactly what another computer's change touched (docs/MOUNT.md, "Caching").
 * The case that made the first mount give up page caching (auto_cache): two versions of one
 * file with the same size and the same modification time, to the millisecond. The kernel cannot
 * tell them apart by their attributes; the mount must.
 */
import t from 'tap'
import { cloudy, computer, initVault, joinVault, tempDir } from '../helpers/cli.js'
import { eventually, mountPoint, sh, startMount } from '../helpers/mount.js'

const T = '@1700000000.123'

t.test('a change of the same size and time from another computer replaces the cached pages', async (t) => {
  const vault = tempDir(t, 'vault')
  const a = computer(t)
  await initVault(t, a, vault, [], 'alpha-pc')
  const dirA = mountPoint(t)
  await startMount(t, a, dirA)
  await sh(`mkdir ${dirA}/apps/notes && printf aaaa > ${dirA}/apps/notes/f && touch -d ${T} ${dirA}/apps/notes/f`)
  t.equal((await cloudy(a, ['sync', 'up'])).code, 0)

  const b = computer(t)
  await joinVault(t, b, vault, [], 'bravo-pc')
  const dirB = mountPoint(t)
  await startMount(t, b, dirB)
  const f = `${dirB}/apps/notes/f`
  t.equal(await sh(`cat ${f}`), 'aaaa', 'read on B: its pages are in the kernel now')
  const before = await sh(`stat -c '%s %.3Y %i' ${f}`)

  // A writes other bytes of the same size and gives the file the same time.
  await sh(`printf bbbb > ${dirA}/apps/notes/f && touch -d ${T} ${dirA}/apps/notes/f`)
  t.equal((await cloudy(a, ['sync', 'up'])).code, 0)
  t.equal(await eventually(`cat ${f}`, 'bbbb'), 'bbbb', "B's mount shows A's bytes")
  t.equal(await sh(`stat -c '%s %.3Y %i' ${f}`), before, 'though size, time and inode are what they were')

  // Both write one file at once: same size, same time, other bytes. The merge keeps one at the
  // name and the other in a copy, and both mounts show the same: each had its own version cached.
  await sh(`printf 1111 > ${dirA}/apps/notes/g && touch -d ${T} ${dirA}/apps/notes/g && cat ${dirA}/apps/notes/g`)
  await sh(`printf 2222 > ${dirB}/apps/notes/g && touch -d ${T} ${dirB}/apps/notes/g && cat ${dirB}/apps/notes/g`)
  t.equal((await cloudy(a, ['sync', 'up'])).code, 0)
  t.equal((await cloudy(b, ['sync', 'up'])).code, 0)
  t.equal((await cloudy(a, ['sync', 'up'])).code, 0)
  const names = (d: string) => sh(`ls ${d}/apps/notes | sort`)
  const shown = (d: string) => sh(`cd ${d}/apps/notes && for n in g*; do echo "$n $(cat "$n")"; done`)
  const onB = await eventually(`ls ${dirB}/apps/notes | grep -c '^g'`, '2\n')
  t.equal(onB, '2\n', 'B keeps both versions')
  t.equal(await eventually(`ls ${dirA}/apps/notes | grep -c '^g'`, '2\n'), '2\n', 'so does A')
  t.equal(await names(dirA), await names(dirB), 'under the same names')
  const expected = await shown(dirB)
  t.equal(
    await eventually(`cd ${dirA}/apps/notes && for n in g*; do echo "$n $(cat "$n")"; done`, expected),
    expected,
    'with the same bytes',
  )
  t.match(expected, /1111/)
  t.match(expected, /2222/)
})
