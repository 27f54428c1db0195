/**
 * Acceptance, bad input: a malformed config.toml (exit 2 naming the key and line), options a
 * check refuses (exit 2, its words), a missing vault (exit 4), an unreadable file and a FIFO in HOME (warned, skipped, exit 6, rest synced).
 */
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { chmod, copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { cloudy, computer, initVault, tempDir } from '../helpers/cli.js'
import { describeTree } from '../helpers/tree.js'

t.test('malformed config.toml: exit 2, the key and the line named', async (t) => {
  const a = computer(t)
  await initVault(t, a, tempDir(t, 'vault'), ['~/x'])
  const file = join(a.cloudyHome, 'config.toml')
  const good = await readFile(file, 'utf8')
  const lines = good.split('\n')
  const at = lines.findIndex((l) => l.startsWith('include ='))
  lines[at] = 'include = 5'
  await writeFile(file, lines.join('\n'))
  let r = await cloudy(a, ['sync', 'up'])
  t.equal(r.code, 2)
  t.match(r.stderr, `config.toml:${at + 1}`)
  t.match(r.stderr, 'here.include must be an array of strings')

  lines[at] = 'inclde = ["~/x"]'
  await writeFile(file, lines.join('\n'))
  r = await cloudy(a, ['sync', 'up'])
  t.equal(r.code, 2)
  t.match(r.stderr, /unknown key here.inclde.*did you mean "include"/)

  await writeFile(file, good + '\n[sync\nbroken = \n')
  r = await cloudy(a, ['status'])
  t.equal(r.code, 2, 'an unknown command is bad usage too')
  r = await cloudy(a, ['sync', 'down', '--preview'])
  t.equal(r.code, 2)
  t.match(r.stderr, /config\.toml:\d+: .*TOML syntax/)
})

t.test('a command line a check of its options refuses: exit 2 and the check\'s words, no "unexpected error"', async (t) => {
  const r = await cloudy(computer(t), ['join', '/tmp/a-vault', '--name', 'pc'])
  t.equal(r.code, 2, r.stderr)
  t.match(r.stderr, /^cloudy: say where the vault lives: --provider URL/)
  t.notMatch(r.stderr, /unexpected error/)
})

t.test('no vault there: exit 4', async (t) => {
  const a = computer(t)
  let r = await cloudy(a, ['sync', 'up'])
  t.equal(r.code, 4, 'not set up')
  t.match(r.stderr, /cloudy init/)
  const vault = tempDir(t, 'vault')
  await initVault(t, a, vault, ['~/x'])
  await rm(join(vault, 'Cloudy'), { recursive: true })
  r = await cloudy(a, ['sync', 'up'])
  t.equal(r.code, 4, 'the vault folder is gone')
  t.match(r.stderr, /no Cloudy vault at/)
})

t.test('an unreadable file and a FIFO are warned about and skipped, the rest is synced', async (t) => {
  // Root reads any file: run the sync as an unprivileged user when the tests run as root.
  const asUser = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {}
  const a = computer(t, asUser)
  const vault = tempDir(t, 'vault')
  if (asUser.uid !== undefined) execFileSync('chown', [`${asUser.uid}:${asUser.gid}`, vault])
  await mkdir(join(a.home, 'cfg'))
  await writeFile(join(a.home, 'cfg', 'ok.conf'), 'fine\n')
  await writeFile(join(a.home, 'cfg', 'locked.conf'), 'secret\n')
  await chmod(join(a.home, 'cfg', 'locked.conf'), 0o000)
  execFileSync('mkfifo', [join(a.home, 'cfg', 'pipe')])
  if (asUser.uid !== undefined) execFileSync('chown', ['-R', `${asUser.uid}:${asUser.gid}`, a.home])
  await initVault(t, a, vault, ['~/cfg'])
  const r = await cloudy(a, ['sync', 'up'])
  t.equal(r.code, 6, 'done, with items skipped')
  t.match(r.stderr, /warning: skipped cfg\/locked\.conf: permission denied/)
  t.match(r.stderr, /warning: skipped cfg\/pipe: a named pipe \(FIFO\) cannot be synced/)

  const b = computer(t)
  await copyFile(join(a.cloudyHome, 'config.toml'), join(b.cloudyHome, 'config.toml'))
  const d = await cloudy(b, ['sync', 'down', '--yes'])
  t.equal(d.code, 0, d.stderr)
  t.same(
    (await describeTree(b.home)).map((e) => e.path),
    ['cfg', 'cfg/ok.conf'],
    'the rest was synced',
  )
})

t.test(
  'a vault folder this user cannot write: exit 5, naming the provider and the fix',
  { skip: process.getuid?.() !== 0 && 'needs root to act as another user' },
  async (t) => {
    const a = computer(t, { uid: 65534, gid: 65534 })
    const locked = tempDir(t, 'locked')
    const r = await cloudy(a, ['init', '--provider', join(locked, 'v'), '--kdf', 'interactive'])
    t.equal(r.code, 5)
    t.match(r.stderr, `local:${join(locked, 'v')}`)
    t.match(r.stderr, /permission denied on the vault folder: make it writable by this user/)
    t.same(await describeTree(a.cloudyHome), [], 'no config written')
  },
)
