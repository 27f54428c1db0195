/**
 * Cloudy's own files on this computer: a damaged state database is moved aside and rebuilt from
 * the vault, saying so, and nothing is lost; the files and folders are the user's alone.
 */
import t, { type Test } from 'tap'
import { randomBytes } from 'node:crypto'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { open, readFile, truncate, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { cloudy, ok, syncedPair, computer, initVault, previewOps, tempDir } from '../helpers/cli.js'
import { describeTree } from '../helpers/tree.js'

/** A with `cfg/` up-synced; B joined and down-synced, and has published too: its head says
 * what it last had (what a lost database falls back on). */
const pair = (t: Test) => syncedPair(t, { 'one.txt': '1', 'two.txt': '2', 'sub/three.txt': '3' }, { 'b.txt': 'b' })

/** The contents of every file under `dir`. */
async function allContents(dir: string): Promise<Set<string>> {
  const out = new Set<string>()
  for (const f of readdirSync(dir, { recursive: true, encoding: 'utf8' })) {
    if (statSync(join(dir, f)).isFile()) out.add(await readFile(join(dir, f), 'utf8'))
  }
  return out
}

/** Ways a state database gets damaged: a bad disk, a crash of the file system, a stray write. */
const damages: Record<string, (file: string) => Promise<void>> = {
  'garbage over parts of it': async (file) => {
    const size = statSync(file).size
    const fh = await open(file, 'r+')
    // Every other page after the header's: b-tree pages of the tables.
    for (let at = 4096; at < size; at += 8192) await fh.write(randomBytes(4096), 0, 4096, at)
    await fh.close()
  },
  'cut short': async (file) => truncate(file, Math.floor(statSync(file).size / 2) + 100),
  'not a database at all': async (file) => writeFile(file, 'this is not an SQLite database\n'.repeat(100)),
}

t.test('local state is private: CLOUDY_HOME and its folders 0700, state.db and the sync lock 0600', async (t) => {
  const c = computer(t)
  t.equal(statSync(c.cloudyHome).mode & 0o777, 0o755, 'CLOUDY_HOME is made readable by others (mkdir, umask 022)')
  await writeFile(join(c.home, '.bashrc'), 'secret-name')
  await initVault(t, c, tempDir(t, 'vault'), ['~/.bashrc'])
  await ok(t, c, ['sync', 'up'], 'up')
  t.equal(statSync(c.cloudyHome).mode & 0o777, 0o700, 'CLOUDY_HOME')
  for (const f of ['state.db', 'sync.lock', 'config.toml']) t.equal(statSync(join(c.cloudyHome, f)).mode & 0o777, 0o600, f)
  for (const d of readdirSync(c.cloudyHome, { withFileTypes: true }).filter((e) => e.isDirectory())) {
    t.equal(statSync(join(c.cloudyHome, d.name)).mode & 0o777, 0o700, `${d.name}/`)
  }
})

t.test('a damaged state database is moved aside and rebuilt from the vault, saying so; nothing is lost', async (t) => {
  const { a, b } = await pair(t)
  const db = join(b.cloudyHome, 'state.db')
  for (const [round, [how, damage]] of Object.entries(damages).entries()) {
    t.notOk(existsSync(`${db}-wal`), 'the database is whole in its file between commands')
    await damage(db)
    // Changes on both sides while B's state is damaged.
    await writeFile(join(b.home, 'cfg/one.txt'), `1 from B, round ${round}`)
    await writeFile(join(b.home, `cfg/new-${round}.txt`), 'new on B')
    await writeFile(join(a.home, 'cfg/sub/three.txt'), `3 from A, round ${round}`)
    await ok(t, a, ['sync', 'up'], 'up A')

    const status = await ok(t, b, ['status'], `status on B, its database ${how}`)
    t.match(
      status.stderr,
      /warning: the state database was damaged \(.+\); it was moved aside to .*state\.db\.damaged-\S+ and is rebuilt from the vault\n$/,
    )
    const aside = readdirSync(b.cloudyHome).filter((f) => f.startsWith('state.db.damaged-') && !/-(wal|shm)$/.test(f))
    t.equal(aside.length, round + 1, 'the damaged database is kept aside')
    t.match(status.stderr, aside.sort().at(-1)!, 'the warning names it')

    const up = await ok(t, b, ['sync', 'up'], 'up B')
    t.notMatch(up.stderr, /damaged/, 'the rebuilt database is sound: said once')
    const ops = await previewOps(a)
    t.same(
      ops.filter((op) => /^(delete|remove)/.test(op)),
      [],
      `B deletes nothing from the chain: ${ops.join(', ')}`,
    )
    t.ok(ops.includes(`add settings/cfg/new-${round}.txt`), "B's new file goes up")
    // What B last applied is gone with its database: a file the chain changed since B's last
    // up-sync may come back as a conflict copy (exit 6), never lost.
    t.match((await cloudy(b, ['sync', 'down', '--yes'])).code, /^[06]$/, 'down B')
    t.match((await cloudy(a, ['sync', 'down', '--yes'])).code, /^[06]$/, 'down A')
    t.same(await describeTree(join(b.home, 'cfg')), await describeTree(join(a.home, 'cfg')), `${how}: both computers are equal`)
    const contents = await allContents(join(a.home, 'cfg'))
    for (const want of [`1 from B, round ${round}`, `3 from A, round ${round}`, 'new on B', '2', 'b']) {
      t.ok(contents.has(want), `"${want}" is on both computers`)
    }
    t.equal(await readFile(join(a.home, 'cfg/two.txt'), 'utf8'), '2', 'an unchanged file stays')
    t.equal(await readFile(join(a.home, 'cfg/one.txt'), 'utf8'), `1 from B, round ${round}`)
  }
  // A sound database that another command has open is not taken for damaged.
  const [one, two] = await Promise.all([cloudy(b, ['status']), cloudy(b, ['sync', 'down', '--yes'])])
  t.equal(one.code, 0, one.stderr)
  t.equal(two.code, 0, two.stderr)
  t.notMatch(one.stderr + two.stderr, /damaged/)
  t.equal(
    readdirSync(b.cloudyHome).filter((f) => f.startsWith('state.db.damaged-') && !/-(wal|shm)$/.test(f)).length,
    3,
    'nothing more moved aside',
  )
})
