/**
 * The Dropbox provider's own behaviour against the fake, through the real SDK: tokens (refresh,
 * write-back, revocation), rate limits, pagination, conflicts, upload sessions, the login flow
 * and the change feed.
 */
import t, { type Test } from 'tap'
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFileSync, statSync, writeFileSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { parse, stringify } from 'smol-toml'
import { CredentialStore } from '../../lib/credentials.js'
import { AlreadyExistsError, NotFoundError, ProviderError, TransientError, UsageError } from '../../lib/errors.js'
import { loginDropbox, openDropbox, type DropboxProvider } from '../../providers/dropbox.js'
import type { ProviderChange } from '../../providers/provider.js'
import { openProvider } from '../../providers/index.js'
import { withRetries } from '../../providers/retry.js'
import { startDropboxFake } from '../fakes/dropbox.js'
import { cloudyArgv, cloudy, computer, initVault, joinedComputer } from '../helpers/cli.js'
import { tempDir } from '../helpers/temp.js'
import { describeTree } from '../helpers/tree.js'

const fake = await startDropboxFake()
t.teardown(() => fake.stop())

/** A credentials.toml (0600) with a fresh grant of the fake's account, plus `fields`. */
function account(t: Test, fields: Record<string, string> = {}): CredentialStore {
  const file = join(tempDir(t, 'dropbox-creds'), 'credentials.toml')
  writeFileSync(file, stringify({ dropbox: { app_key: fake.appKey, refresh_token: fake.grant(), ...fields } }) + '\n', { mode: 0o600 })
  return new CredentialStore(file)
}

async function open(t: Test, credentials: CredentialStore, url = fake.newUrl(), env = fake.env): Promise<DropboxProvider> {
  const p = await openDropbox(url, { root: 'Cloudy', credentials, env })
  t.teardown(() => p.close())
  return p
}

const table = (c: CredentialStore) => parse(readFileSync(c.file, 'utf8')).dropbox as Record<string, string>
const mode = (c: CredentialStore) => statSync(c.file).mode & 0o777
const text = async (p: Promise<Uint8Array>) => Buffer.from(await p).toString()

async function* pieces(data: Buffer, size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size)
}

t.test('provider URLs and a missing login', async (t) => {
  const c = account(t)
  t.equal((await open(t, c, 'dropbox:/Backups/my%20stuff')).name, 'dropbox:/Backups/my stuff/Cloudy')
  t.equal((await open(t, c, 'dropbox:/')).name, 'dropbox:/Cloudy')
  t.equal((await openDropbox('dropbox:/a/', { root: 'V/W', credentials: c, env: fake.env })).name, 'dropbox:/a/V/W')
  await t.rejects(openDropbox('dropbox:/', { root: '', credentials: c, env: fake.env }), /a folder of its own/)
  await t.rejects(openDropbox('dropbox:a', { root: 'Cloudy', credentials: c, env: fake.env }), UsageError)
  await t.rejects(openDropbox('dropbox:/a/../b', { root: 'Cloudy', credentials: c, env: fake.env }), /plain folder names/)
  await t.rejects(openDropbox('dropbox:/a?x=1', { root: 'Cloudy', credentials: c, env: fake.env }), /unknown option "x"/)
  await t.rejects(
    openDropbox('dropbox:/a', { root: 'Cloudy', credentials: c, env: { CLOUDY_DROPBOX_API_URL: 'ftp://x' } }),
    /http or https/,
  )
  const empty = new CredentialStore(join(tempDir(t), 'credentials.toml'))
  const e = await openDropbox('dropbox:/a', { root: 'Cloudy', credentials: empty, env: fake.env }).catch((e: unknown) => e)
  t.ok(e instanceof ProviderError && e.kind === 'auth' && e.exitCode === 5, 'no login: an auth error')
  t.match((e as Error).message, /cloudy provider login dropbox/)

  // Through openProvider: loaded on demand, under the retry policy.
  const p = await openProvider(fake.newUrl(), { credentials: c, env: fake.env })
  t.teardown(() => p.close())
  await p.put('k', Buffer.from('via openProvider'))
  t.equal(await text(p.get('k')), 'via openProvider')
})

