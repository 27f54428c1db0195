/**
 * Acceptance: nothing on the provider contains a file name, path, username or plaintext byte.
 * Canary strings are planted in names and contents; every object of the vault is scanned.
 */
import t from 'tap'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { userInfo } from 'node:os'
import { join } from 'node:path'
import { cloudy, computer, initVault, tempDir } from '../helpers/cli.js'
import { listFiles } from '../helpers/tree.js'

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

  const needles = [...canaries, userInfo().username === 'root' ? '' : userInfo().username, a.home, '.config']
    .filter(Boolean)
    .flatMap((s) => [Buffer.from(s), Buffer.from(s, 'utf16le')])
  let scanned = 0
  for (const f of await listFiles(vaultDir)) {
    const bytes = await readFile(f)
    scanned++
    for (const n of needles) t.notOk(bytes.includes(n) || f.includes(n.toString()), `${f} holds no canary`, { diagnostic: false })
  }
  t.ok(scanned >= 6, `scanned ${scanned} objects`)
  // The only plaintext file says nothing but format, id and creation time.
  const info = JSON.parse(await readFile(join(vaultDir, 'Cloudy', 'cloudy.json'), 'utf8'))
  t.same(Object.keys(info).sort(), ['created', 'format', 'vaultId'])
})
