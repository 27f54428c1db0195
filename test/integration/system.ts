/**
 * Computer settings (the `system` category): collected from /etc as root and restored into
 * another computer's /etc, here a fixture root (`CLOUDY_SYSTEM_ROOT`) so the test never touches
 * this machine's; what names a computer never travels, network profiles are secrets. As a
 * non-root user the category is skipped with the reason, exit 0.
 */
import t from 'tap'
import { chownSync, existsSync } from 'node:fs'
import { mkdir, readdir, readFile, utimes, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { cloudy, computer, ok, tempDir, type Computer } from '../helpers/cli.js'
import { vaultPaths } from '../helpers/vault-tree.js'

const root = process.getuid?.() === 0

async function writeTree(base: string, files: Record<string, string>) {
  for (const [rel, text] of Object.entries(files)) {
    await mkdir(dirname(join(base, rel)), { recursive: true })
    await writeFile(join(base, rel), text)
  }
}

const CARRIED = {
  'etc/default/keyboard': 'XKBLAYOUT="fr"\n',
  'etc/apt/sources.list.d/vendor.list': 'deb https://example.com/apt stable main\n',
  'etc/sysctl.d/99-swappiness.conf': 'vm.swappiness=10\n',
}
const NEVER = {
  'etc/machine-id': '0123456789abcdef\n',
  'etc/hostname': 'alpha\n',
  'etc/fstab': 'UUID=x / ext4 defaults 0 1\n',
  'etc/ssh/ssh_host_ed25519_key': 'PRIVATE\n',
  'etc/NetworkManager/system-connections/home-wifi.nmconnection': '[wifi-security]\npsk=secret\n',
}

t.test('as root: /etc settings collected and restored; identity and secrets never travel', { skip: !root && 'needs root' }, async (t) => {
  const vault = tempDir(t, 'vault')
  const rootA = tempDir(t, 'root-a')
  const rootB = tempDir(t, 'root-b')
  await writeTree(rootA, { ...CARRIED, ...NEVER })
  await mkdir(join(rootB, 'etc'))
  const a: Computer = { ...computer(t), env: { CLOUDY_SYSTEM_ROOT: rootA } }
  const b: Computer = { ...computer(t), env: { CLOUDY_SYSTEM_ROOT: rootB } }
  await ok(t, a, ['init', '--provider', vault, '--kdf', 'interactive', '--no-auto-apps', '--name', 'alpha'])
  t.match((await ok(t, a, ['sync', 'up'])).stdout, /^system: published/m)
  const held = await vaultPaths(t, vault, 'system')
  for (const rel of Object.keys(CARRIED)) t.ok(held.includes(rel), `${rel} in the vault`)
  for (const rel of Object.keys(NEVER)) t.notOk(held.includes(rel), `${rel} never in the vault`)

  await ok(t, b, ['join', '--provider', vault, '--name', 'bravo'])
  const preview = await ok(t, b, ['sync', 'down', '--preview'])
  t.match(preview.stdout, /add +system\/etc\/default\/keyboard/, 'the preview lists the computer settings')
  t.notOk(existsSync(join(rootB, 'etc/default')), 'the preview changes nothing')
  await ok(t, b, ['sync', 'down', '--yes'])
  for (const [rel, text] of Object.entries(CARRIED)) t.equal(await readFile(join(rootB, rel), 'utf8'), text, `${rel} restored`)
  for (const rel of Object.keys(NEVER)) t.notOk(existsSync(join(rootB, rel)), `${rel} not on B`)

  // Network profiles travel once the user opts in for them.
  await ok(t, a, ['add', '--secret', '/etc/NetworkManager/system-connections'])
  await ok(t, a, ['sync', 'up'])
  t.ok(
    (await vaultPaths(t, vault, 'system')).includes('etc/NetworkManager/system-connections/home-wifi.nmconnection'),
    'opted in: collected',
  )

  // A change on B goes back.
  await writeFile(join(rootB, 'etc/default/keyboard'), 'XKBLAYOUT="de"\n')
  await ok(t, b, ['sync', 'up'])
  await ok(t, a, ['sync', 'down', '--yes'])
  t.equal(await readFile(join(rootA, 'etc/default/keyboard'), 'utf8'), 'XKBLAYOUT="de"\n')
})

t.test('as root: /etc/hosts travels without the lines that name each computer', { skip: !root && 'needs root' }, async (t) => {
  const vault = tempDir(t, 'vault')
  const rootA = tempDir(t, 'root-a')
  const rootB = tempDir(t, 'root-b')
  const ipv6 = '\n# The following lines are desirable for IPv6 capable hosts\n::1     localhost ip6-localhost ip6-loopback\n'
  await writeTree(rootA, {
    'etc/hostname': 'alpha\n',
    'etc/hosts': `127.0.0.1\tlocalhost\n127.0.1.1\talpha.example.org alpha\n10.0.0.5 nas${ipv6}`,
  })
  await writeTree(rootB, { 'etc/hostname': 'bravo\n', 'etc/hosts': `127.0.0.1\tlocalhost\n127.0.1.1\tbravo${ipv6}` })
  // B's file is the older one: A's text keeps the name, B's is kept beside it.
  await utimes(join(rootB, 'etc/hosts'), new Date('2020-01-01'), new Date('2020-01-01'))
  const a: Computer = { ...computer(t), env: { CLOUDY_SYSTEM_ROOT: rootA } }
  const b: Computer = { ...computer(t), env: { CLOUDY_SYSTEM_ROOT: rootB } }
  await ok(t, a, ['init', '--provider', vault, '--kdf', 'interactive', '--no-auto-apps', '--name', 'alpha'])
  await ok(t, a, ['sync', 'up'])
  const held = await vaultPaths(t, vault, 'system')
  t.ok(held.includes('etc/cloudy/hosts'), 'the shared lines are in the vault')
  t.notOk(held.includes('etc/hosts'), '/etc/hosts itself never is')

  await ok(t, b, ['join', '--provider', vault, '--name', 'bravo'])
  const down = await cloudy(b, ['sync', 'down', '--yes'])
  t.equal(down.code, 6, `B's own lines conflict, both kept (${down.stderr})`)
  t.equal(
    await readFile(join(rootB, 'etc/hosts'), 'utf8'),
    `127.0.0.1\tlocalhost\n127.0.1.1\tbravo\n10.0.0.5 nas${ipv6}`,
    "A's lines, and B's own name kept",
  )
  t.notMatch(await readFile(join(rootB, 'etc/cloudy/hosts'), 'utf8'), /alpha/, 'A never sent its name')
  t.equal((await readdir(join(rootB, 'etc/cloudy'))).filter((n) => n.includes('conflict')).length, 1)

  // B adds a line: it reaches A, whose own name stays; nothing travels back and forth after.
  await writeFile(join(rootB, 'etc/hosts'), `${await readFile(join(rootB, 'etc/hosts'), 'utf8')}10.0.0.6 printer\n`)
  await ok(t, b, ['sync', 'up'])
  await ok(t, a, ['sync', 'down', '--yes'])
  t.equal(
    await readFile(join(rootA, 'etc/hosts'), 'utf8'),
    `127.0.0.1\tlocalhost\n127.0.1.1\talpha.example.org alpha\n10.0.0.5 nas${ipv6}10.0.0.6 printer\n`,
  )
  t.notMatch((await ok(t, a, ['sync', 'up'])).stdout, /^system: published/m, 'A has nothing new to send')
  t.equal((await ok(t, b, ['sync', 'down', '--preview', '--json'])).stdout.includes('etc/cloudy/hosts'), false, 'B has nothing to apply')
})

t.test(
  'as another user: the system category is skipped with the reason, exit 0',
  { skip: !root && 'needs root to act as another user' },
  async (t) => {
    const vault = tempDir(t, 'vault')
    chownSync(vault, 65534, 65534)
    const rootA = tempDir(t, 'root-a')
    await writeTree(rootA, CARRIED)
    const a: Computer = { ...computer(t, { uid: 65534, gid: 65534 }), env: { CLOUDY_SYSTEM_ROOT: rootA } }
    await ok(t, a, ['init', '--provider', vault, '--kdf', 'interactive', '--no-auto-apps', '--name', 'alpha'])
    const up = await cloudy(a, ['sync', 'up'])
    t.equal(up.code, 0, up.stderr)
    t.match(up.stdout, /^system: skipped: only an administrator collects and restores computer settings: run it as root or through sudo$/m)
    const down = await cloudy(a, ['sync', 'down', '--yes'])
    t.equal(down.code, 0, down.stderr)
    t.match(down.stdout, /system: skipped: only an administrator/)
  },
)
