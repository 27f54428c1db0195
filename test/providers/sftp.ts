/**
 * The SFTP provider's own cases against a real OpenSSH server: host keys (unknown, changed,
 * hashed, revoked), logging in (wrong key, agent, default keys, a locked key), a missing folder,
 * a full disk, failed puts leaving nothing behind, and connections dropping mid-run.
 */
import t, { type Test } from 'tap'
import { execFile, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { ConfigError, ProviderError, TransientError, UsageError } from '../../lib/errors.js'
import type { Provider } from '../../providers/provider.js'
import { withRetries } from '../../providers/retry.js'
import { checkHostKey, fingerprint, hostMatches, parseKnownHosts, parseSftpUrl, sftp } from '../../providers/sftp.js'
import { startSftpServer } from '../../scripts/servers/sftp.js'
import { open } from '../fixtures/sftp/setup.js'
import { tempDir } from '../helpers/temp.js'

const run = promisify(execFile)
const server = await startSftpServer()
t.teardown(() => server.stop())

const hostName = `[127.0.0.1]:${server.port}`

async function keygen(t: Test, options: { passphrase?: string } = {}): Promise<string> {
  const file = join(tempDir(t, 'sftp-key'), 'key')
  await run('/usr/bin/ssh-keygen', ['-q', '-t', 'ed25519', '-N', options.passphrase ?? '', '-C', 'other', '-f', file])
  return file
}

/** What a promise rejected with (fails the test if it did not). */
async function refusal(t: Test, p: Promise<unknown>): Promise<ProviderError> {
  const e = await p.then(
    () => undefined,
    (e: unknown) => e,
  )
  t.ok(e instanceof ProviderError, `a ProviderError: ${String(e)}`)
  return e as ProviderError
}

/** The files under the folder of a server URL, as the server's disk holds them. */
function onDisk(url: string, rel = ''): string[] {
  const dir = join(new URL(url).pathname, rel)
  return existsSync(dir) ? readdirSync(dir, { recursive: true }).map(String).sort() : []
}

t.test('URLs', async (t) => {
  t.same(parseSftpUrl('sftp://alice@files.example:2222/srv/backup/'), {
    user: 'alice',
    host: 'files.example',
    port: 2222,
    base: '/srv/backup',
  })
  t.same(parseSftpUrl('sftp://bob@[::1]/~/vaults'), { user: 'bob', host: '::1', port: 22, base: 'vaults' })
  t.same(parseSftpUrl('sftp://bob@host'), { user: 'bob', host: 'host', port: 22, base: '' }, 'no path: the login folder')
  t.same(parseSftpUrl('sftp://b%40c@host/a%20b'), { user: 'b@c', host: 'host', port: 22, base: '/a b' })
  t.equal(parseSftpUrl('sftp://host/x').user, (await import('node:os')).userInfo().username, 'the OS user by default')
  t.throws(() => parseSftpUrl('sftp://me:secret@host/x'), UsageError)
  t.throws(() => parseSftpUrl('sftp://me:secret@host/x'), /a password does not belong in the URL/)
  t.notMatch(
    String(
      (() => {
        try {
          parseSftpUrl('sftp://me:secret@host/x')
        } catch (e) {
          return e
        }
      })(),
    ),
    /secret/,
    'the password is not repeated',
  )
  t.throws(() => parseSftpUrl('sftp://host/x?compress=1'), /unknown option "compress"; it takes none/)
  t.equal(parseSftpUrl('sftp://host/a/../b').base, '/b', 'dot segments are resolved as in any URL')
  t.throws(() => parseSftpUrl('sftp:///x'), /not a valid SFTP URL/)
  t.throws(() => parseSftpUrl('sftp://host/%ff'), /not valid UTF-8/)
})

t.test('known_hosts matching, as ssh does it', async (t) => {
  const key = Buffer.from(server.hostKey.split(' ')[1]!, 'base64')
  t.ok(hostMatches('example.com,[127.0.0.1]:2222', '[127.0.0.1]:2222'), 'one name of a list')
  t.ok(hostMatches('*.example.com', 'files.example.com'), 'a wildcard')
  t.ok(hostMatches('FILES.example.com', 'files.example.com'), 'names are not case-sensitive')
  t.notOk(hostMatches('*.example.com,!secret.example.com', 'secret.example.com'), 'a negated name wins')
  t.notOk(hostMatches('127.0.0.1', '[127.0.0.1]:2222'), 'port 22 entries do not match another port')
  t.notOk(hostMatches('[127.0.0.1]:222', '[127.0.0.1]:2222'))
  const entries = parseKnownHosts(
    [
      '# comment',
      '',
      `${hostName} ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQC7 other-type`,
      `@cert-authority *.example.com ${server.hostKey}`,
      `${hostName} ${server.hostKey} comment`,
    ].join('\n'),
  )
  t.same(
    entries.map((e) => [e.line, e.marker, e.type]),
    [
      [3, undefined, 'ssh-rsa'],
      [4, 'cert-authority', 'ssh-ed25519'],
      [5, undefined, 'ssh-ed25519'],
    ],
  )
  t.same(checkHostKey(entries, '127.0.0.1', server.port, key), { ok: true })
  t.match(checkHostKey(entries, '127.0.0.1', server.port + 1, key), { ok: false, problem: 'unknown' }, 'another port is another host')
  t.match(checkHostKey(entries.slice(0, 2), '127.0.0.1', server.port, key), { ok: false, problem: 'unknown' }, 'a key of another type only')
  t.equal(fingerprint(key), server.hostKeyFingerprint, 'the fingerprint is the one ssh-keygen prints')
})

t.test('an unknown host key is refused: fingerprint shown, and how to accept it', async (t) => {
  const empty = join(tempDir(t, 'kh'), 'known_hosts')
  writeFileSync(empty, '')
  const url = server.newUrl()
  const p = await open(t, server, { url, sftp: { identity_file: server.identityFile, known_hosts: empty } })
  const e = await refusal(t, p.put('k', Buffer.from('x')))
  t.equal(e.kind, 'hostkey')
  t.equal(e.exitCode, 5)
  t.ok(e.message.includes(server.hostKeyFingerprint), e.message)
  t.match(e.message, /host key is not known/)
  t.ok(e.message.includes(`ssh-keyscan -p ${server.port} -t ed25519 127.0.0.1 >> ${empty}`), 'the command that accepts it')
  t.match(e.message, /ssh-keygen -lf/, 'and how to check it first')
  t.same(onDisk(url), [], 'nothing was written')

  const missing = join(tempDir(t, 'kh'), 'no-such-file')
  const q = await open(t, server, { sftp: { identity_file: server.identityFile, known_hosts: missing } })
  await t.rejects(q.stat('k'), { kind: 'hostkey', message: /host key is not known/ }, 'no known_hosts file at all: the same')

  // Retrying does not wear the refusal down.
  const r = withRetries(await open(t, server, { sftp: { identity_file: server.identityFile, known_hosts: empty } }), {
    retries: 3,
    baseMs: 1,
  })
  await t.rejects(r.get('k'), { kind: 'hostkey', message: /host key is not known/ }, 'still refused through the retry policy')
})

t.test('a changed host key is refused, naming the line and the way to replace it', async (t) => {
  const other = await keygen(t)
  const otherKey = readFileSync(`${other}.pub`, 'utf8').split(' ').slice(0, 2).join(' ')
  const kh = join(tempDir(t, 'kh'), 'known_hosts')
  writeFileSync(kh, `# another server\nexample.com ${server.hostKey}\n${hostName} ${otherKey}\n`)
  const p = await open(t, server, { sftp: { identity_file: server.identityFile, known_hosts: kh } })
  const e = await refusal(t, p.get('k'))
  t.equal(e.kind, 'hostkey')
  t.match(e.message, /host key has CHANGED/)
  t.ok(e.message.includes(server.hostKeyFingerprint))
  t.match(e.message, new RegExp(`line 3 of ${kh}`))
  t.ok(e.message.includes(`ssh-keygen -R '${hostName}' -f ${kh}`))

  writeFileSync(kh, `@revoked * ${server.hostKey}\n${hostName} ${server.hostKey}\n`)
  const q = await open(t, server, { sftp: { identity_file: server.identityFile, known_hosts: kh } })
  await t.rejects(q.get('k'), { kind: 'hostkey', message: /marked @revoked/ }, 'a revoked key is refused even when also listed')
})

t.test('hashed known_hosts entries (ssh-keygen -H) are accepted', async (t) => {
  const other = await keygen(t)
  const kh = join(tempDir(t, 'kh'), 'known_hosts')
  // Another key for the same host on another port, and this one: both hashed by OpenSSH itself.
  writeFileSync(kh, `[127.0.0.1]:${server.port + 1} ${readFileSync(`${other}.pub`, 'utf8')}${hostName} ${server.hostKey}\n`)
  await run('/usr/bin/ssh-keygen', ['-H', '-f', kh])
  const text = readFileSync(kh, 'utf8')
  t.notMatch(text, /127\.0\.0\.1/, 'no host name left in clear')
  t.match(text, /^\|1\|/m)
  const p = await open(t, server, { sftp: { identity_file: server.identityFile, known_hosts: kh } })
  await p.put('k', Buffer.from('hashed'))
  t.equal(Buffer.from(await p.get('k')).toString(), 'hashed')
})

t.test('a key the server does not know: an auth error naming user, host and what to check', async (t) => {
  const wrong = await keygen(t)
  const p = await open(t, server, { sftp: { identity_file: wrong, known_hosts: server.knownHosts } })
  const e = await refusal(t, p.get('k'))
  t.equal(e.kind, 'auth')
  t.ok(e.message.includes(`refused to log in as ${server.user}`), e.message)
  t.ok(e.message.includes(`127.0.0.1:${server.port}`))
  t.ok(e.message.includes(`${wrong}.pub`) && e.message.includes('authorized_keys'), 'which public key to install, and where')

  const locked = await keygen(t, { passphrase: 'hunter22' })
  const q = await open(t, server, { sftp: { identity_file: locked, known_hosts: server.knownHosts } })
  const l = await refusal(t, q.get('k'))
  t.equal(l.kind, 'auth')
  t.ok(l.message.includes(`${locked} is protected by a passphrase`) && l.message.includes(`ssh-add ${locked}`), l.message)

  const missing = join(tempDir(t, 'key'), 'nope')
  await t.rejects(open(t, server, { sftp: { identity_file: missing, known_hosts: server.knownHosts } }), ConfigError)

  const home = tempDir(t, 'home')
  const none = await open(t, server, { sftp: { known_hosts: server.knownHosts }, env: { HOME: home } })
  await t.rejects(none.get('k'), { kind: 'auth', message: /no way to log in as .*: no usable SSH key, no ssh-agent/ })
})

t.test('logging in with ~/.ssh keys and known_hosts, and with ssh-agent', async (t) => {
  const home = tempDir(t, 'home')
  mkdirSync(join(home, '.ssh'))
  writeFileSync(join(home, '.ssh', 'id_ed25519'), readFileSync(server.identityFile), { mode: 0o600 })
  writeFileSync(join(home, '.ssh', 'known_hosts'), readFileSync(server.knownHosts))
  const p = await open(t, server, { sftp: {}, env: { HOME: home } })
  await p.put('k', Buffer.from('defaults'))
  t.equal(Buffer.from(await p.get('k')).toString(), 'defaults', 'the default key and known_hosts')

  // A private agent holding the key; the provider is given no key file at all.
  const sock = join(tempDir(t, 'agent'), 'agent.sock')
  const agent = spawn('/usr/bin/ssh-agent', ['-D', '-a', sock], { stdio: 'ignore' })
  t.teardown(() => new Promise<void>((r) => (agent.exitCode !== null ? r() : (agent.once('exit', () => r()), agent.kill()))))
  for (let i = 0; i < 100 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 20))
  await run('/usr/bin/ssh-add', ['-q', server.identityFile], { env: { SSH_AUTH_SOCK: sock } })
  const emptyHome = tempDir(t, 'home')
  const q = await open(t, server, { sftp: { known_hosts: server.knownHosts }, env: { HOME: emptyHome, SSH_AUTH_SOCK: sock } })
  await q.put('k', Buffer.from('agent'))
  t.equal(Buffer.from(await q.get('k')).toString(), 'agent', 'the agent key')
})

