/** The two-computer scenario with the vault on an SFTP server (a private sshd on loopback). */
import t from 'tap'
import { startSftpServer } from '../../scripts/servers/sftp.js'
import { useServer } from '../helpers/cli.js'
import { twoComputers } from '../helpers/two-computers.js'

const server = await startSftpServer()
t.teardown(() => server.stop())

t.test('two computers over SFTP', (t) => twoComputers(t, { url: server.newUrl(), setup: (c) => useServer(c, server) }))