t.test('an access token the API calls expired is refreshed, the call made again, the new token saved (0600)', async (t) => {
  const stale = fake.accessToken(-1000)
  // The file says the token is good for hours (clock skew, a token revoked early): the API decides.
  const c = account(t, { access_token: stale, expires_at: new Date(Date.now() + 3600_000).toISOString() })
  const before = { upload401: fake.count('/2/files/upload', 401), token: fake.count('/oauth2/token') }
  const url = fake.newUrl()
  const p = await open(t, c, url)
  await p.put('x', Buffer.from('hello'))
  t.equal(fake.count('/2/files/upload', 401) - before.upload401, 1, 'the first try was refused as expired')
  t.equal(fake.count('/oauth2/token') - before.token, 1, 'one refresh')
  t.equal(await text(p.get('x')), 'hello', 'and the call made again')
  const saved = table(c)
  t.not(saved.access_token, stale, 'a new access token is saved')
  t.ok(Date.parse(saved.expires_at!) > Date.now() + 3 * 3600_000, `expires_at is the new token's (${saved.expires_at})`)
  t.equal(saved.refresh_token, (await c.section('dropbox'))?.refresh_token, 'the refresh token is kept')
  t.equal(mode(c), 0o600, 'credentials.toml stays private')

  // The next run uses the saved token without refreshing.
  const again = await open(t, c, url)
  const tokenCalls = fake.count('/oauth2/token')
  t.equal(await text(again.get('x')), 'hello')
  t.equal(fake.count('/oauth2/token'), tokenCalls, 'no refresh for a token still good')
})

t.test('a token past its expires_at, or none at all, is refreshed before the call', async (t) => {
  const cases: Record<string, string>[] = [
    { access_token: fake.accessToken(60_000), expires_at: new Date(Date.now() + 60_000).toISOString() },
    {},
  ]
  for (const fields of cases) {
    const c = account(t, fields)
    const before = { token: fake.count('/oauth2/token'), refused: fake.count('/2/files/get_metadata', 401) }
    const p = await open(t, c)
    t.equal(await p.stat('nothing'), undefined)
    t.equal(fake.count('/oauth2/token') - before.token, 1, 'refreshed first')
    t.equal(fake.count('/2/files/get_metadata', 401), before.refused, 'no call was refused')
    t.ok(table(c).access_token, 'the token is saved')
  }
  // 20 calls at once share one refresh.
  const c = account(t)
  const p = await open(t, c)
  const before = fake.count('/oauth2/token')
  await Promise.all(Array.from({ length: 20 }, (_, i) => p.stat(`k${i}`)))
  t.equal(fake.count('/oauth2/token') - before, 1, 'one refresh for concurrent calls')
})

t.test('a revoked login: an auth error that names the fix, and no secret in it', async (t) => {
  const c = account(t)
  const p = await open(t, c)
  await p.put('x', Buffer.from('before'))
  const secrets = table(c)
  fake.revoke()
  for (const provider of [p, withRetries(p)]) {
    const e = await provider.get('x').catch((e: unknown) => e)
    t.ok(e instanceof ProviderError, 'a ProviderError')
    t.equal((e as ProviderError).kind, 'auth')
    t.equal((e as ProviderError).exitCode, 5)
    t.match((e as Error).message, /^dropbox:\/test-[^:]+\/Cloudy: .*cloudy provider login dropbox/)
    for (const s of [secrets.access_token!, secrets.refresh_token!]) t.notOk((e as Error).message.includes(s), 'no token in the message')
  }
  // The same for a refresh refused outright (no access token to begin with).
  const q = await open(t, account(t))
  fake.revoke()
  await t.rejects(q.stat('x'), { kind: 'auth', message: /cloudy provider login dropbox/ })
})

