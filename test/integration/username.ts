/**
 * The username rule: a computer whose OS user differs from the uploader's refuses to
 * down-sync until `sync.allow_username_mismatch` is set; then the uploader's home is mapped to
 * this one. The second user is a real one, made with useradd, its commands run with runuser.
 */
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { chmodSync, chownSync } from 'node:fs'
import { mkdir, readFile, readlink, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { cloudy, computer, initVault, joinVault, setInclude, tempDir } from '../helpers/cli.js'

const asRoot = process.getuid?.() === 0

t.test('another OS user is refused, then allowed and mapped', { skip: !asRoot && 'needs root for useradd and runuser' }, async (t) => {
  const user = `cloudy${process.pid}`
  execFileSync('useradd', ['--no-create-home', '--home-dir', '/nonexistent', '--shell', '/usr/sbin/nologin', user])
  t.teardown(() => {
    execFileSync('userdel', [user])
  })
  const uid = Number(execFileSync('id', ['-u', user]).toString())
  const gid = Number(execFileSync('id', ['-g', user]).toString())

  const vault = tempDir(t, 'vault')
  const a = computer(t)
  await mkdir(join(a.home, 'cfg'))
  await writeFile(join(a.home, 'cfg/a.txt'), 'from root')
  await symlink(join(a.home, 'cfg/a.txt'), join(a.home, 'cfg/abs-link'))
  await symlink('/etc/hostname', join(a.home, 'cfg/outside-link'))
  await initVault(t, a, vault, ['~/cfg'], 'root-pc')
  t.equal((await cloudy(a, ['sync', 'up'])).code, 0)

  const b = { ...computer(t, { uid, gid }), uid: undefined, gid: undefined, user }
  // The vault folder is shared: the second user must be able to use it.
  execFileSync('chown', ['-R', `${uid}:${gid}`, vault])
  chmodSync(vault, 0o755)
  await joinVault(t, b, vault, ['~/cfg'], 'other-user-pc')
  const refused = await cloudy(b, ['sync', 'down', '--yes'])
  t.equal(refused.code, 2, 'refused with exit 2')
  t.match(refused.stderr, new RegExp(`OS user "root" .* and this is user "${user}": down-sync refused`))
  t.match(refused.stderr, /set "allow_username_mismatch = true" under \[sync\]/)
  t.match(refused.stderr, new RegExp(`paths under ${a.home} are then mapped to ${b.home}`))
  t.equal((await cloudy(b, ['sync', 'down', '--preview'])).code, 2, 'the preview too')

  const config = join(b.cloudyHome, 'config.toml')
  await writeFile(config, (await readFile(config, 'utf8')).replace('allow_username_mismatch = false', 'allow_username_mismatch = true'))
  chownSync(config, uid, gid)
  await setInclude(b, ['~/cfg'])
  const down = await cloudy(b, ['sync', 'down', '--yes'])
  t.equal(down.code, 0, down.stderr)
  t.equal(await readFile(join(b.home, 'cfg/a.txt'), 'utf8'), 'from root', 'restored into this home')
  t.equal(await readlink(join(b.home, 'cfg/abs-link')), join(b.home, 'cfg/a.txt'), "a link into the uploader's home points into this one")
  t.equal(await readlink(join(b.home, 'cfg/outside-link')), '/etc/hostname', 'a link elsewhere is kept as it is')
  const owner = execFileSync('stat', ['-c', '%U', join(b.home, 'cfg/a.txt')])
    .toString()
    .trim()
  t.equal(owner, user, 'the files belong to the user who down-synced')
})
