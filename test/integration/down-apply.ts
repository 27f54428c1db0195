/**
 * How a down-sync writes what it received, on a real disk through the real CLI: names up to
 * NAME_MAX, folders it cannot write, a full disk, damaged data in the vault, a run killed
 * midway (its temporaries and folder modes), sparse files.
 */
import t, { type Test } from 'tap'
import { execFileSync, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, readdirSync } from 'node:fs'
import { chmod, mkdir, open, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { local } from '../../providers/local.js'
import { Vault } from '../../lib/vault/vault.js'
import { open as openSealed, BlobType } from '../../lib/vault/aead.js'
import { decodeHeader } from '../../lib/store/pack.js'
import { cloudyArgv, cloudy, computer, initVault, joinVault, tempDir, type Computer } from '../helpers/cli.js'
import { listFiles } from '../helpers/tree.js'

const asRoot = process.getuid?.() === 0

/** An error Cloudy did not name, printed with its stack (not the test runner's own noise). */
const STACK = /unexpected error|\n\s+at (?!.*node_modules).*\/dist\//

async function up(t: Test, c: Computer) {
  const r = await cloudy(c, ['sync', 'up'])
  t.equal(r.code, 0, `up-sync: ${r.stderr}`)
}

function temps(dir: string): string[] {
  return readdirSync(dir).filter((n) => n.includes('.cloudy-'))
}

t.test('a name of 254 bytes is written, and later down-syncs go on', async (t) => {
  const vault = tempDir(t, 'vault')
  const a = computer(t)
  const long = 'n'.repeat(250) + '.txt'
  await mkdir(join(a.home, 'cfg'))
  await writeFile(join(a.home, 'cfg', long), 'long name')
  await writeFile(join(a.home, 'cfg/ok.txt'), 'v1')
  await initVault(t, a, vault, ['~/cfg'], 'a')
  await up(t, a)
  const b = computer(t)
  await joinVault(t, b, vault, ['~/cfg'], 'b')
  const down = await cloudy(b, ['sync', 'down', '--yes'])
  t.equal(down.code, 0, down.stderr)
  t.equal(await readFile(join(b.home, 'cfg', long), 'utf8'), 'long name')
  await writeFile(join(a.home, 'cfg/ok.txt'), 'v2')
  await up(t, a)
  const again = await cloudy(b, ['sync', 'down', '--yes'])
  t.equal(again.code, 0, again.stderr)
  t.equal(await readFile(join(b.home, 'cfg/ok.txt'), 'utf8'), 'v2', 'the next down-sync applies')
})

t.test(
  'folders that cannot be written or read are skipped with a warning; the rest applies',
  { skip: !asRoot && 'needs root to switch users' },
  async (t) => {
    const vault = tempDir(t, 'vault')
    execFileSync('chown', ['65534:65534', vault])
    const a = computer(t, { uid: 65534, gid: 65534 })
    for (const d of ['ro', 'locked']) await mkdir(join(a.home, 'cfg', d), { recursive: true })
    await writeFile(join(a.home, 'cfg/ro/x.txt'), 'x1')
    await writeFile(join(a.home, 'cfg/locked/y.txt'), 'y1')
    await writeFile(join(a.home, 'cfg/ok.txt'), 'ok1')
    execFileSync('chown', ['-R', '65534:65534', a.home])
    await initVault(t, a, vault, ['~/cfg'], 'a')
    await up(t, a)
    const b = computer(t, { uid: 65534, gid: 65534 })
    await joinVault(t, b, vault, ['~/cfg'], 'b')
    t.equal((await cloudy(b, ['sync', 'down', '--yes'])).code, 0)

    await writeFile(join(a.home, 'cfg/ro/x.txt'), 'x2')
    await writeFile(join(a.home, 'cfg/ro/new.txt'), 'new')
    await writeFile(join(a.home, 'cfg/locked/y.txt'), 'y2')
    await writeFile(join(a.home, 'cfg/ok.txt'), 'ok2')
    await up(t, a)
    await chmod(join(b.home, 'cfg/ro'), 0o555)
    await chmod(join(b.home, 'cfg/locked'), 0)
    t.teardown(() => chmod(join(b.home, 'cfg/locked'), 0o755).catch(() => {}))
    const down = await cloudy(b, ['sync', 'down', '--yes'])
    t.equal(down.code, 6, 'done, with items skipped')
    t.notMatch(down.stderr, STACK, 'no stack trace')
    t.match(down.stderr, /cfg\/ro\/x\.txt.*permission denied/)
    t.match(down.stderr, /cfg\/ro\/new\.txt.*permission denied/)
    t.match(down.stderr, /cfg\/locked\/y\.txt.*permission denied/)
    t.equal(await readFile(join(b.home, 'cfg/ok.txt'), 'utf8'), 'ok2', 'the rest is applied')
    t.equal(await readFile(join(b.home, 'cfg/ro/x.txt'), 'utf8'), 'x1', 'the read-only folder is untouched')
    t.same(temps(join(b.home, 'cfg/ro')), [])
    await chmod(join(b.home, 'cfg/locked'), 0o755)
    t.equal(await readFile(join(b.home, 'cfg/locked/y.txt'), 'utf8'), 'y1')
  },
)

/** Two computers as OS user nobody (root reads any folder, so permissions need another user). */
async function nobodyPair(t: Test, include: string[], files: Record<string, string>) {
  const vault = tempDir(t, 'vault')
  execFileSync('chown', ['65534:65534', vault])
  const a = computer(t, { uid: 65534, gid: 65534 })
  for (const [path, text] of Object.entries(files)) {
    await mkdir(join(a.home, path, '..'), { recursive: true })
    await writeFile(join(a.home, path), text)
  }
  execFileSync('chown', ['-R', '65534:65534', a.home])
  await initVault(t, a, vault, include, 'a')
  await up(t, a)
  const b = computer(t, { uid: 65534, gid: 65534 })
  await joinVault(t, b, vault, include, 'b')
  t.equal((await cloudy(b, ['sync', 'down', '--yes'])).code, 0)
  return { a, b }
}

t.test(
  'a deletion inside a folder that cannot be searched is kept and said, and happens once it opens',
  { skip: !asRoot && 'needs root to switch users' },
  async (t) => {
    const { a, b } = await nobodyPair(t, ['~/cfg'], { 'cfg/locked/y.txt': 'y', 'cfg/locked/z.txt': 'z', 'cfg/ok.txt': 'ok' })
    await rm(join(a.home, 'cfg/locked/y.txt'))
    await up(t, a)
    await chmod(join(b.home, 'cfg/locked'), 0)
    t.teardown(() => chmod(join(b.home, 'cfg/locked'), 0o755).catch(() => {}))
    const down = await cloudy(b, ['sync', 'down', '--yes'])
    t.equal(down.code, 6, `a warning, not a silent skip: ${down.stdout}${down.stderr}`)
    t.match(down.stderr, /cfg\/locked\/y\.txt.*cannot be searched/)
    t.notMatch(down.stderr, STACK, 'no stack trace')
    await chmod(join(b.home, 'cfg/locked'), 0o755)
    const again = await cloudy(b, ['sync', 'down', '--yes'])
    t.equal(again.code, 0, again.stderr)
    t.notOk(existsSync(join(b.home, 'cfg/locked/y.txt')), 'deleted once the folder can be searched')
    await up(t, b)
    t.equal((await cloudy(a, ['sync', 'down', '--yes'])).code, 0)
    t.notOk(existsSync(join(a.home, 'cfg/locked/y.txt')), 'and it does not come back to the computer that deleted it')
    t.equal(await readFile(join(a.home, 'cfg/locked/z.txt'), 'utf8'), 'z')
  },
)

t.test(
  'a followed folder that cannot be searched: a warning, not a stack trace',
  { skip: !asRoot && 'needs root to switch users' },
  async (t) => {
    // `~/cfg/sub` is included, so `cfg` above it is followed: the plan looks at cfg/sub through it.
    const { a, b } = await nobodyPair(t, ['~/cfg/sub'], { 'cfg/sub/f.txt': 'f1' })
    await writeFile(join(a.home, 'cfg/sub/f.txt'), 'f2')
    await up(t, a)
    await chmod(join(b.home, 'cfg'), 0)
    t.teardown(() => chmod(join(b.home, 'cfg'), 0o755).catch(() => {}))
    const down = await cloudy(b, ['sync', 'down', '--yes'])
    t.equal(down.code, 6, `done, with the item skipped: ${down.stdout}${down.stderr}`)
    t.match(down.stderr, /cfg\/sub.*permission denied/)
    t.notMatch(down.stderr, STACK, 'no stack trace')
    await chmod(join(b.home, 'cfg'), 0o755)
    t.equal((await cloudy(b, ['sync', 'down', '--yes'])).code, 0)
    t.equal(await readFile(join(b.home, 'cfg/sub/f.txt'), 'utf8'), 'f2')
  },
)

t.test('a full disk is said, with how much is missing; nothing is lost', { skip: !asRoot && 'needs root to mount' }, async (t) => {
  const vault = tempDir(t, 'vault')
  const a = computer(t)
  await mkdir(join(a.home, 'cfg'))
  await writeFile(join(a.home, 'cfg/keep.txt'), 'v1')
  await initVault(t, a, vault, ['~/cfg'], 'a')
  await up(t, a)
  const b = computer(t)
  const umount = () => execFileSync('umount', [b.home], { timeout: 10_000, stdio: 'ignore' })
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', b.home])
  t.teardown(() => {
    try {
      umount()
    } catch {
      // Unmounted by the test.
    }
  })
  try {
    await joinVault(t, b, vault, ['~/cfg'], 'b')
    t.equal((await cloudy(b, ['sync', 'down', '--yes'])).code, 0)
    await writeFile(join(a.home, 'cfg/keep.txt'), 'v2')
    await writeFile(join(a.home, 'cfg/big'), randomBytes(3 * 1024 * 1024))
    await up(t, a)
    const down = await cloudy(b, ['sync', 'down', '--yes'])
    t.equal(down.code, 1, 'failed')
    t.notMatch(down.stderr, STACK, 'no stack trace')
    t.match(down.stderr, /disk holding .* is full: .*MiB were still to be written .* free \(about .*MiB missing\)/)
    t.same(temps(join(b.home, 'cfg')), [], 'no temporary left')
    t.notOk(existsSync(join(b.home, 'cfg/big')), 'no half-written file')
    t.match(await readFile(join(b.home, 'cfg/keep.txt'), 'utf8'), /^v[12]$/, 'keep.txt is one version or the other')
  } finally {
    umount()
  }
})

/** B's own never-synced edit of .gitconfig, older than the chain's: a down-sync keeps it as a copy. */
async function olderLocalEdit(b: Computer): Promise<void> {
  await writeFile(join(b.home, '.gitconfig'), 'B edit, never synced')
  const past = new Date('2026-01-02T03:04:05Z')
  await utimes(join(b.home, '.gitconfig'), past, past)
}

t.test(
  'a down-sync stopped by a full disk after moving a local version aside: the copy still reaches the chain',
  { skip: !asRoot && 'needs root to mount' },
  async (t) => {
    const vault = tempDir(t, 'vault')
    const a = computer(t)
    await mkdir(join(a.home, 'cfg'))
    await writeFile(join(a.home, '.gitconfig'), 'v1')
    await initVault(t, a, vault, ['~/cfg', '~/.gitconfig'], 'a')
    await up(t, a)
    const b = computer(t)
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', b.home])
    t.teardown(() => execFileSync('umount', [b.home], { timeout: 10_000, stdio: 'ignore' }))
    await joinVault(t, b, vault, ['~/cfg', '~/.gitconfig'], 'b')
    t.equal((await cloudy(b, ['sync', 'down', '--yes'])).code, 0)
    await writeFile(join(a.home, '.gitconfig'), 'A edit')
    await writeFile(join(a.home, 'cfg/big'), randomBytes(3 * 1024 * 1024))
    await up(t, a)
    // B's own edit, older than A's: the down-sync moves it aside, then runs out of disk.
    await olderLocalEdit(b)
    const down = await cloudy(b, ['sync', 'down', '--yes'])
    t.equal(down.code, 1, `stopped by the full disk: ${down.stderr}`)
    const copy = '.gitconfig.conflict-b-20260102-030405'
    t.equal(await readFile(join(b.home, copy), 'utf8'), 'B edit, never synced', 'the local version was moved aside')
    await up(t, b)
    t.equal((await cloudy(a, ['sync', 'down', '--yes'])).code, 0)
    t.equal(await readFile(join(a.home, copy), 'utf8'), 'B edit, never synced', 'and it reached the other computer')
  },
)

t.test(
  'a conflict copy that cannot be read at the up-sync is sent by a later one',
  { skip: !asRoot && 'needs root to switch users' },
  async (t) => {
    const { a, b } = await nobodyPair(t, ['~/.gitconfig'], { '.gitconfig': 'v1' })
    await writeFile(join(a.home, '.gitconfig'), 'A edit')
    await up(t, a)
    await olderLocalEdit(b)
    t.equal((await cloudy(b, ['sync', 'down', '--yes'])).code, 6, 'a conflict')
    const copy = join(b.home, '.gitconfig.conflict-b-20260102-030405')
    await chmod(copy, 0)
    const skipped = await cloudy(b, ['sync', 'up'])
    t.match(skipped.stderr, /conflict-b-20260102-030405.*permission denied/, `said: ${skipped.stdout}${skipped.stderr}`)
    await chmod(copy, 0o644)
    await up(t, b)
    t.equal((await cloudy(a, ['sync', 'down', '--yes'])).code, 0)
    t.equal(await readFile(join(a.home, '.gitconfig.conflict-b-20260102-030405'), 'utf8'), 'B edit, never synced', 'the copy reached A')
  },
)

/** The data blob of `rawLength` bytes, in whichever pack holds it: a byte in its middle flipped. */
async function damageBlob(t: Test, vault: string, rawLength: number) {
  const v = await Vault.unlock(local({ root: join(vault, 'Cloudy') }), 'correct horse')
  try {
    const keys = v.space('settings')
    for (const pack of await listFiles(vault, '/packs/')) {
      const bytes = await readFile(pack)
      const hlen = bytes.readUInt32LE(bytes.length - 4)
      const id = Buffer.from(pack.slice(pack.lastIndexOf('/') + 1), 'hex')
      const sealed = openSealed(keys.blobKey, BlobType.packHeader, id, bytes.subarray(bytes.length - 4 - hlen, bytes.length - 4))
      const blob = decodeHeader(sealed!)!.find((e) => e.type === BlobType.data && e.rawLength === rawLength)
      if (!blob) continue
      bytes[blob.offset + (blob.length >> 1)]! ^= 0x01
      await writeFile(pack, bytes)
      return
    }
    t.fail(`no data blob of ${rawLength} bytes`)
  } finally {
    v.close()
  }
}

t.test('a damaged blob is listed, its local file untouched, and the intact items applied or restored', async (t) => {
  const vault = tempDir(t, 'vault')
  const a = computer(t)
  await mkdir(join(a.home, 'cfg'))
  await writeFile(join(a.home, 'cfg/good.txt'), 'good1')
  await writeFile(join(a.home, 'cfg/bad.bin'), 'bad1')
  await initVault(t, a, vault, ['~/cfg'], 'a')
  await up(t, a)
  const b = computer(t)
  await joinVault(t, b, vault, ['~/cfg'], 'b')
  t.equal((await cloudy(b, ['sync', 'down', '--yes'])).code, 0)

  await writeFile(join(a.home, 'cfg/good.txt'), 'good2')
  await writeFile(join(a.home, 'cfg/new.txt'), 'new')
  await writeFile(join(a.home, 'cfg/bad.bin'), randomBytes(5001))
  await up(t, a)
  await damageBlob(t, vault, 5001)
  const down = await cloudy(b, ['sync', 'down', '--yes'])
  t.equal(down.code, 7, 'integrity damage')
  t.notMatch(down.stderr, STACK, 'no stack trace')
  t.match(down.stderr, /settings\/cfg\/bad\.bin was not applied: its data in the vault is damaged/)
  t.equal(await readFile(join(b.home, 'cfg/bad.bin'), 'utf8'), 'bad1', 'the damaged item is left as it is')
  t.equal(await readFile(join(b.home, 'cfg/good.txt'), 'utf8'), 'good2', 'the intact items are applied')
  t.equal(await readFile(join(b.home, 'cfg/new.txt'), 'utf8'), 'new')
  t.same(temps(join(b.home, 'cfg')), [])
  t.equal((await cloudy(b, ['sync', 'down', '--yes'])).code, 7, 'said again by the next down-sync')

  const c = computer(t)
  await joinVault(t, c, vault, ['~/cfg'], 'c')
  const restore = await cloudy(c, ['restore', '--at', new Date(Date.now() + 60_000).toISOString(), join(c.home, 'cfg')])
  t.equal(restore.code, 7, 'a restore too: integrity damage')
  t.match(restore.stderr, /settings\/cfg\/bad\.bin was not applied/)
  t.equal(await readFile(join(c.home, 'cfg/good.txt'), 'utf8'), 'good2', 'the intact items are restored')
  t.notOk(existsSync(join(c.home, 'cfg/bad.bin')))
})

/** A and B of one chain; B's first down-sync of a 32 MiB file in `cfg/sub` (0750) is killed midway. */
async function killedDown(t: Test) {
  const vault = tempDir(t, 'vault')
  const a = computer(t)
  await mkdir(join(a.home, 'cfg/sub'), { recursive: true })
  await writeFile(join(a.home, 'cfg/sub/big'), randomBytes(32 * 1024 * 1024))
  await writeFile(join(a.home, 'cfg/sub/small.txt'), 'small')
  await chmod(join(a.home, 'cfg/sub'), 0o750)
  await utimes(join(a.home, 'cfg/sub'), new Date('2024-05-06T07:08:09Z'), new Date('2024-05-06T07:08:09Z'))
  await initVault(t, a, vault, ['~/cfg'], 'a')
  await up(t, a)
  const b = computer(t)
  await joinVault(t, b, vault, ['~/cfg'], 'b')

  const sub = join(b.home, 'cfg/sub')
  const child = spawn(...cloudyArgv(['sync', 'down', '--yes']), {
    env: { PATH: process.env.PATH, HOME: b.home, CLOUDY_HOME: b.cloudyHome, CLOUDY_PASSWORD: 'correct horse' },
    stdio: 'ignore',
  })
  const exited = new Promise((resolve) => child.on('exit', resolve))
  let seen: string[] = []
  for (let i = 0; i < 30_000 && child.exitCode === null; i++) {
    if (existsSync(sub) && (seen = temps(sub)).length) break
    await sleep(1)
  }
  child.kill('SIGKILL')
  await exited
  t.ok(seen.length, 'killed while writing a temporary')
  t.ok(temps(sub).length, 'the kill left it behind')
  t.equal((await stat(sub)).mode & 0o777, 0o700, 'the folder was left 0700')
  return { a, b, sub }
}

t.test('a down-sync killed midway: the next one sweeps its temporaries and sets its folder modes', async (t) => {
  const { a, sub, b } = await killedDown(t)
  const down = await cloudy(b, ['sync', 'down', '--yes'])
  t.equal(down.code, 0, down.stderr)
  t.same(temps(sub), [], 'the temporaries are swept')
  const st = await stat(sub)
  t.equal(st.mode & 0o777, 0o750, 'the folder has its mode')
  t.equal(st.mtime.toISOString(), '2024-05-06T07:08:09.000Z', 'and its time')
  t.same(await readFile(join(sub, 'big')), await readFile(join(a.home, 'cfg/sub/big')))
})

t.test('a down-sync killed midway, then an up-sync: the unfinished folder is not sent as 0700', async (t) => {
  const { a, sub, b } = await killedDown(t)
  await up(t, b)
  t.equal((await stat(sub)).mode & 0o777, 0o750, 'the up-sync gave the folder the mode being applied first')
  t.equal((await cloudy(a, ['sync', 'down', '--yes'])).code, 0)
  t.equal((await stat(join(a.home, 'cfg/sub'))).mode & 0o777, 0o750, 'the other computer keeps 0750')
  const down = await cloudy(b, ['sync', 'down', '--yes'])
  t.equal(down.code, 0, down.stderr)
  t.same(temps(sub), [], 'the temporaries are swept')
  t.same(await readFile(join(sub, 'big')), await readFile(join(a.home, 'cfg/sub/big')), 'the file arrives whole')
  t.equal((await stat(sub)).mode & 0o777, 0o750)
})

t.test('a down-sync killed while it copies a folder: the next one finishes that copy, it makes no second', async (t) => {
  // ~/cfg/n1 is a folder in the chain and a file here never synced: the incoming folder goes
  // beside the file as a conflict copy. Killed while that copy is written, the next run must
  // finish the same copy, not keep the same version a second time as `-2`.
  const vault = tempDir(t, 'vault')
  const a = computer(t)
  await mkdir(join(a.home, 'cfg/n1'), { recursive: true })
  await writeFile(join(a.home, 'cfg/n1/big'), randomBytes(32 * 1024 * 1024))
  await writeFile(join(a.home, 'cfg/n1/small.txt'), 'small')
  await chmod(join(a.home, 'cfg/n1'), 0o750)
  await initVault(t, a, vault, ['~/cfg'], 'a')
  await up(t, a)
  const b = computer(t)
  await mkdir(join(b.home, 'cfg'))
  await writeFile(join(b.home, 'cfg/n1'), 'a file here')
  await joinVault(t, b, vault, ['~/cfg'], 'b')

  const cfg = join(b.home, 'cfg')
  const copies = () => readdirSync(cfg).filter((n) => n.startsWith('n1.conflict-'))
  const child = spawn(...cloudyArgv(['sync', 'down', '--yes']), {
    env: { PATH: process.env.PATH, HOME: b.home, CLOUDY_HOME: b.cloudyHome, CLOUDY_PASSWORD: 'correct horse' },
    stdio: 'ignore',
  })
  const exited = new Promise((resolve) => child.on('exit', resolve))
  let seen: string[] = []
  for (let i = 0; i < 30_000 && child.exitCode === null; i++) {
    const c = copies()
    if (c.length && (seen = temps(join(cfg, c[0]!))).length) break
    await sleep(1)
  }
  child.kill('SIGKILL')
  await exited
  t.ok(seen.length, 'killed while writing into the copy')
  t.equal(copies().length, 1)

  const down = await cloudy(b, ['sync', 'down', '--yes'])
  t.equal(down.code, 6, 'a conflict, said once more')
  t.equal(down.stderr, '', 'no warning')
  const [copy, ...more] = copies()
  t.same(more, [], 'one copy of the incoming folder')
  const at = join(cfg, copy!)
  t.same(readdirSync(at).sort(), ['big', 'small.txt'], 'whole, no temporary left')
  t.same(await readFile(join(at, 'big')), await readFile(join(a.home, 'cfg/n1/big')))
  t.equal(await readFile(join(at, 'small.txt'), 'utf8'), 'small')
  t.equal((await stat(at)).mode & 0o777, 0o750, 'with its mode')
  t.equal(await readFile(join(cfg, 'n1'), 'utf8'), 'a file here', 'the local file stays')
  await up(t, b)
  t.equal((await cloudy(a, ['sync', 'down', '--yes'])).code, 0)
  t.same(
    readdirSync(join(a.home, 'cfg')).filter((n) => n.startsWith('n1.conflict-')),
    [copy],
    'the other computer gets the one copy',
  )
})

// Soak normal seed 98 (steps 174-177): the down-sync was killed after it had made and finished
// the copy of the incoming folder (its mode and time set, so no longer 0700) but before it
// recorded what it applied; the next run made `-2` beside it, and both went to every computer.
// `--only` stops at that very point, without a kill.
t.test('a down-sync that finished a folder copy and recorded nothing: the next one makes no second', async (t) => {
  const vault = tempDir(t, 'vault')
  const a = computer(t)
  const then = new Date('2024-01-02T03:04:05Z')
  await mkdir(join(a.home, 'cfg/n1'), { recursive: true })
  await writeFile(join(a.home, 'cfg/n1/n3.txt'), 'in the folder')
  await writeFile(join(a.home, 'cfg/g'), 'g')
  await chmod(join(a.home, 'cfg/n1'), 0o750)
  await utimes(join(a.home, 'cfg/n1'), then, then)
  await initVault(t, a, vault, ['~/cfg'], 'a')
  await up(t, a)
  const b = computer(t)
  await mkdir(join(b.home, 'cfg'))
  await writeFile(join(b.home, 'cfg/n1'), 'a file here')
  await joinVault(t, b, vault, ['~/cfg'], 'b')

  const cfg = join(b.home, 'cfg')
  const copy = 'n1.conflict-a-20240102-030405'
  const copies = (c: Computer) => readdirSync(join(c.home, 'cfg')).filter((n) => n.startsWith('n1.conflict-'))
  const part = await cloudy(b, ['sync', 'down', '--yes', '--only', 'settings/cfg/n1', `settings/cfg/${copy}`])
  t.equal(part.code, 6, `the conflict: ${part.stderr}`)
  t.same(copies(b), [copy])
  t.equal(await readFile(join(cfg, copy, 'n3.txt'), 'utf8'), 'in the folder', 'the copy is whole')
  t.equal((await stat(join(cfg, copy))).mode & 0o777, 0o750, 'and finished')
  t.notOk(existsSync(join(cfg, 'g')), 'the rest is not applied')

  const down = await cloudy(b, ['sync', 'down', '--yes'])
  t.equal(down.code, 6, 'a conflict, said once more')
  t.equal(down.stderr, '', 'no warning')
  t.same(copies(b), [copy], 'one copy of the incoming folder')
  t.same(readdirSync(join(cfg, copy)), ['n3.txt'])
  t.equal(await readFile(join(cfg, 'g'), 'utf8'), 'g')
  t.equal(await readFile(join(cfg, 'n1'), 'utf8'), 'a file here', 'the local file stays')
  t.equal((await cloudy(b, ['sync', 'down', '--yes'])).code, 0, 'and recorded')
  await up(t, b)
  t.equal((await cloudy(a, ['sync', 'down', '--yes'])).code, 0)
  t.same(copies(a), [copy], 'the other computer gets the one copy')
})

t.test('a conflict copy of a file a killed down-sync wrote is the copy the next one keeps', async (t) => {
  // What a down-sync killed between writing the incoming version beside the local one and
  // recording it leaves: the copy, whole (files are renamed into place), and no record of it.
  const vault = tempDir(t, 'vault')
  const a = computer(t)
  const then = new Date('2024-01-02T03:04:05Z')
  await mkdir(join(a.home, 'cfg'))
  await writeFile(join(a.home, 'cfg/n1.txt'), 'from a')
  await utimes(join(a.home, 'cfg/n1.txt'), then, then)
  await initVault(t, a, vault, ['~/cfg'], 'a')
  await up(t, a)
  const b = computer(t)
  await mkdir(join(b.home, 'cfg'))
  await writeFile(join(b.home, 'cfg/n1.txt'), 'newer, from b')
  const copy = 'n1.conflict-a-20240102-030405.txt'
  await writeFile(join(b.home, 'cfg', copy), 'from a')
  await utimes(join(b.home, 'cfg', copy), then, then)
  await joinVault(t, b, vault, ['~/cfg'], 'b')

  const copies = (c: Computer) => readdirSync(join(c.home, 'cfg')).filter((n) => n.startsWith('n1.conflict-'))
  const down = await cloudy(b, ['sync', 'down', '--yes'])
  t.equal(down.code, 6, 'a conflict')
  t.equal(down.stderr, '', 'no warning')
  t.same(copies(b), [copy], 'the version is kept once')
  t.equal(await readFile(join(b.home, 'cfg', copy), 'utf8'), 'from a')
  t.equal(await readFile(join(b.home, 'cfg/n1.txt'), 'utf8'), 'newer, from b')
  t.equal((await cloudy(b, ['sync', 'down', '--yes'])).code, 0, 'and recorded')
  await up(t, b)
  t.equal((await cloudy(a, ['sync', 'down', '--yes'])).code, 0)
  t.same(copies(a), [copy], 'the other computer gets the one copy')
})

t.test('a sparse file comes back sparse', async (t) => {
  const vault = tempDir(t, 'vault')
  const a = computer(t)
  await mkdir(join(a.home, 'cfg'))
  const sparse = async (name: string, size: number) => {
    const fh = await open(join(a.home, 'cfg', name), 'w')
    await fh.truncate(size)
    for (const at of [0, size >> 1, size - 5]) await fh.write('data!', at)
    await fh.close()
  }
  await sparse('big', 16 * 1024 * 1024)
  await sparse('small', 400 * 1024)
  await initVault(t, a, vault, ['~/cfg'], 'a')
  await up(t, a)
  const b = computer(t)
  await joinVault(t, b, vault, ['~/cfg'], 'b')
  const down = await cloudy(b, ['sync', 'down', '--yes'])
  t.equal(down.code, 0, down.stderr)
  for (const name of ['big', 'small']) {
    const file = join(b.home, 'cfg', name)
    const st = await stat(file)
    t.same(await readFile(file), await readFile(join(a.home, 'cfg', name)), `${name}: the same bytes`)
    t.ok(st.blocks * 512 <= 64 * 1024, `${name}: ${st.blocks * 512} bytes allocated of ${st.size}`)
  }
})