t.test('429 and 5xx are transient, with the Retry-After; the retry policy waits that long', async (t) => {
  const p = await open(t, account(t))
  await p.put('k', Buffer.from('v'))
  fake.throttle(1, 7)
  const e = await p.get('k').catch((e: unknown) => e)
  t.ok(e instanceof TransientError, '429: transient')
  t.equal((e as TransientError).retryAfterMs, 7000, 'Retry-After in ms')
  fake.failNext(1, 500)
  t.ok((await p.stat('k').catch((e: unknown) => e)) instanceof TransientError, '500: transient')

  const delays: number[] = []
  const retrying = withRetries(p, { sleep: async (ms) => void delays.push(ms), random: () => 0 })
  fake.throttle(2, 3)
  t.equal(await text(retrying.get('k')), 'v', 'got through after two 429s')
  t.same(delays, [3000, 3000], 'waited what the server asked, not the (zero) backoff')
  fake.throttle(1, 2)
  await retrying.put('k2', pieces(randomBytes(1000), 100))
  t.equal((await p.stat('k2'))?.size, 1000, 'a streamed put replayed after a 429')
  t.same(delays, [3000, 3000, 2000])

  // Nobody listening: a network failure, transient.
  const port = await new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const a = s.address() as { port: number }
      s.close(() => resolve(a.port))
    })
  })
  const down = await open(t, account(t), fake.newUrl(), { CLOUDY_DROPBOX_API_URL: `http://127.0.0.1:${port}` })
  await t.rejects(down.stat('k'), TransientError, 'connection refused: transient')
})

t.test('pagination: a listing over many pages gives each key once', async (t) => {
  fake.pageSize = 10
  t.teardown(() => (fake.pageSize = 100))
  const p = await open(t, account(t))
  const keys = Array.from({ length: 57 }, (_, i) => `s/${(i % 3).toString(16)}/k${i}`)
  await Promise.all(keys.map((k) => p.put(k, Buffer.from(k))))
  const before = fake.count('/2/files/list_folder/continue')
  const listed: string[] = []
  for await (const o of p.list('s/')) listed.push(o.key)
  const pages = fake.count('/2/files/list_folder/continue') - before + 1
  t.ok(pages > 3, `${pages} pages`)
  t.same(listed.sort(), [...keys].sort(), 'each key once')
  const sub: string[] = []
  for await (const o of p.list('s/1/')) sub.push(o.key)
  t.same(sub.sort(), keys.filter((k) => k.startsWith('s/1/')).sort(), 'a sub-folder')
})

t.test('Dropbox ignores case: a file another client put as X/Y is x/y too', async (t) => {
  const url = fake.newUrl()
  const p = await open(t, account(t), url)
  fake.writeFile(`${url.slice('dropbox:'.length)}/Cloudy/Docs/Readme.TXT`, Buffer.from('from the desktop app'))
  fake.writeFile(`${url.slice('dropbox:'.length)}/Cloudy/Docs/not a key`, Buffer.from('ignored'))
  const all: string[] = []
  for await (const o of p.list('')) all.push(o.key)
  t.same(all, ['Docs/Readme.TXT'], 'listed with its stored case; names that are not keys are left out')
  t.equal(await text(p.get('docs/readme.txt')), 'from the desktop app')
  const lower: string[] = []
  for await (const o of p.list('docs/')) lower.push(o.key)
  t.same(lower, ['docs/Readme.TXT'], 'the prefix is kept as the caller wrote it')
  await t.rejects(p.put('DOCS/README.txt', Buffer.from('x'), { ifAbsent: true }), AlreadyExistsError)
})

t.test('if-absent: a conflict, even with the same bytes, small or through a session; the object stays', async (t) => {
  const p = await open(t, account(t))
  await p.put('c/k', Buffer.from('first'), { ifAbsent: true })
  await t.rejects(p.put('c/k', Buffer.from('second'), { ifAbsent: true }), AlreadyExistsError)
  await t.rejects(p.put('c/k', Buffer.from('first'), { ifAbsent: true }), AlreadyExistsError, 'same bytes: still a conflict')
  const big = randomBytes(9 * 1024 * 1024)
  await t.rejects(p.put('c/k', pieces(big, 1 << 20), { ifAbsent: true }), AlreadyExistsError, 'at the session finish')
  t.equal(await text(p.get('c/k')), 'first')
})