t.test('a missing base folder: says which folder to create', async (t) => {
  const url = `${server.newUrl()}/not/there`
  const p = await open(t, server, { url })
  const e = await refusal(t, p.put('k', Buffer.from('x')))
  t.equal(e.kind, 'missing')
  const path = new URL(url).pathname
  t.ok(e.message.includes(`the folder ${path} does not exist`) && e.message.includes(`mkdir -p '${path}'`), e.message)
  t.notOk(existsSync(path), 'nothing was created')

  // The base exists; the vault folder in it is made on the first write.
  const ok = server.newUrl()
  const q = await open(t, server, { url: ok, root: 'deep/er' })
  await q.put('s/k', Buffer.from('x'))
  t.same(onDisk(ok), ['deep', 'deep/er', 'deep/er/.tmp', 'deep/er/s', 'deep/er/s/k'])
})

t.test('a put whose stream fails leaves nothing in .tmp nor at the key', async (t) => {
  const url = server.newUrl()
  const p = await open(t, server, { url })
  async function* failing() {
    yield randomBytes(3_000_000)
    throw new Error('the source broke')
  }
  await t.rejects(p.put('s/k', failing()), /the source broke/)
  await t.rejects(p.put('s/k', failing(), { ifAbsent: true }), /the source broke/)
  t.same(onDisk(url, 'Cloudy/.tmp'), [], 'no temporary file left')
  t.notOk(existsSync(join(new URL(url).pathname, 'Cloudy/s/k')), 'no object')
  await p.put('s/k', Buffer.from('kept'))
  await t.rejects(p.put('s/k', failing()), /the source broke/)
  t.equal(readFileSync(join(new URL(url).pathname, 'Cloudy/s/k'), 'utf8'), 'kept', 'the old object stays whole')
  t.same(onDisk(url, 'Cloudy/.tmp'), [])
})

