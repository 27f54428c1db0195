import t, { type Test } from 'tap'
import { randomBytes } from 'node:crypto'
import { stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { inspect } from 'node:util'
import { CredentialStore } from '../../lib/credentials.js'
import { ProviderError, TransientError, UsageError } from '../../lib/errors.js'
import { gdrive, gdriveEndpoints, loginGdrive, openGdrive, type GdriveProvider } from '../../providers/gdrive.js'
import type { ProviderChange } from '../../providers/provider.js'
import { openProvider } from '../../providers/index.js'
import type { Provider } from '../../providers/provider.js'
import { startGdriveFake, type GdriveFake, type GdriveFakeOptions } from '../fakes/gdrive.js'
import { tempDir } from '../helpers/temp.js'

async function fakeFor(t: Test, options: GdriveFakeOptions = {}): Promise<GdriveFake> {
  const fake = await startGdriveFake(options)
  t.teardown(() => fake.stop())
  return fake
}

/** A computer's credentials.toml (0600) with `table` as its [gdrive] table. */
async function credentialsFor(t: Test, table: Record<string, string>): Promise<CredentialStore> {
  const file = join(tempDir(t, 'gdrive-creds'), 'credentials.toml')
  const { stringify } = await import('smol-toml')
  await writeFile(file, stringify({ gdrive: table }) + '\n', { mode: 0o600 })
  return new CredentialStore(file)
}

/** A raw provider (no retry policy) on `url`, for a computer with `credentials`. */
async function raw(t: Test, fake: GdriveFake, url: string, credentials: CredentialStore, options = {}): Promise<GdriveProvider> {
  const p = await gdrive({
    folder: [url.slice('gdrive:/'.length), 'Cloudy'],
    credentials,
    endpoints: gdriveEndpoints(fake.env),
    ...options,
  })
  t.teardown(() => p.close())
  return p
}

/** What `p` rejects with, which must be a ProviderError. */
async function refusal(p: Promise<unknown>): Promise<ProviderError> {
  try {
    await p
  } catch (e) {
    if (e instanceof ProviderError) return e
    throw e
  }
  throw new Error('expected a ProviderError')
}

async function listAll(p: Provider, prefix: string): Promise<string[]> {
  const out: string[] = []
  for await (const o of p.list(prefix)) out.push(o.key)
  return out.sort()
}

t.test('an expired access token is refreshed and written back to credentials.toml (0600)', async (t) => {
  const fake = await fakeFor(t)
  const credentials = await credentialsFor(t, fake.credentials.gdrive!)
  const p = await raw(t, fake, fake.newUrl(), credentials)
  await p.put('k', Buffer.from('one'))
  t.equal(fake.count('token.refresh'), 1, 'no access token yet: one refresh')
  const first = (await credentials.section('gdrive'))!
  t.match(first.access_token, /^ya29\./, 'the access token is written back')
  t.ok(Date.parse(first.expires_at!) > Date.now() + 30 * 60_000, 'with its expiry (ISO time)')
  t.equal(first.refresh_token, fake.refreshToken, 'the refresh token is kept')
  t.equal((await stat(credentials.file)).mode & 0o777, 0o600)

  fake.expireAccessTokens()
  t.same(Buffer.from(await p.get('k')).toString(), 'one', 'a 401 on an expired token: refreshed, and the request goes through')
  t.equal(fake.count('token.refresh'), 2)
  const second = (await credentials.section('gdrive'))!
  t.not(second.access_token, first.access_token, 'the new token is written back')
  t.equal((await stat(credentials.file)).mode & 0o777, 0o600, 'the file stays private')

  // The next run takes the stored token without asking for another.
  const again = await raw(t, fake, 'gdrive:/elsewhere', credentials)
  t.equal(await again.stat('k'), undefined)
  t.equal(fake.count('token.refresh'), 2, 'no refresh while the stored token is valid')

  // A stored token about to expire is refreshed before use.
  await credentials.update('gdrive', { expires_at: new Date(Date.now() + 60_000).toISOString() })
  const third = await raw(t, fake, 'gdrive:/elsewhere', credentials)
  t.equal(await third.stat('k'), undefined)
  t.equal(fake.count('token.refresh'), 3)
})

t.test('tokens that live a short time are used while valid, then renewed', async (t) => {
  const fake = await fakeFor(t, { tokenLifetimeMs: 1200 })
  const p = await raw(t, fake, fake.newUrl(), await credentialsFor(t, fake.credentials.gdrive!))
  await p.put('k', Buffer.from('x'))
  for (let i = 0; i < 5; i++) t.equal((await p.stat('k'))?.size, 1)
  t.equal(fake.count('token.refresh'), 1, 'one token for many requests')
  await new Promise((r) => setTimeout(r, 1300))
  t.equal((await p.stat('k'))?.size, 1)
  t.equal(fake.count('token.refresh'), 2, 'renewed once it expired')
})

t.test('a revoked sign-in is an auth refusal that names "cloudy provider login gdrive", at once', async (t) => {
  const fake = await fakeFor(t)
  const credentials = await credentialsFor(t, fake.credentials.gdrive!)
  const retries: unknown[] = []
  const p = await openProvider(fake.newUrl(), { credentials, env: fake.env, retry: { baseMs: 1, onRetry: (i) => retries.push(i) } })
  t.teardown(() => p.close())
  await p.put('k', Buffer.from('x'))
  fake.revoke()
  const e = await refusal(p.get('k'))
  t.equal(e.kind, 'auth')
  t.equal(e.exitCode, 5)
  t.match(e.message, /cloudy provider login gdrive/)
  t.match(e.message, /revoked or has expired/)
  t.same(retries, [], 'not retried: another try cannot cure it')
  const table = (await credentials.section('gdrive'))!
  for (const secret of [table.access_token!, table.refresh_token!, table.client_secret!]) {
    t.notOk(inspect(e, { depth: 20 }).includes(secret), 'no secret in the error')
  }

  // No sign-in at all: refused when opened.
  const empty = new CredentialStore(join(tempDir(t), 'credentials.toml'))
  const none = await refusal(openProvider(fake.newUrl(), { credentials: empty, env: fake.env }))
  t.equal(none.kind, 'auth')
  t.match(none.message, /cloudy provider login gdrive/)
})

t.test('errors carry no secret, whatever failed', async (t) => {
  const fake = await fakeFor(t, { quotaBytes: 10 })
  const credentials = await credentialsFor(t, fake.credentials.gdrive!)
  const p = await raw(t, fake, fake.newUrl(), credentials)
  t.equal(await p.stat('k'), undefined)
  const table = (await credentials.section('gdrive'))!
  const quota = await p.put('k', randomBytes(100)).catch((e: unknown) => e)
  t.ok(quota instanceof ProviderError && quota.kind === 'quota', 'an API refusal')
  fake.failNext(1, { status: 400, reason: 'badRequest' })
  const refused = await p.stat('k').catch((e: unknown) => e)
  t.ok(refused instanceof ProviderError && refused.kind === 'refused', 'a bad request')
  await fake.stop()
  const gone = await p.stat('k').catch((e: unknown) => e)
  t.ok(gone instanceof TransientError, 'no answer at all')
  for (const e of [quota, refused, gone]) {
    const shown = inspect(e, { depth: 20 })
    t.notOk(
      [table.access_token!, table.refresh_token!, table.client_secret!].some((s) => shown.includes(s)),
      'no secret in the error or its causes',
    )
  }
})

t.test('storageQuotaExceeded is a quota refusal, small or resumable, and leaves nothing', async (t) => {
  const fake = await fakeFor(t, { quotaBytes: 1_000_000 })
  const credentials = await credentialsFor(t, fake.credentials.gdrive!)
  const p = await openProvider(fake.newUrl(), { credentials, env: fake.env, retry: { baseMs: 1 } })
  t.teardown(() => p.close())
  await p.put('fits', randomBytes(1000))
  const small = await refusal(p.put('small', randomBytes(1_000_000)))
  t.equal(small.kind, 'quota')
  t.match(small.message, /Google Drive account is full/)
  const big = await refusal(p.put('big', randomBytes(6 * 1024 * 1024)))
  t.equal(big.kind, 'quota', 'a resumable upload refused at its end')
  t.equal(big.exitCode, 5)
  t.same(await listAll(p, ''), ['fits'], 'nothing stored by the refused puts')
})

t.test('rate limits: Retry-After is honoured through the retry policy; both 403 and 429 are transient', async (t) => {
  const fake = await fakeFor(t)
  const credentials = await credentialsFor(t, fake.credentials.gdrive!)
  const retries: { delayMs: number; error: unknown }[] = []
  const p = await openProvider(fake.newUrl(), {
    credentials,
    env: fake.env,
    retry: { baseMs: 1, maxMs: 5, onRetry: (i) => retries.push(i) },
  })
  t.teardown(() => p.close())
  await p.put('k', Buffer.from('x'))

  fake.failNext(1, { status: 429, reason: 'rateLimitExceeded', retryAfterSeconds: 1, op: 'files.download' })
  const started = Date.now()
  t.same(Buffer.from(await p.get('k')).toString(), 'x')
  t.ok(Date.now() - started >= 1000, 'waited as asked')
  t.equal(retries.length, 1)
  t.ok(retries[0]!.delayMs >= 1000, `the wait (${retries[0]!.delayMs} ms) is at least Retry-After`)
  t.ok(retries[0]!.error instanceof TransientError && retries[0]!.error.retryAfterMs === 1000)

  fake.failNext(2, { status: 403, reason: 'userRateLimitExceeded', op: 'files.list' })
  t.same(await listAll(p, ''), ['k'], 'a 403 rate limit is ridden out too')
  t.equal(retries.length, 3)

  // Without the retry policy the provider says what it is, and does not retry by itself.
  const bare = await raw(t, fake, 'gdrive:/bare', credentials)
  fake.failNext(1, { status: 503, reason: 'backendError' })
  await t.rejects(bare.stat('k'), TransientError)
})

t.test('listings go over many pages', async (t) => {
  const fake = await fakeFor(t, { maxPageSize: 5 })
  const credentials = await credentialsFor(t, fake.credentials.gdrive!)
  const p = await raw(t, fake, fake.newUrl(), credentials)
  const keys = Array.from({ length: 23 }, (_, i) => `p/${String(i).padStart(2, '0')}`)
  for (const k of keys) await p.put(k, Buffer.from(k))
  await p.put('q/other', Buffer.from('x'))
  const before = fake.count('files.list')
  t.same(await listAll(p, 'p/'), keys)
  t.ok(fake.count('files.list') - before >= 5, `23 files at 5 a page: ${fake.count('files.list') - before} pages`)
  t.same(await listAll(p, ''), [...keys, 'q/other'], 'the whole vault, folders and pages')
})

t.test('a large streamed put goes up resumably, streaming, and resumes after a broken chunk', async (t) => {
  const fake = await fakeFor(t)
  const credentials = await credentialsFor(t, fake.credentials.gdrive!)
  const url = fake.newUrl()
  const p = await raw(t, fake, url, credentials)
  const size = 12 * 1024 * 1024
  const data = randomBytes(size)
  let given = 0
  async function* source() {
    for (let at = 0; at < size; at += 64 * 1024) {
      given += 64 * 1024
      yield data.subarray(at, at + 64 * 1024)
    }
  }
  const givenAtFirstChunk: number[] = []
  fake.onChunk = () => givenAtFirstChunk.push(given)
  // The first chunk's connection breaks after 3 MiB and a bit: the server keeps 3 MiB.
  fake.dropNextChunk(3 * 1024 * 1024 + 1000)
  await p.put('big', source())
  t.ok(Buffer.from(await p.get('big')).equals(data), 'the object is whole')
  t.equal(fake.count('upload.status'), 1, 'one status query after the broken chunk')
  t.equal(fake.count('upload.chunk'), 3, 'the broken chunk, its rest, the last chunk')
  t.ok(fake.stats.chunkBytes < size + 1024 * 1024, `not started over: ${fake.stats.chunkBytes} bytes sent for ${size}`)
  t.ok(
    givenAtFirstChunk[0]! <= 9 * 1024 * 1024,
    `the body is read as it goes: ${givenAtFirstChunk[0]} bytes read when the first chunk went`,
  )
  const folder = `${url.slice('gdrive:/'.length)}/Cloudy/big`
  t.equal(fake.at(folder).length, 1, 'one file')
  const id = fake.at(folder)[0]!.id

  // An overwrite replaces the content of the same file (readers see old or new, whole).
  const other = randomBytes(9 * 1024 * 1024)
  await p.put('big', other)
  t.ok(Buffer.from(await p.get('big')).equals(other))
  t.same(
    fake.at(folder).map((f) => f.id),
    [id],
    'the same file, updated',
  )
  t.same(Buffer.from(await p.get('big', { offset: 9 * 1024 * 1024 - 3, length: 10 })), other.subarray(-3), 'a range read at the end')
})

t.test('computers creating the same folders and key at once settle on one of each', async (t) => {
  const fake = await fakeFor(t)
  const url = fake.newUrl()
  // Six computers, each its own provider (own caches, own sign-in), on a vault not made yet.
  const ps = await Promise.all(
    Array.from({ length: 6 }, async () =>
      raw(t, fake, url, await credentialsFor(t, { ...fake.credentials.gdrive!, refresh_token: fake.issueRefreshToken() })),
    ),
  )
  await Promise.all(ps.map((p, i) => p.put(`d/k${i}`, Buffer.from(String(i)))))
  const base = url.slice('gdrive:/'.length)
  t.ok(
    (fake.stats.folderCreates.get('Cloudy') ?? 0) > 1,
    `the race happened: ${fake.stats.folderCreates.get('Cloudy')} "Cloudy" folders made`,
  )
  t.equal(fake.at(base).length, 1, 'one folder of the URL')
  t.equal(fake.at(`${base}/Cloudy`).length, 1, 'one vault folder')
  t.equal(fake.at(`${base}/Cloudy/d`).length, 1, 'one "d" folder')
  t.equal(fake.children(fake.at(`${base}/Cloudy/d`)[0]!.id).length, 6, 'every file in it')
  const fresh = await raw(t, fake, url, await credentialsFor(t, fake.credentials.gdrive!))
  t.same(await listAll(fresh, ''), ['d/k0', 'd/k1', 'd/k2', 'd/k3', 'd/k4', 'd/k5'])

  // If-absent puts of one key from several computers: exactly one wins.
  const results = await Promise.allSettled(ps.map((p, i) => p.put('c/k', Buffer.from(`writer ${i}`), { ifAbsent: true })))
  const won = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []))
  t.equal(won.length, 1, 'one winner')
  for (const p of [fresh, ...ps]) t.same(Buffer.from(await p.get('c/k')).toString(), `writer ${won[0]}`, 'everyone reads the winner')
  t.equal(fake.at(`${base}/Cloudy/c/k`).length, 1, "the losers' files are gone")

  // Another computer deletes and writes the key again: a stale cached id is noticed.
  await ps[1]!.delete('d/k0')
  t.equal(await ps[0]!.stat('d/k0'), undefined)
  await ps[1]!.put('d/k0', Buffer.from('again'))
  t.same(Buffer.from(await ps[0]!.get('d/k0')).toString(), 'again')
})

