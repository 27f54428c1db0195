/**
 * A removal marker deleted by whoever holds the storage account must not undo `chain remove`:
 * computers that saw the removal, or read it in another device's record, refuse (exit 7), and
 * `chain list`, `check` and `chain remove` say what happened and put it right.
 */
import t from 'tap'
import { copyFile, readFile, rm, writeFile } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { cloudy, computer, joinVault, tempDir } from '../helpers/cli.js'
import { ok, pair, refused } from '../helpers/chain-tamper.js'

t.test('a deleted removal marker does not bring the removed device back', async (t) => {
  const { vault, a, b, aTag, bTag } = await pair(t)
  const marker = join(vault, 'devices', `${bTag}.removed`)
  const aRecord = join(vault, 'devices', aTag)
  const oldRecord = join(tempDir(t, 'old'), 'record')
  await copyFile(aRecord, oldRecord)
  await ok(t, a, ['chain', 'remove', 'bravo'], 'remove B')
  t.ok(existsSync(marker), 'the marker is written')

  // The attacker deletes the marker and puts back A's record from before the removal: nothing
  // on the storage account says B was removed, and B, which never saw it, syncs again.
  await rm(marker)
  await copyFile(oldRecord, aRecord)
  await writeFile(join(b.home, 'cfg/f.txt'), 'B, after its removal')
  await ok(t, b, ['sync', 'up'], 'B never saw its removal, and nothing on the account tells it')
  await refused(t, a, ['sync', 'down', '--yes'], 'down A, which remembers the removal', /removal marker of bravo .* is gone/)
  t.equal(await readFile(join(a.home, 'cfg/f.txt'), 'utf8'), 'from A', "B's later edit is not applied")
  const list = await refused(t, a, ['chain', 'list'], 'chain list on A', /marker gone/)
  t.match(list.stdout, `DAMAGED devices/${bTag}.removed`)
  await refused(t, a, ['check'], 'check on A', `devices/${bTag}.removed`)

  // What the message says to do: write the marker again; the removal is back as it was.
  await ok(t, a, ['chain', 'remove', bTag.slice(0, 8)], 'write the marker again')
  t.ok(existsSync(marker), 'the marker is back')
  await ok(t, a, ['sync', 'down', '--yes'], 'down A')
  t.equal(await readFile(join(a.home, 'cfg/f.txt'), 'utf8'), 'from A', "B's later edit is still ignored")
  t.equal(await readFile(join(a.home, 'cfg/b.txt'), 'utf8'), 'from B', 'what B published before its removal stays')
  t.equal((await cloudy(b, ['sync', 'up'])).code, 2, 'B is refused again')

  // Deleted again: A's record now says B was removed, so a computer that never saw the marker
  // is not fooled, and B remembers its own removal.
  await rm(marker)
  const c = computer(t)
  await joinVault(t, c, join(vault, '..'), ['~/cfg'], 'charlie')
  await refused(t, c, ['sync', 'down', '--yes'], 'down on a new computer', /removal marker of bravo .* is gone, though alpha/)
  t.notOk(existsSync(join(c.home, 'cfg/f.txt')), 'nothing was applied on the new computer')
  await refused(t, b, ['sync', 'up'], 'up B', /removal marker of bravo .* is gone/)
})
