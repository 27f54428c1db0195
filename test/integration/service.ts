/**
 * The Cloudy service: unlocked once, it answers commands that then need no password; locked,
 * commands ask again; another OS user cannot reach its socket. It follows the chain in real
 * time: a file A up-syncs appears under B's HOME with no command typed on B, a deletion
 * follows, an edit made on both at once ends with both versions on both; with `down =
 * "manual"` B only shows the change; a mass deletion is held until B applies it by hand.
 */
import t, { type Test } from 'tap'
import { execFileSync, spawn, spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { cloudy, computer, initVault, joinVault, ok, tempDir, type Computer } from '../helpers/cli.js'
import { realtimeScenario } from '../helpers/realtime.js'
import { startService, until } from '../helpers/service.js'

const noPassword = { CLOUDY_PASSWORD: undefined }

/** A and B on one local vault, both collecting ~/cfg; A has up-synced `files`, B has them. */
async function pair(t: Test, files: Record<string, string> = { 'a.conf': 'a\n' }) {
  const vault = tempDir(t, 'vault')
  const a = computer(t)
  const b = computer(t)
  await mkdir(join(a.home, 'cfg'))
  for (const [name, text] of Object.entries(files)) await writeFile(join(a.home, 'cfg', name), text)
  await initVault(t, a, vault, ['~/cfg'], 'alpha')
  await ok(t, a, ['sync', 'up'])
  await joinVault(t, b, vault, ['~/cfg'], 'bravo')
  await ok(t, b, ['sync', 'down', '--yes'])
  return { vault, a, b }
}

t.test('unlocked once, commands need no password; locked, they ask again; another user is refused', async (t) => {
  const { b } = await pair(t)
  // By hand only, so that the up-sync below is the command's, not one on change.
  t.match((await ok(t, b, ['schedule', 'settings', 'manual'])).stdout, /settings: up-synced manual/)
  const service = await startService(t, b, [], noPassword)
  t.match(service.log(), /locked/, 'started locked: no password source')
  const locked = await cloudy(b, ['sync', 'up'], noPassword)
  t.equal(locked.code, 2, 'a locked service: the command asks, and has no terminal')
  t.match(locked.stderr, /no master password given/)

  const file = join(tempDir(t, 'pw'), 'password')
  await writeFile(file, 'correct horse\n', { mode: 0o600 })
  t.match((await ok(t, b, ['unlock', '--password-file', file])).stdout, /Unlocked/)
  t.match((await cloudy(b, ['status'], noPassword)).stdout, /service: running \(process \d+\), unlocked/)
  await writeFile(join(b.home, 'cfg/b.conf'), 'b\n')
  const up = await cloudy(b, ['sync', 'up'], noPassword)
  t.equal(up.code, 0, `no password asked: the service up-synced (${up.stderr})`)
  t.match(up.stdout, /^settings: published/m)
  // Every command, not only the syncs: the service gives them the key.
  for (const args of [['selection'], ['history'], ['chain', 'list'], ['check']]) {
    const r = await cloudy(b, args, noPassword)
    t.equal(r.code, 0, `cloudy ${args.join(' ')}: no password asked (${r.stderr})`)
  }

  // Another OS user cannot reach the socket (its folder is this user's alone).
  const socket = join(b.cloudyHome, 'run', 'service.sock')
  const other = spawnSync(
    'runuser',
    [
      '-u',
      'nobody',
      '--',
      // `env -i`: the test runner's NODE_OPTIONS loads its hooks from this clone, out of nobody's reach.
      'env',
      '-i',
      process.execPath,
      '-e',
      `require('net').connect(${JSON.stringify(socket)}).on('error', (e) => { console.log(e.code); process.exit(0) }).on('connect', () => { console.log('connected'); process.exit(0) })`,
    ],
    { encoding: 'utf8', cwd: '/' },
  )
  if (process.getuid?.() === 0) t.match(other.stdout, /EACCES/, `refused: ${other.stdout}${other.stderr}`)

  t.match((await ok(t, b, ['lock'])).stdout, /Locked/)
  t.equal((await cloudy(b, ['sync', 'up'], noPassword)).code, 2, 'locked again: the command asks')
  t.equal((await cloudy(b, ['selection'], noPassword)).code, 2, 'every command asks')
  t.equal(await service.stop(), 0, 'SIGTERM: stopped cleanly')
})

t.test('real time, a service on each computer: writes, deletions and a conflict follow with no command typed', (t) =>
  realtimeScenario(t, { url: tempDir(t, 'vault'), setup: async () => {} }),
)

t.test('with down = "manual", B only shows the incoming change', async (t) => {
  const { a, b } = await pair(t)
  const config = join(b.cloudyHome, 'config.toml')
  await writeFile(config, (await readFile(config, 'utf8')).replace('down = "realtime"', 'down = "manual"'))
  const service = await startService(t, b)
  await writeFile(join(a.home, 'cfg/new.conf'), 'from A\n')
  await ok(t, a, ['sync', 'up'])
  await new Promise((r) => setTimeout(r, 1500))
  t.notOk(existsSync(join(b.home, 'cfg/new.conf')), 'not applied')
  t.match((await ok(t, b, ['sync', 'down', '--preview'])).stdout, /add +settings\/cfg\/new\.conf/, 'the preview shows it')
  t.match(service.log(), /listening/)
})

t.test('a mass deletion on A is held on B until applied by hand', async (t) => {
  const files: Record<string, string> = {}
  for (let i = 0; i < 110; i++) files[`f${i}.conf`] = `${i}\n`
  const { a, b } = await pair(t, files)
  const service = await startService(t, b)
  for (let i = 0; i < 100; i++) await rm(join(a.home, 'cfg', `f${i}.conf`))
  await ok(t, a, ['sync', 'up'])
  await until(t, 'the hold in the log', () => /held: settings: 100 deletions at once/.test(service.log()))
  await new Promise((r) => setTimeout(r, 1000))
  t.equal((await readdir(join(b.home, 'cfg'))).length, 110, 'nothing deleted before the confirmation')
  const status = await cloudy(b, ['status'], noPassword)
  t.equal(status.code, 0, status.stderr)
  t.match(status.stdout, /service: 100 incoming items not applied, held: settings: 100 deletions at once/, 'status says what is held')
  t.match(status.stdout, /settings .* 0 add, 0 update, 100 delete/)
  // Each category's schedule, and the chain's computers with their last activity.
  t.match(status.stdout, /^settings +on-change +on change \(1 watched\) +\d{4}-\d\d-\d\d [\d:]+ \(start\): nothing new$/m)
  t.match(status.stdout, /^apps +daily +\d{4}-\d\d-\d\d [\d:]+ +\S+ \S+ \(schedule\): nothing new$/m)
  t.match(status.stdout, /^\* bravo +[0-9a-f]{8} +- +\d{4}-.* active$/m)
  t.match(status.stdout, /^ {2}alpha +[0-9a-f]{8} +\d{4}-\d\d-\d\d [\d:]+ +\d{4}-.* active$/m)
  const applied = await cloudy(b, ['sync', 'down', '--yes'], noPassword)
  t.equal(applied.code, 0, applied.stderr)
  t.equal((await readdir(join(b.home, 'cfg'))).length, 10, 'applied once confirmed')
})

// A real .deb, installed by the real dpkg into a fixture system (this machine's own packages
// are left alone, and tests running beside this one are not disturbed).
const debs = tempDir(t, 'debs')
const download = spawnSync('apt-get', ['download', 'hello'], { cwd: debs, encoding: 'utf8' })
const noDeb = download.status !== 0 && `apt-get download hello failed (no Debian mirror reachable?): ${download.stderr.trim()}`

t.test('installing a Debian package triggers an inventory up-sync with no command typed', { skip: noDeb }, async (t) => {
  const deb = join(
    debs,
    (await readdir(debs)).find((n) => n.endsWith('.deb'))!,
  )
  const system = async (name: string) => {
    const root = tempDir(t, name)
    for (const d of ['info', 'updates', 'triggers']) await mkdir(join(root, 'var/lib/dpkg', d), { recursive: true })
    await writeFile(join(root, 'var/lib/dpkg/status'), '')
    return root
  }
  const vault = tempDir(t, 'vault')
  const sysA = await system('system-a')
  const a: Computer = { ...computer(t), env: { CLOUDY_SYSTEM_ROOT: sysA } }
  const b: Computer = { ...computer(t), env: { CLOUDY_SYSTEM_ROOT: await system('system-b') } }
  await ok(t, a, ['init', '--provider', vault, '--kdf', 'interactive', '--no-auto-apps', '--collect', 'inventory', '--name', 'alpha'])
  await ok(t, a, ['sync', 'up'])
  await ok(t, b, ['join', '--provider', vault, '--name', 'bravo'])
  t.notMatch((await ok(t, b, ['sync', 'down', '--preview'])).stdout, /missing here/)

  const service = await startService(t, a)
  const inventory = async () => {
    const st = JSON.parse((await cloudy(a, ['status', '--json'], noPassword)).stdout || '{}') as ServiceJson
    return st.service?.schedules?.find((c) => c.category === 'inventory')
  }
  await until(t, 'the package database watched', async () => ((await inventory())?.watching ?? 0) > 0)
  t.match(await inventory(), { when: 'on-change' }, 'the inventory is sent on change by default')

  execFileSync('dpkg', [`--root=${sysA}`, '--force-depends', '--force-not-root', '--force-script-chrootless', '-i', deb], {
    stdio: 'ignore',
  })
  await until(t, "the package in B's preview", async () =>
    /^missing here: debian hello \(installed on alpha\)/m.test((await ok(t, b, ['sync', 'down', '--preview'])).stdout),
  )
  t.match(service.log(), /up-sync of inventory \(on change\): published 1 space/)
  // dpkg writes its database in several steps (unpack, configure), which may fall in two
  // debounce windows: a second run then finds nothing new. Status names whichever ran last.
  const lastInLog = () =>
    [...service.log().matchAll(/up-sync of inventory \(on change\): (.*?)(?: \(\d+ warnings\))? in \d+ ms$/gm)].at(-1)?.[1]
  await until(t, 'status says what ran last', async () => {
    const last = (await inventory())?.last
    return last?.why === 'on change' && last.result === lastInLog()
  })
})

interface ServiceJson {
  service?: { schedules?: { category: string; when: string; watching?: number; last?: { why: string; result: string } }[] }
}

t.test('service install writes a user unit whose command runs the service; uninstall removes it', async (t) => {
  const { b } = await pair(t)
  const xdg = tempDir(t, 'xdg')
  const env = { XDG_CONFIG_HOME: xdg }
  const run = async (args: string[]) => {
    const r = await cloudy(b, args, env)
    t.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`)
    return r
  }
  const installed = await run(['service', 'install', '--password-command', 'secret-tool lookup cloudy master'])
  const unit = join(xdg, 'systemd/user/cloudy.service')
  t.match(installed.stdout, `Wrote ${unit}.`)
  // No systemd runs in the test machine: said, with the command to start it otherwise.
  if (!existsSync('/run/systemd/system')) t.match(installed.stdout, /systemd is not running for this user here.*\n {2}\S+ \S+ daemon\n/s)
  const text = await readFile(unit, 'utf8')
  t.match(text, /^Restart=on-failure$/m)
  t.match(text, /^TimeoutStopSec=15$/m)
  t.match(text, `Environment="CLOUDY_HOME=${b.cloudyHome}"`)
  t.match(text, /^Environment="CLOUDY_PASSWORD_COMMAND=secret-tool lookup cloudy master"$/m)
  // What systemd would run: the same command, run here, is a working service.
  const exec = /^ExecStart=(.*)$/m
    .exec(text)![1]!
    .match(/"((?:[^"\\]|\\.)*)"/g)!
    .map((q) => JSON.parse(q) as string)
  t.equal(exec.length, 2)
  const child = spawn(exec[0]!, [exec[1]!, 'daemon'], {
    env: { PATH: process.env.PATH, HOME: b.home, CLOUDY_HOME: b.cloudyHome, CLOUDY_PASSWORD: 'correct horse' },
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  let log = ''
  child.stderr.on('data', (d) => (log += d))
  t.teardown(() => void child.kill('SIGKILL'))
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)))
  await until(t, 'the unit command listening', () => /listening/.test(log) || child.exitCode !== null)
  t.equal(child.exitCode, null, `still running: ${log}`)
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000)
  t.equal(await exited, 0, `and it stops on SIGTERM: ${log}`)
  clearTimeout(timer)

  t.match((await run(['service', 'uninstall'])).stdout, /Removed .*cloudy\.service/)
  t.notOk(existsSync(unit))
  t.match((await run(['service', 'uninstall'])).stdout, /No unit to remove/)
})

t.test(
  'a conflict is shown as a desktop notification on the session bus',
  {
    skip:
      !existsSync('/usr/bin/dbus-daemon') || !existsSync('/usr/bin/gdbus') ? 'needs dbus-daemon and gdbus (dbus, libglib2.0-bin)' : false,
  },
  async (t) => {
    const { a, b } = await pair(t)
    // A private session bus, and a monitor that sees what is sent to the notification service.
    const bus = spawn('dbus-daemon', ['--session', '--nofork', '--print-address'], { stdio: ['ignore', 'pipe', 'ignore'] })
    t.teardown(() => void bus.kill())
    const address = await new Promise<string>((resolve) => bus.stdout.once('data', (d) => resolve(String(d).trim())))
    const monitor = spawn('dbus-monitor', ['--address', address, "interface='org.freedesktop.Notifications'"], {
      stdio: ['ignore', 'pipe', 'ignore'],
    })
    t.teardown(() => void monitor.kill())
    let seen = ''
    monitor.stdout.on('data', (d) => (seen += d))
    await until(t, 'the monitor on the bus', () => seen.includes('NameAcquired'))

    await writeFile(join(b.home, 'cfg/a.conf'), 'edited on B\n')
    await writeFile(join(a.home, 'cfg/a.conf'), 'edited on A\n')
    await ok(t, a, ['sync', 'up'])
    // B's edit is not sent first (by hand only), so B's service meets A's edit as a conflict.
    await ok(t, b, ['schedule', 'settings', 'manual'])
    const service = await startService(t, b, [], { DBUS_SESSION_BUS_ADDRESS: address })
    await until(t, 'the notification on the bus', () => /member=Notify/.test(seen))
    t.match(seen, /string "Cloudy kept both versions of a file"/)
    t.match(seen, /string "settings\/cfg\/a\.conf: .*kept as a\.conflict-/)
    t.match(service.log(), /conflict: settings\/cfg\/a\.conf/, 'and in the log')
  },
)