t.test('login: consent in the browser, tokens into credentials.toml, and the provider works with them', async (t) => {
  const fake = await fakeFor(t)
  const dir = tempDir(t)
  const credentials = new CredentialStore(join(dir, 'credentials.toml'))
  const said: string[] = []
  let browsed: Promise<Response> | undefined
  await loginGdrive({
    credentials,
    env: fake.env,
    options: { 'client-id': fake.clientId, 'client-secret': fake.clientSecret },
    say: (text) => {
      said.push(text)
      // The user opens the printed address; the consent page sends the browser back to Cloudy.
      const url = /https?:\/\/\S+/.exec(text)?.[0]
      if (url) browsed = fetch(url)
    },
  })
  const page = await browsed!
  t.equal(page.status, 200)
  t.match(await page.text(), /Cloudy is connected/)
  t.match(said.join(''), /Open this address in a browser/)
  const asked = fake.lastAuthorize!
  t.equal(asked.get('access_type'), 'offline')
  t.equal(asked.get('scope'), 'https://www.googleapis.com/auth/drive.file')
  t.equal(asked.get('code_challenge_method'), 'S256')
  t.equal(asked.get('prompt'), 'consent')
  const table = (await credentials.section('gdrive'))!
  t.equal(table.client_id, fake.clientId)
  t.equal(table.client_secret, fake.clientSecret)
  t.match(table.refresh_token, /^1\/\//)
  t.match(table.access_token, /^ya29\./)
  t.ok(Date.parse(table.expires_at!) > Date.now())
  t.equal((await stat(credentials.file)).mode & 0o777, 0o600)

  const p = await openGdrive(fake.newUrl(), { root: 'Cloudy', credentials, env: fake.env })
  t.teardown(() => p.close())
  await p.put('k', Buffer.from('hello'))
  t.same(Buffer.from(await p.get('k')).toString(), 'hello')
  t.equal(fake.count('token.refresh'), 0, 'the login token is used as is')

  // A second login takes the client from credentials.toml.
  let again: Promise<Response> | undefined
  await loginGdrive({ credentials, env: fake.env, options: {}, say: (text) => (again = fetch(/https?:\/\/\S+/.exec(text)![0])) })
  await (await again!).text()
  t.not((await credentials.section('gdrive'))!.refresh_token, table.refresh_token, 'new tokens')
})

t.test('login without a browser: the address the browser ended on is pasted back', async (t) => {
  const fake = await fakeFor(t)
  const credentials = new CredentialStore(join(tempDir(t), 'credentials.toml'))
  let consent: string | undefined
  await loginGdrive({
    credentials,
    env: fake.env,
    options: { 'client-id': fake.clientId, 'client-secret': fake.clientSecret },
    noBrowser: true,
    say: (text) => {
      consent ??= /https?:\/\/\S+/.exec(text)?.[0]
    },
    // On another device: the consent page sends the browser to a loopback address that does not
    // answer there; the person copies that address. A stale one first: refused, asked again.
    ask: async () => {
      if (!consent) throw new Error('asked before the address was shown')
      const page = await fetch(consent, { redirect: 'manual' })
      const ended = new URL(page.headers.get('location')!)
      t.equal(ended.origin + ended.pathname, 'http://127.0.0.1:53682/callback')
      if (consent.endsWith('#stale')) return ended.toString()
      consent += '#stale'
      ended.searchParams.set('state', 'another-login')
      return ended.toString()
    },
  })
  const table = (await credentials.section('gdrive'))!
  t.match(table.refresh_token, /^1\/\//)
})

t.test('login: no OAuth client, or consent refused', async (t) => {
  const fake = await fakeFor(t)
  const credentials = new CredentialStore(join(tempDir(t), 'credentials.toml'))
  const say = () => {}
  await t.rejects(loginGdrive({ credentials, env: fake.env, options: {}, say }), UsageError)
  await t.rejects(loginGdrive({ credentials, env: fake.env, options: {}, say }), /--client-id ID --client-secret SECRET/)
  await t.rejects(loginGdrive({ credentials, env: fake.env, options: { 'client-id': fake.clientId }, say }), /--client-secret/)
  fake.consent = 'deny'
  let browsed: Promise<Response> | undefined
  const e = await refusal(
    loginGdrive({
      credentials,
      env: fake.env,
      options: { 'client-id': fake.clientId, 'client-secret': fake.clientSecret },
      say: (text) => (browsed = fetch(/https?:\/\/\S+/.exec(text)![0])),
    }),
  )
  await (await browsed!).text()
  t.equal(e.kind, 'auth')
  t.match(e.message, /cloudy provider login gdrive/)
  t.equal(await credentials.section('gdrive'), undefined, 'nothing stored')
})

t.test('the change feed reports what another computer stores and deletes', async (t) => {
  const fake = await fakeFor(t)
  const url = fake.newUrl()
  const a = await raw(t, fake, url, await credentialsFor(t, fake.credentials.gdrive!))
  const b = await raw(t, fake, url, await credentialsFor(t, { ...fake.credentials.gdrive!, refresh_token: fake.issueRefreshToken() }))
  await a.put('cloudy.json', Buffer.from('{}'))
  const seen: ProviderChange[] = []
  let wake: (() => void) | undefined
  const controller = new AbortController()
  const watching = a.watch(
    'heads/',
    (c) => {
      seen.push(c)
      wake?.()
    },
    controller.signal,
    { intervalMs: 20 },
  )
  const until = async (n: number) => {
    while (seen.length < n) await new Promise<void>((r) => (wake = r))
  }
  // Let the feed take its start token before the other computer writes.
  while (fake.count('changes.getStartPageToken') === 0) await new Promise((r) => setTimeout(r, 5))
  await b.put('heads/dev2', Buffer.from('head'))
  await b.put('elsewhere/x', Buffer.from('not under the prefix'))
  await until(1)
  t.match(seen[0], { type: 'put', key: 'heads/dev2', size: 4 })
  await b.delete('heads/dev2')
  await until(2)
  t.same(seen[1], { type: 'delete', key: 'heads/dev2' })
  controller.abort()
  await watching
  t.equal(seen.length, 2, 'nothing else: other prefixes are not reported')
})

t.test('provider URLs', async (t) => {
  const fake = await fakeFor(t)
  const credentials = await credentialsFor(t, fake.credentials.gdrive!)
  const p = await openProvider('gdrive:/My%20Backups/laptop', { root: 'Vault', credentials, env: fake.env })
  t.teardown(() => p.close())
  t.equal(p.name, 'gdrive:/My Backups/laptop/Vault')
  await p.put('k', Buffer.from('x'))
  t.equal(fake.at('My Backups/laptop/Vault/k').length, 1, 'folders from My Drive down')
  await t.rejects(openProvider('gdrive:/a?chunk=1', { credentials, env: fake.env }), /unknown option "chunk"/)
  await t.rejects(openProvider('gdrive:/a/../b', { credentials, env: fake.env }), /may not contain/)
  t.throws(() => gdriveEndpoints({ CLOUDY_GDRIVE_API_URL: 'ftp://x' }), /not an http/)
  t.same(gdriveEndpoints({}), {
    api: 'https://www.googleapis.com',
    token: 'https://oauth2.googleapis.com/token',
    authorize: 'https://accounts.google.com/o/oauth2/v2/auth',
  })
})
