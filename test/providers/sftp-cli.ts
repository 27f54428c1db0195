/**
 * The command line over SFTP (the built `cloudy`, against a private OpenSSH server): two
 * computers init, up-sync, join and down-sync; and an unknown host key stops an up-sync with
 * exit 5 and the fingerprint, changing nothing here nor on the server.
 */
import t from 'tap'
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { stringify } from 'smol-toml'
import { startSftpServer } from '../../scripts/servers/sftp.js'
import { cloudy, computer, initVault, joinedComputer, tempDir, useServer } from '../helpers/cli.js'
import { describeTree } from '../helpers/tree.js'

const server = await startSftpServer()
t.teardown(() => server.stop())

/** The vault's files as the server's disk holds them. */
const stored = (url: string) => readdirSync(new URL(url).pathname, { recursive: true }).map(String).sort()

t.test('two computers over SFTP; an unknown host key changes nothing', async (t) => {
  const url = server.newUrl()
  const a = computer(t)
  await useServer(a, server)
  await mkdir(join(a.home, 'cfg/sub'), { recursive: true })
  await writeFile(join(a.home, 'cfg/one.txt'), 'one')
  await writeFile(join(a.home, 'cfg/sub/two.txt'), 'two')
  await initVault(t, a, url, ['~/cfg'], 'a')
  const up = await cloudy(a, ['sync', 'up'])
  t.equal(up.code, 0, up.stderr)

  const b = await joinedComputer(t, url, ['~/cfg'], 'b', server)
  t.same(await describeTree(join(b.home, 'cfg')), await describeTree(join(a.home, 'cfg')), 'B has what A sent')

  // A known_hosts without the server's key: refused before anything is sent or changed.
  await writeFile(join(a.home, 'cfg/three.txt'), 'three')
  const knownHosts = join(tempDir(t, 'kh'), 'known_hosts')
  writeFileSync(knownHosts, `example.com ${server.hostKey}\n`)
  const creds = join(a.cloudyHome, 'credentials.toml')
  const good = readFileSync(creds, 'utf8')
  writeFileSync(creds, stringify({ sftp: { identity_file: server.identityFile, known_hosts: knownHosts } }) + '\n', { mode: 0o600 })
  const home = await describeTree(a.home)
  const vault = stored(url)
  const refused = await cloudy(a, ['sync', 'up'])
  t.equal(refused.code, 5, refused.stderr)
  t.ok(refused.stderr.includes(server.hostKeyFingerprint), refused.stderr)
  t.match(refused.stderr, /sftp:\/\/.*: the server's host key is not known/)
  t.ok(refused.stderr.includes(`ssh-keyscan -p ${server.port} -t ed25519 127.0.0.1 >> ${knownHosts}`), 'the way to accept it')
  t.same(await describeTree(a.home), home, 'nothing here changed')
  t.same(stored(url), vault, 'nothing on the server changed')

  writeFileSync(creds, good, { mode: 0o600 })
  const again = await cloudy(a, ['sync', 'up'])
  t.equal(again.code, 0, again.stderr)
  const later = await cloudy(b, ['sync', 'down', '--yes'])
  t.equal(later.code, 0, later.stderr)
  t.equal(readFileSync(join(b.home, 'cfg/three.txt'), 'utf8'), 'three', 'once the key is right, the change goes through')
})
