/**
 * Knowing what happened: `sync up` counts (and with -v lists) the files it sent, `status -v`
 * lists the files behind its counts, `diff` shows what differs from the chain (a unified diff
 * for text), `history PATH` says what each version changed, and an incoming change is credited
 * to the computer that made it.
 */
import t from 'tap'
import { mkdir, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { cloudy, computer, initVault, joinedComputer, ok, tempDir } from '../helpers/cli.js'

t.test('sync up, status -v, diff and history name the files and the changes', async (t) => {
  const vault = tempDir(t, 'vault')
  const a = computer(t)
  await mkdir(join(a.home, 'cfg/sub'), { recursive: true })
  await writeFile(join(a.home, 'cfg/notes.txt'), 'one\ntwo\nthree\n')
  await writeFile(join(a.home, 'cfg/old.txt'), 'to be deleted')
  await writeFile(join(a.home, 'cfg/sub/blob.bin'), Buffer.from([0, 1, 2, 3]))
  await initVault(t, a, vault, ['~/cfg'], 'alpha')
  const first = await ok(t, a, ['sync', 'up', '-v'])
  t.match(first.stdout, /settings: published [0-9a-f]{12}: 3 new, 0 changed, 0 deleted;/)
  t.match(first.stdout, /^ {2}new {6}cfg\/notes\.txt$/m)
  t.match(first.stdout, /^ {2}new {6}cfg\/sub\/blob\.bin$/m)

  await writeFile(join(a.home, 'cfg/notes.txt'), 'one\n2\nthree\nfour\n')
  await rm(join(a.home, 'cfg/old.txt'))
  await writeFile(join(a.home, 'cfg/new.txt'), 'fresh')
  await writeFile(join(a.home, 'cfg/sub/blob.bin'), Buffer.from([0, 1, 2, 3, 4, 5]))

  const status = await ok(t, a, ['status', '-v'])
  t.match(status.stdout, /settings: local changes not yet sent:/)
  t.match(status.stdout, /^ {2}new {6}~\/cfg\/new\.txt$/m)
  t.match(status.stdout, /^ {2}changed {2}~\/cfg\/notes\.txt$/m)
  t.match(status.stdout, /^ {2}deleted {2}~\/cfg\/old\.txt$/m)

  const diff = await cloudy(a, ['diff'])
  t.equal(diff.code, 1, 'diff exits 1 when something differs')
  t.match(diff.stdout, /--- chain\/~\/cfg\/notes\.txt/)
  t.match(diff.stdout, /\+\+\+ here\/~\/cfg\/notes\.txt/)
  t.match(diff.stdout, /^-two$/m)
  t.match(diff.stdout, /^\+2$/m)
  t.match(diff.stdout, /^\+four$/m)
  t.match(diff.stdout, /only here: settings\/cfg\/new\.txt \(5 B,/)
  t.match(diff.stdout, /only in the chain: settings\/cfg\/old\.txt \(13 B,/)
  t.match(diff.stdout, /differs: settings\/cfg\/sub\/blob\.bin: here 6 B, .*; chain 4 B/, 'a binary file: sizes and times')
  const one = await cloudy(a, ['diff', join(a.home, 'cfg/notes.txt')])
  t.equal(one.code, 1)
  t.notMatch(one.stdout, /new\.txt|old\.txt|blob/, 'diff PATH shows that path only')

  const second = await ok(t, a, ['sync', 'up', '-v'])
  t.match(second.stdout, /settings: published [0-9a-f]{12}: 1 new, 2 changed, 1 deleted;/)
  t.match(second.stdout, /^ {2}deleted {2}cfg\/old\.txt$/m)
  const same = await cloudy(a, ['diff'])
  t.equal(same.code, 0)
  t.match(same.stdout, /No difference/)
  t.match((await ok(t, a, ['sync', 'up'])).stdout, /settings: no change/)

  const history = (await ok(t, a, ['history', 'settings/cfg/notes.txt'])).stdout
  t.match(history, /CHANGE/)
  t.match(history, /content changed \(\+3 B\)/)
  t.match(history, /created/)
  const folder = (await ok(t, a, ['history', 'settings/cfg'])).stdout
  t.match(folder, /1 new, 2 changed, 1 deleted/, "a folder's version says what changed in it")
  const json = JSON.parse((await ok(t, a, ['history', 'settings/cfg/old.txt', '--json'])).stdout)
  t.same(
    json.versions.map((v: { change: string }) => v.change),
    ['deleted', 'created'],
  )
})

t.test('an incoming change is credited to the computer that made it', async (t) => {
  const vault = tempDir(t, 'vault')
  const a = computer(t)
  await mkdir(join(a.home, 'cfg'))
  await writeFile(join(a.home, 'cfg/x.txt'), 'x')
  await writeFile(join(a.home, 'cfg/y.txt'), 'y')
  await initVault(t, a, vault, ['~/cfg'], 'alpha')
  await ok(t, a, ['sync', 'up'])
  const b = await joinedComputer(t, vault, ['~/cfg'], 'bravo')
  const c = await joinedComputer(t, vault, ['~/cfg'], 'charlie')
  await writeFile(join(a.home, 'cfg/x.txt'), 'x by alpha')
  await ok(t, a, ['sync', 'up'])
  await writeFile(join(c.home, 'cfg/y.txt'), 'y by charlie')
  await ok(t, c, ['sync', 'up'])

  const plan = JSON.parse((await ok(t, b, ['sync', 'down', '--preview', '--json'])).stdout)
  const by = Object.fromEntries(
    plan.spaces[0].items.map((it: { item: string; incoming: { device: string } }) => [it.item, it.incoming.device]),
  )
  t.same(by, { 'settings/cfg/x.txt': 'alpha', 'settings/cfg/y.txt': 'charlie' })
  const status = (await ok(t, b, ['status', '-v'])).stdout
  t.match(status, /update +settings\/cfg\/x\.txt {2}\(from alpha\)/)
  t.match(status, /update +settings\/cfg\/y\.txt {2}\(from charlie\)/)
})
