/** Real time with a service on each computer, the vault on an S3-compatible server (s3rver, loopback): no change feed, the pulse is polled. */
import t from 'tap'
import { startS3Server } from '../../scripts/servers/s3.js'
import { useServer } from '../helpers/cli.js'
import { realtimeScenario } from '../helpers/realtime.js'

const server = await startS3Server()
t.teardown(() => server.stop())

t.test('real time over S3', (t) => realtimeScenario(t, { url: server.newUrl(), setup: (c) => useServer(c, server) }))
