/** The two-computer scenario with the vault on an SFTP server (a private sshd on loopback), and init making its folder. */
import t from 'tap'
import { existsSync } from 'node:fs'
import { startSftpServer } from '../../scripts/servers/sftp.js'
import { cloudy, computer, useServer } from '../helpers/cli.js'
import { twoComputers } from '../helpers/two-computers.js'

const server = await startSftpServer()
t.teardown(() => server.stop())

t.test('two computers over SFTP', (t) => twoComputers(t, { url: server.newUrl(), setup: (c) => useServer(c, server) }))

t.test('init makes the folder the URL names, as restic and rclone do; join does not', async (t) => {
  const url = server.newUrl()
  const folder = `${url.slice(url.indexOf('/', 'sftp://'.length))}/new/folder`
  const b = computer(t)
  await useServer(b, server)
  const refused = await cloudy(b, ['join', '--provider', `${url}/elsewhere`])
  t.equal(refused.code, 5, 'join of a folder that is not there is a wrong URL')
  t.match(refused.stderr, /does not exist/)
  const a = computer(t)
  await useServer(a, server)
  const init = await cloudy(a, ['init', '--provider', `${url}/new/folder`, '--kdf', 'interactive', '--no-auto-apps'])
  t.equal(init.code, 0, init.stderr)
  t.ok(existsSync(`${folder}/Cloudy`), 'the folder and the vault in it were made')
  t.equal((await cloudy(b, ['join', '--provider', `${url}/new/folder`])).code, 0, 'another computer joins it')
})
