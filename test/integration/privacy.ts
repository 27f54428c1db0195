/**
 * Acceptance: nothing on the provider contains a file name, path, username or plaintext byte.
 * Canary strings are planted in names and contents; every object of the vault is scanned.
 */
import t, { type Test } from 'tap'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { userInfo } from 'node:os'
import { join } from 'node:path'
import { cloudy, computer, initVault, tempDir } from '../helpers/cli.js'
import { listFiles } from '../helpers/tree.js'

/**
 * Check that no object of the vault at `vaultDir`, by content or by name, holds any of
 * `canaries` (as UTF-8 or UTF-16); how many objects were read.
 */
async function scanForCanaries(t: Test, vaultDir: string, canaries: readonly string[]): Promise<number> {
  const needles = canaries.flatMap((s) => [Buffer.from(s), Buffer.from(s, 'utf16le')])
  let scanned = 0
  for (const f of await listFiles(vaultDir)) {
    const bytes = await readFile(f)
    scanned++
    for (const n of needles) t.notOk(bytes.includes(n) || f.includes(n.toString()), `${f} holds no canary`, { diagnostic: false })
  }
  return scanned
}

t.test('canaries in names and contents never reach the provider in clear', async (t) => {
  const a = computer(t)
  const vaultDir = tempDir(t, 'vault')
  const canaries = ['CANARYNAMEzq81', 'CANARYDIRxk42', 'CANARYCONTENTpw77', 'CANARYLINKtv19']
  await mkdir(join(a.home, '.config', canaries[1]!), { recursive: true })
  await writeFile(join(a.home, '.config', canaries[1]!, `${canaries[0]}.conf`), `secret = ${canaries[2]}\n`.repeat(50))
  await writeFile(join(a.home, '.config', 'small'), canaries[2]!)
  const { symlink } = await import('node:fs/promises')
  await symlink(`/somewhere/${canaries[3]}`, join(a.home, '.config', 'link'))
  await initVault(t, a, vaultDir, ['~/.config'])
  const up = await cloudy(a, ['sync', 'up'])
  t.equal(up.code, 0, up.stderr)

  const scanned = await scanForCanaries(
    t,
    vaultDir,
    [...canaries, userInfo().username === 'root' ? '' : userInfo().username, a.home, '.config'].filter(Boolean),
  )
  t.ok(scanned >= 6, `scanned ${scanned} objects`)
  // The only plaintext file says nothing but format, id and creation time.
  const info = JSON.parse(await readFile(join(vaultDir, 'Cloudy', 'cloudy.json'), 'utf8'))
  t.same(Object.keys(info).sort(), ['created', 'format', 'vaultId'])
})

t.test("an application's id, the selection and the inventory never reach the provider in clear", async (t) => {
  const a = computer(t)
  const vaultDir = tempDir(t, 'vault')
  const app = 'canaryappzq55'
  const pkg = 'canarypkgxy31'
  // A user's own catalog entry, found by its command on PATH, with a file to carry.
  const bin = tempDir(t, 'bin')
  await writeFile(join(bin, app), '#!/bin/sh\n', { mode: 0o755 })
  await mkdir(join(a.cloudyHome, 'catalog'), { recursive: true })
  await writeFile(
    join(a.cloudyHome, 'catalog', `${app}.toml`),
    `name = "Canary"\ncategory = "apps"\nsettings = ["$XDG_CONFIG_HOME/${app}"]\n[detect]\ncommands = ["${app}"]\n`,
  )
  await mkdir(join(a.home, '.config', app), { recursive: true })
  await writeFile(join(a.home, '.config', app, 'conf'), 'x = 1\n')
  await mkdir(join(a.home, 'CANARYADDEDpath'))
  await writeFile(join(a.home, 'CANARYADDEDpath', 'f'), 'y')
  // The inventory of a fixture system with a canary package.
  const sys = tempDir(t, 'system')
  await mkdir(join(sys, 'var/lib/dpkg'), { recursive: true })
  await writeFile(join(sys, 'var/lib/dpkg/status'), `Package: ${pkg}\nStatus: install ok installed\n`)
  a.env = { PATH: `${bin}:/usr/bin:/bin`, CLOUDY_SYSTEM_ROOT: sys }
  for (const args of [
    ['init', '--provider', vaultDir, '--kdf', 'interactive', '--name', 'alpha'],
    ['add', '~/CANARYADDEDpath'],
    ['add', '--exclude', '*.CANARYEXCLpattern'],
    ['sync', 'up'],
  ]) {
    const r = await cloudy(a, args)
    t.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`)
  }
  const list = JSON.parse((await cloudy(a, ['selection', '--json'])).stdout) as { apps: Record<string, boolean> }
  t.equal(list.apps[app], true, 'the canary application was collected')
  const scanned = await scanForCanaries(t, vaultDir, [app, pkg, 'CANARYADDEDpath', 'CANARYEXCLpattern'])
  t.ok(scanned >= 10, `scanned ${scanned} objects`)
})
