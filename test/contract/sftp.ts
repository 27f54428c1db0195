/**
 * The provider contract against a real OpenSSH server (a private sshd on 127.0.0.1, started for
 * this file), each test in a fresh folder of it; and once through `openProvider`, as the
 * command line opens it.
 */
import t from 'tap'
import { openProvider } from '../../providers/index.js'
import { sftp } from '../../providers/sftp.js'
import { startSftpServer } from '../../scripts/servers/sftp.js'
import { credentials, open } from '../fixtures/sftp/setup.js'
import { providerContract } from './suite.js'

const server = await startSftpServer()
t.teardown(() => server.stop())

providerContract(t, (t) => open(t, server))

// As with a server that has none of OpenSSH's extensions: plain SFTP v3 rename (which refuses an
// existing name) claims if-absent puts, and a replace removes the old object first.
t.test('sftp without the OpenSSH extensions', async (t) => {
  providerContract(t, async (t) => {
    const url = new URL(server.newUrl())
    const p = sftp({
      host: server.host,
      port: server.port,
      user: server.user,
      base: url.pathname,
      knownHosts: server.knownHosts,
      identityFiles: [server.identityFile],
      extensions: false,
    })
    t.teardown(() => p.close())
    return p
  })
})

t.test('sftp: through openProvider (URL, credentials.toml, retry policy)', async (t) => {
  const url = server.newUrl()
  const p = await openProvider(url, {
    root: 'Vault',
    credentials: credentials(t, server.credentials.sftp!),
    env: {},
    retry: { retries: 2, baseMs: 10, maxMs: 50, timeoutMs: 10_000 },
  })
  t.teardown(() => p.close())
  t.equal(p.name, `${url}/Vault`)
  await p.put('a/b', Buffer.from('hello'))
  t.same(Buffer.from(await p.get('a/b')).toString(), 'hello')
  t.same(Buffer.from(await p.get('a/b', { offset: 1, length: 3 })).toString(), 'ell')
  const listed = []
  for await (const o of p.list('')) listed.push(o.key)
  t.same(listed, ['a/b'])
})
