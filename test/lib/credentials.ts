/** credentials.toml: private or refused, updated whole, and never quoted in an error. */
import t from 'tap'
import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { CredentialStore } from '../../lib/credentials.js'
import { tempDir } from '../helpers/temp.js'

t.test('missing file: no credentials; update creates it 0600 and keeps other tables', async (t) => {
  const file = join(tempDir(t), 'sub', 'credentials.toml')
  const store = new CredentialStore(file)
  t.same(await store.read(), {})
  await store.update('s3', { access_key_id: 'AK', secret_access_key: 'SK' })
  await store.update('dropbox', { refresh_token: 'r1' })
  await Promise.all([store.update('dropbox', { access_token: 'a1' }), store.update('dropbox', { expires_at: '2026-01-01T00:00:00Z' })])
  t.equal(statSync(file).mode & 0o777, 0o600)
  t.same(await store.read(), {
    s3: { access_key_id: 'AK', secret_access_key: 'SK' },
    dropbox: { refresh_token: 'r1', access_token: 'a1', expires_at: '2026-01-01T00:00:00Z' },
  })
  await store.update('dropbox', { access_token: undefined })
  t.same(await store.section('dropbox'), { refresh_token: 'r1', expires_at: '2026-01-01T00:00:00Z' }, 'undefined removes a key')
})

t.test('a file others may read is refused, with the fix', async (t) => {
  const file = join(tempDir(t), 'credentials.toml')
  writeFileSync(file, '[s3]\naccess_key_id = "AK"\n', { mode: 0o600 })
  chmodSync(file, 0o640)
  await t.rejects(new CredentialStore(file).read(), {
    code: 'ECONFIG',
    exitCode: 2,
    message: new RegExp(`credentials.toml: holds secrets but other users may read it \\(mode 640\\); make it private: chmod 600 ${file}`),
  })
})

t.test('malformed: the line is named, the secret on it is not', async (t) => {
  const file = join(tempDir(t), 'credentials.toml')
  writeFileSync(file, '[s3]\nsecret_access_key = "hunter2\n', { mode: 0o600 })
  const err = await new CredentialStore(file).read().catch((e: Error) => e)
  t.match(err, { code: 'ECONFIG', message: /credentials\.toml:2: is not valid TOML/ })
  t.notMatch((err as Error).message, /hunter2/)
  writeFileSync(file, '[s3]\nport = 22\n')
  await t.rejects(new CredentialStore(file).read(), { message: /s3\.port must be a string/ })
  writeFileSync(file, 'loose = "x"\n')
  await t.rejects(new CredentialStore(file).read(), { message: /"loose" must be a table/ })
  t.equal(readFileSync(file, 'utf8'), 'loose = "x"\n', 'nothing rewritten')
})
