/** The S3 provider's own cases: its URLs, and each refusal told as the user can act on it. */
import t, { type Test } from 'tap'
import { chmodSync, readFileSync, writeFileSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { CredentialStore } from '../../lib/credentials.js'
import { ProviderError } from '../../lib/errors.js'
import { openS3, parseS3Url } from '../../providers/s3.js'
import { startS3Server } from '../../scripts/servers/s3.js'
import { cloudy, computer, initVault, joinedComputer, useServer } from '../helpers/cli.js'
import { tempDir } from '../helpers/temp.js'
import { describeTree } from '../helpers/tree.js'

const server = await startS3Server()
t.teardown(() => server.stop())

function credentials(t: Test, key = 'S3RVER', secret = 'S3RVER'): CredentialStore {
  const file = join(tempDir(t, 's3-cred'), 'credentials.toml')
  writeFileSync(file, `[s3]\naccess_key_id = "${key}"\nsecret_access_key = "${secret}"\n`, { mode: 0o600 })
  return new CredentialStore(file)
}

t.test('URLs: bucket, prefix and root; endpoint means path style', async (t) => {
  t.same(parseS3Url('s3://my-bucket/some/prefix', 'Cloudy'), {
    bucket: 'my-bucket',
    prefix: 'some/prefix/Cloudy',
    endpoint: undefined,
    region: 'us-east-1',
    pathStyle: false,
  })
  t.same(parseS3Url('s3://b12?endpoint=http%3A%2F%2F127.0.0.1%3A9000&region=eu-west-3', 'V'), {
    bucket: 'b12',
    prefix: 'V',
    endpoint: 'http://127.0.0.1:9000',
    region: 'eu-west-3',
    pathStyle: true,
  })
  t.throws(() => parseS3Url('s3://Bad_Bucket/x', 'C'), /not a valid bucket name/)
  t.throws(() => parseS3Url('s3://bucket/x?colour=blue', 'C'), /unknown option "colour"; known: endpoint, region, path_style/)
  t.throws(() => parseS3Url('s3://bucket/x?endpoint=ftp://h', 'C'), /endpoint must be an http/)
})

t.test('a wrong secret key: an auth error naming the provider and where the key goes', async (t) => {
  const p = await openS3(server.newUrl(), { root: 'Cloudy', credentials: credentials(t, 'WRONG'), env: {} })
  const err = await p.put('k', Buffer.from('x')).catch((e: unknown) => e)
  t.ok(err instanceof ProviderError)
  t.equal((err as ProviderError).kind, 'auth')
  t.equal((err as ProviderError).exitCode, 5)
  t.match((err as Error).message, /^s3:\/\/cloudy-test\/.* at http:\/\/127\.0\.0\.1:\d+: the storage service refused the credentials/)
  t.match((err as Error).message, /\[s3\] table of credentials\.toml/)
  t.notMatch((err as Error).message, /WRONG/, 'no secret in the message')
  const unknown = await openS3(server.newUrl(), { root: 'Cloudy', credentials: credentials(t, 'NOBODY'), env: {} })
  await t.rejects(unknown.get('k'), { kind: 'auth', message: /refused the credentials \(HTTP 403\)/ }, 'an unknown access key id')
})

t.test('a missing bucket: says which, and how to make it', async (t) => {
  const url = server.newUrl().replace('s3://cloudy-test/', 's3://no-such-bucket/')
  const p = await openS3(url, { root: 'Cloudy', credentials: credentials(t), env: {} })
  await t.rejects(p.get('k'), { kind: 'missing', message: /the bucket "no-such-bucket" does not exist on http.*create it/ })
})

t.test('the command line over S3: two computers, and refusals that change nothing here', async (t) => {
  const a = computer(t)
  await useServer(a, server)
  await mkdir(join(a.home, 'cfg'))
  await writeFile(join(a.home, 'cfg/one.txt'), 'one')
  const url = server.newUrl()
  await initVault(t, a, url, ['~/cfg'], 'a')
  t.equal((await cloudy(a, ['sync', 'up'])).code, 0)

  // A wrong secret: exit 5, the provider and the fix named, nothing here touched.
  await writeFile(join(a.home, 'cfg/two.txt'), 'two')
  const creds = join(a.cloudyHome, 'credentials.toml')
  const good = readFileSync(creds, 'utf8')
  writeFileSync(creds, good.replace(/secret_access_key = ".*"/, 'secret_access_key = "nope"'))
  const before = await describeTree(a.home)
  const bad = await cloudy(a, ['sync', 'up'])
  t.equal(bad.code, 5, bad.stderr)
  t.match(bad.stderr, /s3:\/\/cloudy-test\/.*refused the credentials.*credentials\.toml/)
  t.same(await describeTree(a.home), before, 'the home folder is untouched')

  // A bucket that does not exist: exit 5, which bucket and how to make it, nothing here touched.
  writeFileSync(creds, good)
  const config = join(a.cloudyHome, 'config.toml')
  const configText = readFileSync(config, 'utf8')
  writeFileSync(config, configText.replace('s3://cloudy-test/', 's3://no-such-bucket/'))
  const missing = await cloudy(a, ['sync', 'up'])
  t.equal(missing.code, 5, missing.stderr)
  t.match(missing.stderr, /s3:\/\/no-such-bucket\/.*the bucket "no-such-bucket" does not exist on http:\/\/127\.0\.0\.1:\d+: create it/)
  t.same(await describeTree(a.home), before, 'the home folder is untouched')
  writeFileSync(config, configText)

  // A looser credentials file is refused before use.
  writeFileSync(creds, good)
  chmodSync(creds, 0o644)
  const loose = await cloudy(a, ['sync', 'up'])
  t.equal(loose.code, 2, loose.stderr)
  t.match(loose.stderr, /other users may read it \(mode 644\); make it private: chmod 600 /)
  chmodSync(creds, 0o600)

  const up = await cloudy(a, ['sync', 'up'])
  t.equal(up.code, 0, up.stderr)
  const b = await joinedComputer(t, url, ['~/cfg'], 'b', server)
  t.equal(readFileSync(join(b.home, 'cfg/two.txt'), 'utf8'), 'two', 'what failed to go up went at the next run')
  t.same(await describeTree(join(b.home, 'cfg')), await describeTree(join(a.home, 'cfg')))
})

t.test('no server at the endpoint: retried, then said with the reason', async (t) => {
  const { openProvider } = await import('../../providers/index.js')
  const { createServer } = await import('node:net')
  // A port that was free a moment ago: nothing listens there.
  const port = await new Promise<number>((resolve) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const p = (srv.address() as { port: number }).port
      srv.close(() => resolve(p))
    })
  })
  const p = await openProvider(`s3://cloudy-test/x?endpoint=http%3A%2F%2F127.0.0.1%3A${port}`, {
    credentials: credentials(t),
    retry: { retries: 2, baseMs: 1, maxMs: 5 },
  })
  await t.rejects(p.get('k'), { kind: 'unreachable', message: /failed 3 times \(last: .*ECONNREFUSED.*\); check the network/ })
})
