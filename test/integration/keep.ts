/**
 * What an up-sync must not report as deleted: paths another computer collects but this one
 * does not, and a folder that cannot be listed right now.
 */
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { chmod, copyFile, mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { cloudy, computer, initVault, joinVault, previewOps, tempDir } from '../helpers/cli.js'

t.test('a computer that collects less keeps what the others collect', async (t) => {
  const vault = tempDir(t, 'vault')
  const a = computer(t)
  await mkdir(join(a.home, 'cfg'))
  await writeFile(join(a.home, 'cfg/x'), 'x')
  await writeFile(join(a.home, '.gitconfig'), 'git')
  await initVault(t, a, vault, ['~/cfg', '~/.gitconfig'], 'wide')
  t.equal((await cloudy(a, ['sync', 'up'])).code, 0)
  const b = computer(t)
  await joinVault(t, b, vault, ['~/cfg'], 'narrow')
  t.equal((await cloudy(b, ['sync', 'down', '--yes'])).code, 0)
  t.equal(await readFile(join(b.home, '.gitconfig'), 'utf8'), 'git', 'applied though not collected here')
  await writeFile(join(b.home, 'cfg/x'), 'x from narrow')
  t.equal((await cloudy(b, ['sync', 'up'])).code, 0)
  t.same(await previewOps(a), ['update settings/cfg/x'], 'the narrow computer did not delete .gitconfig')
})

t.test(
  'a folder that cannot be listed keeps its last synced version',
  { skip: process.getuid?.() !== 0 && 'needs root to switch users' },
  async (t) => {
    const vault = tempDir(t, 'vault')
    execFileSync('chown', ['65534:65534', vault])
    const a = computer(t, { uid: 65534, gid: 65534 })
    await mkdir(join(a.home, 'cfg/locked'), { recursive: true })
    await writeFile(join(a.home, 'cfg/locked/secret'), 'kept')
    await writeFile(join(a.home, 'cfg/open'), 'v1')
    execFileSync('chown', ['-R', '65534:65534', a.home])
    await initVault(t, a, vault, ['~/cfg'], 'a')
    t.equal((await cloudy(a, ['sync', 'up'])).code, 0)
    await chmod(join(a.home, 'cfg/locked'), 0)
    await writeFile(join(a.home, 'cfg/open'), 'v2')
    const up = await cloudy(a, ['sync', 'up'])
    t.equal(up.code, 6, 'done with a warning')
    t.match(up.stderr, /kept the last synced version of cfg\/locked: permission denied/)
    await chmod(join(a.home, 'cfg/locked'), 0o755)

    const b = computer(t, { uid: 65534, gid: 65534 })
    await joinVault(t, b, vault, ['~/cfg'], 'b')
    t.equal((await cloudy(b, ['sync', 'down', '--yes'])).code, 0)
    t.equal(await readFile(join(b.home, 'cfg/locked/secret'), 'utf8'), 'kept', 'not deleted from the chain')
    t.equal(await readFile(join(b.home, 'cfg/open'), 'utf8'), 'v2')
  },
)

t.test('a config.toml copied to another computer is caught before two computers share one history', async (t) => {
  const vault = tempDir(t, 'vault')
  const a = computer(t)
  await mkdir(join(a.home, 'cfg'))
  await writeFile(join(a.home, 'cfg/x'), 'x')
  await initVault(t, a, vault, ['~/cfg'], 'a')
  t.equal((await cloudy(a, ['sync', 'up'])).code, 0)
  const copy = computer(t)
  await copyFile(join(a.cloudyHome, 'config.toml'), join(copy.cloudyHome, 'config.toml'))
  await mkdir(join(copy.home, 'cfg'))
  await writeFile(join(copy.home, 'cfg/y'), 'y')
  t.equal((await cloudy(copy, ['sync', 'up'])).code, 0)
  await writeFile(join(a.home, 'cfg/x'), 'x2')
  const r = await cloudy(a, ['sync', 'up'])
  t.equal(r.code, 2)
  t.match(r.stderr, /publishes as this device: config.toml \[device\] id is shared/)
})
