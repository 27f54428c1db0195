/**
 * File names that are not valid UTF-8 (Linux names are bytes): carried to the vault and to
 * another computer with the same bytes, like any other name.
 */
import t from 'tap'
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { cloudy, computer, initVault, joinVault, tempDir } from '../helpers/cli.js'

/** A path under `dir` whose last part is `name` given as bytes. */
const raw = (dir: string, ...name: (string | number[])[]) =>
  Buffer.concat([Buffer.from(dir + '/'), ...name.map((p) => (typeof p === 'string' ? Buffer.from(p) : Buffer.from(p)))])

t.test('a name that is not UTF-8 reaches the other computer with the same bytes', async (t) => {
  const vault = tempDir(t, 'vault')
  const a = computer(t)
  mkdirSync(join(a.home, 'cfg'))
  writeFileSync(raw(join(a.home, 'cfg'), 'bad', [0xff, 0xfe], 'name.txt'), 'raw bytes name\n')
  // A folder of such a name, holding a file of another one; and a valid name with a real U+FFFD.
  mkdirSync(raw(join(a.home, 'cfg'), 'dir-', [0xe9]))
  writeFileSync(Buffer.concat([raw(join(a.home, 'cfg'), 'dir-', [0xe9]), raw('', 'f', [0x80])]), 'inside\n')
  writeFileSync(join(a.home, 'cfg', 'real-\ufffd.txt'), 'replacement character\n')
  await initVault(t, a, vault, ['~/cfg'], 'alpha-pc')
  const up = await cloudy(a, ['sync', 'up'])
  t.equal(up.code, 0, up.stdout + up.stderr)
  const again = await cloudy(a, ['sync', 'up'])
  t.equal(again.code, 0, again.stderr)
  t.match(again.stdout, /no change/i, 'a second up-sync has nothing to send')
  const status = await cloudy(a, ['status', '--json'])
  t.match(JSON.parse(status.stdout).spaces[0].pending, { added: 0, changed: 0, deleted: 0 }, 'status: nothing pending')

  const b = computer(t)
  await joinVault(t, b, vault, ['~/cfg'], 'bravo-pc')
  const down = await cloudy(b, ['sync', 'down', '--yes'])
  t.equal(down.code, 0, down.stdout + down.stderr)
  const names = (dir: string) =>
    readdirSync(dir, { encoding: 'buffer' })
      .map((n) => n.toString('hex'))
      .sort()
  t.same(names(join(b.home, 'cfg')), names(join(a.home, 'cfg')), 'the same name bytes')
  t.ok(names(join(b.home, 'cfg')).includes(Buffer.from([0x62, 0x61, 0x64, 0xff, 0xfe, ...Buffer.from('name.txt')]).toString('hex')))
  t.equal(readFileSync(raw(join(b.home, 'cfg'), 'bad', [0xff, 0xfe], 'name.txt'), 'utf8'), 'raw bytes name\n')
  t.equal(readFileSync(Buffer.concat([raw(join(b.home, 'cfg'), 'dir-', [0xe9]), raw('', 'f', [0x80])]), 'utf8'), 'inside\n')
  t.equal(readFileSync(join(b.home, 'cfg', 'real-\ufffd.txt'), 'utf8'), 'replacement character\n')
  const nothing = await cloudy(b, ['sync', 'down', '--yes'])
  t.equal(nothing.code, 0, nothing.stderr)
  t.match(nothing.stdout, /nothing to do/i, 'applied once, then in step')
  const bUp = await cloudy(b, ['sync', 'up'])
  t.equal(bUp.code, 0, bUp.stderr)
  t.match(bUp.stdout, /no change/i, 'the receiver sends nothing back')

  // An edit on B comes back to A under the same name.
  writeFileSync(raw(join(b.home, 'cfg'), 'bad', [0xff, 0xfe], 'name.txt'), 'edited on bravo\n')
  t.equal((await cloudy(b, ['sync', 'up'])).code, 0)
  const downA = await cloudy(a, ['sync', 'down', '--yes'])
  t.equal(downA.code, 0, downA.stdout + downA.stderr)
  t.equal(readFileSync(raw(join(a.home, 'cfg'), 'bad', [0xff, 0xfe], 'name.txt'), 'utf8'), 'edited on bravo\n')
  t.same(names(join(a.home, 'cfg')), names(join(b.home, 'cfg')), 'no second copy under another name')
})

t.test('a received name that is not UTF-8, outside this computer’s includes, follows edits and deletions', async (t) => {
  const vault = tempDir(t, 'vault')
  const a = computer(t)
  mkdirSync(join(a.home, 'cfg'))
  mkdirSync(join(a.home, 'other'))
  const name = (c: { home: string }) => raw(join(c.home, 'other'), 'r', [0xff], '.conf')
  writeFileSync(name(a), 'v1\n')
  await initVault(t, a, vault, ['~/cfg', '~/other'], 'alpha-pc')
  t.equal((await cloudy(a, ['sync', 'up'])).code, 0)
  // B collects only ~/cfg: other/ reaches it as a received path, which it tracks.
  const b = computer(t)
  await joinVault(t, b, vault, ['~/cfg'], 'bravo-pc')
  t.equal((await cloudy(b, ['sync', 'down', '--yes'])).code, 0)
  t.equal(readFileSync(name(b), 'utf8'), 'v1\n')
  const status = await cloudy(b, ['status', '--json'])
  t.match(
    JSON.parse(status.stdout).spaces[0].pending,
    { added: 0, changed: 0, deleted: 0 },
    'status: the received file is not taken for deleted',
  )

  writeFileSync(name(a), 'v2, edited on alpha\n')
  t.equal((await cloudy(a, ['sync', 'up'])).code, 0)
  const down = await cloudy(b, ['sync', 'down', '--yes'])
  t.equal(down.code, 0, down.stdout + down.stderr)
  t.equal(readFileSync(name(b), 'utf8'), 'v2, edited on alpha\n', 'the edit is applied over it')

  rmSync(name(a))
  t.equal((await cloudy(a, ['sync', 'up'])).code, 0)
  const gone = await cloudy(b, ['sync', 'down', '--yes'])
  t.equal(gone.code, 0, gone.stdout + gone.stderr)
  t.notOk(existsSync(name(b)), 'the deletion is applied')
})