t.test('folders removed on the server are made again; a range to "the end" is cut to the file', async (t) => {
  const url = server.newUrl()
  const p = await open(t, server, { url })
  await p.put('s/ab/one', Buffer.from('one'))
  rmSync(join(new URL(url).pathname, 'Cloudy/s'), { recursive: true })
  rmSync(join(new URL(url).pathname, 'Cloudy/.tmp'), { recursive: true })
  await p.put('s/ab/two', Buffer.from('two'))
  await p.put('s/ab/three', Buffer.from('three'), { ifAbsent: true })
  t.same(onDisk(url, 'Cloudy/s'), ['ab', 'ab/three', 'ab/two'])
  const data = randomBytes(3 * 1024 * 1024)
  await p.put('big', data)
  t.ok(Buffer.from(await p.get('big', { offset: 1000, length: Number.MAX_SAFE_INTEGER })).equals(data.subarray(1000)))
  t.equal((await p.get('big', { offset: data.length + 5, length: 2 ** 40 })).length, 0)
})

t.test('connections that drop mid-run are reopened, and the retry policy carries the operation through', async (t) => {
  const url = server.newUrl()
  const retries: string[] = []
  const p = withRetries(await open(t, server, { url }), {
    retries: 5,
    baseMs: 10,
    maxMs: 100,
    onRetry: ({ op, error }) => retries.push(`${op}: ${(error as Error).message}`),
  })
  await p.put('a', Buffer.from('before'))
  t.equal(await server.dropConnections(), 1, 'one connection, dropped while idle')
  t.equal(Buffer.from(await p.get('a')).toString(), 'before', 'the next operation opens a new one')

  // Dropped while a put is under way: the whole put is done again on a new connection.
  const big = randomBytes(32 * 1024 * 1024)
  const raw = await open(t, server, { url })
  await raw.stat('a') // connected, so the drop below cuts the put itself
  let drops = 0
  const dropping = withRetries(
    {
      ...raw,
      async put(key, body, opts) {
        const putting = raw.put(key, body, opts)
        if (drops++ === 0) setTimeout(() => void server.dropConnections(), 5)
        return putting
      },
    },
    { retries: 5, baseMs: 10, maxMs: 100, onRetry: ({ op, error }) => retries.push(`${op}: ${(error as Error).message}`) },
  )
  await dropping.put('big', big)
  t.ok(
    retries.some((r) => /^writing big: .*connection to 127\.0\.0\.1:\d+ was lost/.test(r)),
    `retried as a transient failure: ${retries.join('; ')}`,
  )
  t.ok(Buffer.from(await p.get('big')).equals(big), 'the object is whole')

  // Dropped while a read is in flight: the answer is still the whole object.
  const reading = p.get('big')
  setImmediate(() => void server.dropConnections())
  t.ok(Buffer.from(await reading).equals(big))

  const listed: string[] = []
  for await (const o of p.list('')) listed.push(o.key)
  t.same(listed.sort(), ['a', 'big'])
})

