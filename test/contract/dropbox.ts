/**
 * The provider contract against the Dropbox fake, driven through the real SDK: once as the
 * provider itself (every failure would show), once as `openProvider` gives it (under the retry
 * policy) with a fifth of the API calls answered 429.
 */
import t, { type Test } from 'tap'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { stringify } from 'smol-toml'
import { CredentialStore } from '../../lib/credentials.js'
import { openDropbox } from '../../providers/dropbox.js'
import { openProvider } from '../../providers/index.js'
import { startDropboxFake } from '../fakes/dropbox.js'
import { tempDir } from '../helpers/temp.js'
import { providerContract } from './suite.js'

const fake = await startDropboxFake()
t.teardown(() => fake.stop())

/** A computer's credentials.toml for the fake's account (0600, as login leaves it). */
function credentials(t: Test): CredentialStore {
  const file = join(tempDir(t, 'dropbox-creds'), 'credentials.toml')
  writeFileSync(file, stringify(fake.credentials) + '\n', { mode: 0o600 })
  return new CredentialStore(file)
}

t.test('dropbox provider', async (t) => {
  providerContract(t, (t) => openDropbox(fake.newUrl(), { root: 'Cloudy', credentials: credentials(t), env: fake.env }))
})

t.test('dropbox provider under the retry policy, 20% of calls rate-limited', async (t) => {
  fake.rateLimit = 0.2
  fake.retryAfterSeconds = 0
  // Small pages: the 1,200-key listing takes 12 pages, and one of them failing must not send
  // the listing back to its start (the policy goes on from the page's cursor).
  fake.pageSize = 100
  t.teardown(() => {
    fake.rateLimit = 0
    fake.retryAfterSeconds = 1
    fake.pageSize = 100
  })
  const retried = { count: 0 }
  providerContract(t, (t) =>
    openProvider(fake.newUrl(), {
      credentials: credentials(t),
      env: fake.env,
      retry: { retries: 12, baseMs: 1, maxMs: 20, onRetry: () => retried.count++ },
    }),
  )
  t.test('the 429s were met and ridden out', async (t) => {
    t.ok(fake.count('/2/files/upload', 429) > 0, 'uploads were rate-limited')
    t.ok(retried.count > 0, `retries: ${retried.count}`)
  })
})
