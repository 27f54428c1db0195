/** The two-computer scenario with the vault on an S3-compatible server (s3rver, loopback). */
import t from 'tap'
import { startS3Server } from '../../scripts/servers/s3.js'
import { useServer } from '../helpers/cli.js'
import { twoComputers } from '../helpers/two-computers.js'

const server = await startS3Server()
t.teardown(() => server.stop())

t.test('two computers over S3', (t) => twoComputers(t, { url: server.newUrl(), setup: (c) => useServer(c, server) }))