t.test('a server that is not there: transient, then unreachable once out of tries', async (t) => {
  const stopped = await startSftpServer()
  const url = stopped.newUrl()
  const creds = { ...stopped.credentials.sftp! }
  const copy = mkdtempSync(join(tmpdir(), 'sftp-stopped-'))
  t.teardown(() => rmSync(copy, { recursive: true, force: true }))
  writeFileSync(join(copy, 'key'), readFileSync(creds.identity_file!), { mode: 0o600 })
  writeFileSync(join(copy, 'known_hosts'), readFileSync(creds.known_hosts!))
  await stopped.stop()
  const p = await open(t, stopped, { url, sftp: { identity_file: join(copy, 'key'), known_hosts: join(copy, 'known_hosts') } })
  await t.rejects(p.get('k'), TransientError)
  const r = withRetries(p, { retries: 2, baseMs: 1, maxMs: 2 })
  await t.rejects(r.get('k'), { kind: 'unreachable', message: /reading k failed 3 times .*cannot connect to 127\.0\.0\.1:\d+/ })
})

t.test('the provider name: where the vault is, no secret', async (t) => {
  const a = sftp({ host: 'h', user: 'u', base: '/srv', knownHosts: '/dev/null', password: 'pw' })
  t.equal(a.name, 'sftp://u@h/srv/Cloudy')
  const b = sftp({ host: '::1', port: 2200, user: 'u', base: '', root: 'V', knownHosts: '/dev/null' })
  t.equal(b.name, 'sftp://u@[::1]:2200/~/V')
  await a.close()
  await b.close()
})