t.test('a large streamed put goes through an upload session, 8 MiB a call at most', async (t) => {
  const p = await open(t, account(t))
  const from = fake.hits.length
  const data = randomBytes(20 * 1024 * 1024 + 5)
  await p.put('big', pieces(data, 777_777))
  const hits = fake.hits.slice(from)
  const used = (e: string) => hits.filter((h) => h.endpoint === e).length
  t.equal(used('/2/files/upload_session/start'), 1)
  t.equal(used('/2/files/upload_session/append_v2'), 1)
  t.equal(used('/2/files/upload_session/finish'), 1)
  t.equal(used('/2/files/upload'), 0)
  t.ok(Math.max(...hits.map((h) => h.bytes)) <= 8 * 1024 * 1024, 'no call carries more than 8 MiB')
  t.ok(Buffer.from(await p.get('big')).equals(data), 'stored whole')
  t.ok(
    Buffer.from(await p.get('big', { offset: 20 * 1024 * 1024, length: 100 })).equals(data.subarray(20 * 1024 * 1024)),
    'a range at the end',
  )

  // A stream that breaks after the session started commits nothing.
  async function* breaks() {
    yield randomBytes(9 * 1024 * 1024)
    throw new Error('source broke')
  }
  await t.rejects(p.put('broken', breaks()), /source broke/)
  await t.rejects(p.get('broken'), NotFoundError)
  t.equal(fake.file(`${p.name.slice('dropbox:'.length)}/broken`), undefined)
})

t.test('a full account: kind quota', async (t) => {
  const p = await open(t, account(t))
  fake.quotaBytes = fake.used + 10
  t.teardown(() => (fake.quotaBytes = Number.POSITIVE_INFINITY))
  await t.rejects(p.put('q', Buffer.alloc(100)), { kind: 'quota', exitCode: 5, message: /full/ })
  await t.rejects(p.put('q', pieces(Buffer.alloc(17 * 1024 * 1024), 1 << 20)), { kind: 'quota', message: /full/ }, 'through a session too')
  await t.rejects(p.get('q'), NotFoundError)
})

t.test('login: browser consent through the loopback redirect, tokens into credentials.toml (0600)', async (t) => {
  const credentials = new CredentialStore(join(tempDir(t, 'login'), 'cloudy', 'credentials.toml'))
  let said = ''
  let opened!: (url: string) => void
  const authorizeUrl = new Promise<string>((resolve) => (opened = resolve))
  const login = loginDropbox({
    credentials,
    env: fake.env,
    options: { 'app-key': fake.appKey },
    say: (text) => {
      said += text
      const url = /https?:\/\/\S+/.exec(text)?.[0]
      if (url) opened(url)
    },
  })
  // The browser: the fake's consent page sends it straight back to Cloudy's loopback.
  const page = await fetch(await authorizeUrl)
  t.equal(page.status, 200)
  t.match(await page.text(), /Cloudy is connected/)
  await login
  const url = new URL(await authorizeUrl)
  t.equal(url.origin + url.pathname, `${fake.url}/oauth2/authorize`)
  t.equal(url.searchParams.get('code_challenge_method'), 'S256')
  t.equal(url.searchParams.get('token_access_type'), 'offline')
  t.match(url.searchParams.get('redirect_uri'), /^http:\/\/127\.0\.0\.1:\d+\/callback$/)
  t.match(said, /open this address in a browser/)
  const saved = table(credentials)
  t.equal(saved.app_key, fake.appKey)
  t.ok(saved.refresh_token && saved.access_token && saved.expires_at, 'refresh_token, access_token, expires_at')
  t.equal(mode(credentials), 0o600)
  const p = await open(t, credentials)
  await p.put('after-login', Buffer.from('works'))
  t.equal(await text(p.get('after-login')), 'works')
})

t.test('login: refused in the browser, or no app key to use', async (t) => {
  const credentials = new CredentialStore(join(tempDir(t, 'login'), 'credentials.toml'))
  fake.denyNextLogin()
  const login = loginDropbox({
    credentials,
    env: fake.env,
    options: { 'app-key': fake.appKey },
    say: (text) => void fetch(/https?:\/\/\S+/.exec(text)![0]).then((r) => r.text()),
  })
  await t.rejects(login, { kind: 'auth', message: /access_denied.*cloudy provider login dropbox/ })
  t.same(await credentials.read(), {}, 'nothing written')
  await t.rejects(loginDropbox({ credentials, env: fake.env, options: {}, say: () => {} }), { name: 'UsageError', message: /--app-key/ })
})

