/**
 * A mount killed with SIGKILL right after writes returned: nothing is lost. The stale mount it
 * leaves is cleaned by the next mount, its journal is replayed there, and the next up-sync (by
 * `cloudy sync up` with no mount running, or by the next mount) carries it to another computer.
 */
import t from 'tap'
import { cloudy, computer, initVault, joinVault, tempDir } from '../helpers/cli.js'
import { isMounted, mountPoint, sh, startMount } from '../helpers/mount.js'

t.test('kill -9 after a write returned: remount, the data is there, the next up-sync carries it', async (t) => {
  const vault = tempDir(t, 'vault')
  const a = computer(t)
  await initVault(t, a, vault, [], 'alpha-pc')
  const dir = mountPoint(t)
  // No up-sync before the kill: everything is in the journal alone.
  const first = await startMount(t, a, dir, ['--upsync-after', '600'])
  await sh(`mkdir ${dir}/apps/crash && printf 'closed' > ${dir}/apps/crash/closed.txt`)
  await sh(
    `head -c 2000000 /dev/urandom > ${dir}/apps/crash/big.bin && sqlite3 ${dir}/apps/crash/db "CREATE TABLE t(x); INSERT INTO t VALUES ('committed');"`,
  )
  const sum = await sh(`sha256sum < ${dir}/apps/crash/big.bin`)
  await first.stop('SIGKILL')
  t.ok(isMounted(dir), 'the kernel still holds the dead mount')
  await t.rejects(sh(`ls ${dir}`), /not connected/, 'which answers nothing')

  // With no mount running, `sync up` publishes the journal the dead mount left (the apps
  // category, with a catalog application in it too: what applications wrote through the mount
  // is theirs).
  t.equal((await cloudy(a, ['add', 'kitty'])).code, 0)
  const up = await cloudy(a, ['sync', 'up', '--only', 'apps'])
  t.equal(up.code, 0, up.stderr)
  t.match(up.stdout, /journals of stopped mounts: published/)

  const second = await startMount(t, a, dir, ['--upsync-after', '600'])
  t.match(second.stderrText(), /left by a Cloudy mount that stopped; unmounting it/, 'the stale mount is cleaned first')
  t.equal(await sh(`cat ${dir}/apps/crash/closed.txt`), 'closed')
  t.equal(await sh(`sha256sum < ${dir}/apps/crash/big.bin`), sum)
  t.equal(await sh(`sqlite3 ${dir}/apps/crash/db "SELECT x FROM t;"`), 'committed\n')

  // Killed again, this time remounted straight away: the new mount publishes what it finds.
  await sh(`printf 'after remount' > ${dir}/apps/crash/second.txt && printf '+appended' >> ${dir}/apps/crash/closed.txt`)
  await second.stop('SIGKILL')
  // Rounds of a write (new files, appends to files in the vault and in the journal, renames)
  // and a kill right after it returned.
  let expected = 'closed+appended'
  for (let round = 0; round < 4; round++) {
    const m = await startMount(t, a, dir, ['--upsync-after', round % 2 ? '600' : '0'])
    await sh(
      `printf '+${round}' >> ${dir}/apps/crash/closed.txt && echo ${round} > ${dir}/apps/crash/r${round} && mv ${dir}/apps/crash/r${round} ${dir}/apps/crash/round-${round}`,
    )
    expected += `+${round}`
    await m.stop('SIGKILL')
  }
  await startMount(t, a, dir)
  t.equal(await sh(`cat ${dir}/apps/crash/second.txt ${dir}/apps/crash/closed.txt`), `after remount${expected}`)
  t.equal(await sh(`cat ${dir}/apps/crash/round-*`), '0\n1\n2\n3\n', 'every round is there')

  const b = computer(t)
  await joinVault(t, b, vault, [], 'bravo-pc')
  const dirB = mountPoint(t)
  await startMount(t, b, dirB)
  t.equal(
    await sh(`cat ${dirB}/apps/crash/second.txt ${dirB}/apps/crash/closed.txt`),
    `after remount${expected}`,
    'the second computer has it all',
  )
  t.equal(await sh(`cat ${dirB}/apps/crash/round-*`), '0\n1\n2\n3\n')
  t.equal(await sh(`sha256sum < ${dirB}/apps/crash/big.bin`), sum)
  t.equal(await sh(`sqlite3 ${dirB}/apps/crash/db "SELECT x FROM t;"`), 'committed\n')

  // `check` walks the application spaces too: a damaged pack of one is found.
  const checked = await cloudy(a, ['check', '--read-data'])
  t.equal(checked.code, 0, checked.stdout + checked.stderr)
  const packs = (await sh(`find ${vault} -path '*/packs/*' -type f -size +1000k`)).split('\n').filter(Boolean)
  t.ok(packs.length > 0, 'the 2 MB file is in a pack of the application space')
  await sh(`printf 'XXXX' | dd of=${packs[0]} bs=1 seek=500 conv=notrunc status=none`)
  const damaged = await cloudy(a, ['check', '--read-data'])
  t.equal(damaged.code, 7, damaged.stdout)
  t.match(damaged.stdout, /DAMAGED/)
})

t.test('two mounts of one application space on one computer: the second is refused', async (t) => {
  const vault = tempDir(t, 'vault')
  const a = computer(t)
  await initVault(t, a, vault, [], 'alpha-pc')
  const dir = mountPoint(t)
  await startMount(t, a, dir)
  await sh(`mkdir ${dir}/apps/one`)
  // Once the full mount has up-synced the list (0.3 s after the change), the application is in it.
  await new Promise((r) => setTimeout(r, 1500))
  const r = await cloudy(a, ['mount', '--app', 'one', mountPoint(t)])
  t.equal(r.code, 2, r.stderr)
  t.match(r.stderr, /app\/one is in use by another Cloudy process/)
  // A new application cannot be added to the list the full mount holds.
  const other = await cloudy(a, ['mount', '--app', 'two', mountPoint(t)])
  t.equal(other.code, 2, other.stderr)
  t.match(other.stderr, /application two is not in the list of applications yet, and a running Cloudy mount holds that list/)
})