/** Mount a 1 MiB tmpfs (root only) for the full-disk case. */
async function smallDisk(t: Test): Promise<string | undefined> {
  const dir = mkdtempSync(join(tmpdir(), 'sftp-full-'))
  try {
    await run('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', dir])
  } catch {
    rmSync(dir, { recursive: true, force: true })
    return undefined
  }
  t.teardown(async () => {
    await run('umount', [dir])
    rmSync(dir, { recursive: true, force: true })
  })
  return dir
}

t.test(
  'a full disk on the server: a quota error, and no temporary file left',
  { skip: process.getuid?.() !== 0 && 'needs root' },
  async (t) => {
    const dir = await smallDisk(t)
    if (!dir) return t.pass('skipped: this machine cannot mount a small tmpfs')
    const p: Provider = await open(t, server, { url: `sftp://${server.user}@127.0.0.1:${server.port}${dir}` })
    await p.put('small', Buffer.alloc(1000))
    const e = await refusal(t, p.put('big', randomBytes(2 * 1024 * 1024)))
    t.equal(e.kind, 'quota')
    t.match(e.message, /the server's disk is full .*free some space/)
    t.same(readdirSync(join(dir, 'Cloudy', '.tmp')), [], 'the partial temp file was removed')
    t.same(readdirSync(join(dir, 'Cloudy')).sort(), ['.tmp', 'small'])
  },
)
