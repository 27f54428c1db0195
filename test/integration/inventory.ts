/**
 * Installed applications (the `inventory` category): each computer's record of what it
 * installed by hand, read from the real dpkg database; another computer's preview lists what it
 * lacks, and `cloudy apps install` installs it as root (a real `apt-get install hello`, undone
 * afterwards) or prints the command for anyone else.
 */
import t from 'tap'
import { execFileSync, spawnSync } from 'node:child_process'
import { chownSync } from 'node:fs'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { cloudy, computer, ok, tempDir, type Computer } from '../helpers/cli.js'
import { mountPoint, sh, startMount } from '../helpers/mount.js'

const root = process.getuid?.() === 0
const installed = (pkg: string) => spawnSync('dpkg', ['-s', pkg], { stdio: 'ignore' }).status === 0

/** The record computer `c` wrote of itself (its inventory folder holds it). */
async function ownRecord(c: Computer): Promise<{ device: string; apps: { source: string; id: string }[]; notes: string[] }> {
  const dir = join(c.cloudyHome, 'inventory', 'devices')
  const { readdir } = await import('node:fs/promises')
  for (const name of await readdir(dir)) {
    const r = JSON.parse(await readFile(join(dir, name), 'utf8'))
    if (r.device === 'alpha' || r.device === 'real') return r
  }
  throw new Error('no record')
}

t.test('the record of this machine is what apt-mark showmanual lists', async (t) => {
  const vault = tempDir(t, 'vault')
  const a: Computer = computer(t)
  await ok(t, a, ['init', '--provider', vault, '--kdf', 'interactive', '--no-auto-apps', '--collect', 'inventory', '--name', 'real'])
  t.match((await ok(t, a, ['sync', 'up'])).stdout, /^inventory: published/m)
  const record = await ownRecord(a)
  const manual = execFileSync('apt-mark', ['showmanual'], { encoding: 'utf8' }).split('\n').filter(Boolean).sort()
  t.same(
    record.apps
      .filter((x) => x.source === 'debian')
      .map((x) => x.id)
      .sort(),
    manual,
    `${manual.length} packages, as apt-mark says`,
  )
  t.match(record.notes.join('\n'), /flatpak applications skipped: flatpak is not installed|flatpak/)
  t.match((await ok(t, a, ['sync', 'up'])).stdout, /^inventory: no change/m, 'nothing new: nothing published')
})

t.test(
  'what another computer has is listed as missing, and installed as root',
  { skip: (!root && 'needs root') || (installed('hello') && 'hello is installed on this machine already') },
  async (t) => {
    const vault = tempDir(t, 'vault')
    // Computer A: a fixture system whose dpkg database has hello, installed by hand.
    const sys = tempDir(t, 'system-a')
    await mkdir(join(sys, 'var/lib/dpkg'), { recursive: true })
    await mkdir(join(sys, 'var/lib/apt'), { recursive: true })
    await writeFile(
      join(sys, 'var/lib/dpkg/status'),
      'Package: hello\nStatus: install ok installed\nVersion: 2.10-3\n\nPackage: libfoo\nStatus: install ok installed\n',
    )
    await writeFile(join(sys, 'var/lib/apt/extended_states'), 'Package: libfoo\nArchitecture: amd64\nAuto-Installed: 1\n')
    const a: Computer = { ...computer(t), env: { CLOUDY_SYSTEM_ROOT: sys } }
    await ok(t, a, ['init', '--provider', vault, '--kdf', 'interactive', '--no-auto-apps', '--collect', 'inventory', '--name', 'alpha'])
    await ok(t, a, ['sync', 'up'])
    t.same((await ownRecord(a)).apps, [{ source: 'debian', id: 'hello' }], 'installed by hand; libfoo came as a dependency')

    // Computer B: this machine, where hello is not installed.
    const b = computer(t)
    await ok(t, b, ['join', '--provider', vault, '--name', 'bravo'])
    const preview = await ok(t, b, ['sync', 'down', '--preview'])
    t.match(preview.stdout, /^missing here: debian hello \(installed on alpha\); "cloudy apps install hello"$/m)
    const json = JSON.parse((await ok(t, b, ['sync', 'down', '--preview', '--json'])).stdout) as { missing: { app: { id: string } }[] }
    t.same(
      json.missing.map((m) => m.app.id),
      ['hello'],
    )

    // Another user gets the command to run.
    const other: Computer = { ...computer(t, { uid: 65534, gid: 65534 }) }
    chownSync(vault, 65534, 65534)
    execFileSync('chown', ['-R', '65534:65534', vault])
    await ok(t, other, ['join', '--provider', vault, '--name', 'charlie'])
    const asUser = await cloudy(other, ['apps', 'install', 'hello'])
    t.equal(asUser.code, 0, asUser.stderr)
    t.match(asUser.stdout, /installing needs an administrator: run:\n {2}sudo apt-get install -y hello\n/)
    t.notOk(installed('hello'), 'nothing installed')

    const bad = await cloudy(b, ['apps', 'install', 'nosuchapp'])
    t.equal(bad.code, 2)
    t.match(bad.stderr, /nosuchapp: not among the applications missing here; missing: debian:hello/)

    // As root, --yes installs it for real.
    t.teardown(() => {
      if (installed('hello')) spawnSync('apt-get', ['purge', '-y', 'hello'], { stdio: 'ignore' })
    })
    const r = await cloudy(b, ['apps', 'install', '--yes', 'hello'], {}, { timeoutMs: 280_000 })
    t.equal(r.code, 0, r.stderr.slice(-500))
    t.ok(installed('hello'), 'dpkg -s hello: installed')
    t.notMatch((await ok(t, b, ['sync', 'down', '--preview'])).stdout, /missing here: debian hello/, 'no longer missing')
  },
)

t.test('[here] skip keeps an application off this computer', async (t) => {
  const vault = tempDir(t, 'vault')
  const sys = tempDir(t, 'system-a')
  await mkdir(join(sys, 'var/lib/dpkg'), { recursive: true })
  await writeFile(join(sys, 'var/lib/dpkg/status'), 'Package: steam\nStatus: install ok installed\n')
  const a: Computer = { ...computer(t), env: { CLOUDY_SYSTEM_ROOT: sys } }
  await ok(t, a, ['init', '--provider', vault, '--kdf', 'interactive', '--no-auto-apps', '--collect', 'inventory', '--name', 'alpha'])
  await ok(t, a, ['sync', 'up'])
  const b: Computer = { ...computer(t), env: { CLOUDY_SYSTEM_ROOT: tempDir(t, 'system-b') } }
  await ok(t, b, ['join', '--provider', vault, '--name', 'bravo'])
  t.match((await ok(t, b, ['sync', 'down', '--preview'])).stdout, /missing here: debian steam/)
  // The mount shows the chain's view: what is installed where.
  await ok(t, b, ['sync', 'down', '--yes'])
  const dir = mountPoint(t)
  await startMount(t, b, dir)
  const view = JSON.parse(await sh(`cat ${dir}/installed-apps.json`)) as { device: string; apps: unknown[] }[]
  t.same(view.find((d) => d.device === 'alpha')?.apps, [{ source: 'debian', id: 'steam' }], 'installed-apps.json lists what alpha has')
  const file = join(b.cloudyHome, 'config.toml')
  await writeFile(file, (await readFile(file, 'utf8')).replace(/^skip = \[\]/m, 'skip = ["debian:steam"]'))
  t.notMatch((await ok(t, b, ['sync', 'down', '--preview'])).stdout, /missing here/, 'marked: not on this computer')
})