t.test('watch: a long poll reports what another client changes under the prefix', async (t) => {
  const url = fake.newUrl()
  const watcher = await open(t, account(t), url)
  const other = await open(t, account(t), url)
  await other.put('s/start', Buffer.from('the vault folder exists'))

  const changes: ProviderChange[] = []
  let notify: () => void = () => {}
  const stop = new AbortController()
  const waiting = fake.waiting
  const watching = watcher.watch(
    's/',
    (c) => {
      changes.push(c)
      notify()
    },
    stop.signal,
  )
  const next = (n: number) =>
    new Promise<void>((resolve) => {
      notify = () => changes.length >= n && resolve()
      notify()
    })
  for (let i = 0; fake.waiting === waiting && i < 500; i++) await new Promise((r) => setTimeout(r, 10))
  t.equal(fake.waiting, waiting + 1, 'the long poll is waiting')

  await other.put('h/outside', Buffer.from('not watched'))
  await other.put('s/ab/new', Buffer.from('twelve bytes'))
  await next(1)
  t.match(changes[0], { type: 'put', key: 's/ab/new', size: 12 })
  await other.delete('s/ab/new')
  await next(2)
  t.same(changes[1], { type: 'delete', key: 's/ab/new' })
  t.equal(changes.length, 2, 'nothing outside the prefix, no folders')

  stop.abort()
  await watching
  t.pass('the watch ends when aborted')
  for (let i = 0; fake.waiting > waiting && i < 200; i++) await new Promise((r) => setTimeout(r, 10))
  t.equal(fake.waiting, waiting, 'and its long poll is gone')

  const none = await open(t, account(t))
  await t.rejects(
    none.watch('', () => {}, new AbortController().signal),
    { kind: 'missing', message: /no vault folder/ },
  )
})

t.test('the command line: login, two computers over Dropbox, and a revoked login that changes nothing here', async (t) => {
  const a = computer(t)
  a.env = { ...fake.env }
  // `cloudy provider login dropbox`, with the browser played by a fetch of the printed address.
  const child = spawn(...cloudyArgv(['provider', 'login', 'dropbox', '--app-key', fake.appKey]), {
    env: { PATH: process.env.PATH, HOME: a.home, CLOUDY_HOME: a.cloudyHome, ...fake.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  t.teardown(() => void child.kill('SIGKILL'))
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d) => (stdout += d))
  const printed = new Promise<string>((resolve) =>
    child.stderr.on('data', (d) => {
      stderr += d
      const url = /https?:\/\/\S+/.exec(stderr)?.[0]
      if (url) resolve(url)
    }),
  )
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve))
  const browser = await fetch(await printed)
  t.equal(browser.status, 200)
  t.equal(await exited, 0, stderr)
  t.match(stdout, /Connected to Dropbox/)
  const creds = new CredentialStore(join(a.cloudyHome, 'credentials.toml'))
  t.equal(mode(creds), 0o600)
  t.ok(table(creds).refresh_token, 'logged in')

  await mkdir(join(a.home, 'cfg'))
  await writeFile(join(a.home, 'cfg/one.txt'), 'one')
  const url = fake.newUrl()
  await initVault(t, a, url, ['~/cfg'], 'a')
  const up = await cloudy(a, ['sync', 'up'])
  t.equal(up.code, 0, up.stderr)

  const b = await joinedComputer(t, url, ['~/cfg'], 'b', fake)
  t.equal(readFileSync(join(b.home, 'cfg/one.txt'), 'utf8'), 'one', 'the second computer has it')

  // The user disconnects Cloudy in Dropbox's settings: exit 5, the provider and the fix named.
  await writeFile(join(a.home, 'cfg/two.txt'), 'two')
  const before = await describeTree(a.home)
  const secrets = table(creds)
  fake.revoke()
  const bad = await cloudy(a, ['sync', 'up'])
  t.equal(bad.code, 5, bad.stderr)
  t.match(bad.stderr, /dropbox:\/test-[^ ]*\/Cloudy: .*cloudy provider login dropbox/)
  for (const s of [secrets.access_token!, secrets.refresh_token!]) t.notOk(bad.stderr.includes(s), 'no token in the message')
  t.same(await describeTree(a.home), before, 'the home folder is untouched')
})
