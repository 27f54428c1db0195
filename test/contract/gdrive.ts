import t, { type Test } from 'tap'
import { join } from 'node:path'
import { CredentialStore } from '../../lib/credentials.js'
import { openProvider } from '../../providers/index.js'
import { startGdriveFake, type GdriveFake } from '../fakes/gdrive.js'
import { computer, useServer } from '../helpers/cli.js'
import { providerContract } from './suite.js'

/** A provider on a fresh folder of `fake`, opened as `cloudy` opens it: credentials.toml, environment, retry policy. */
async function open(t: Test, fake: GdriveFake, retries = 8) {
  const c = computer(t)
  await useServer(c, fake)
  return openProvider(fake.newUrl(), {
    credentials: new CredentialStore(join(c.cloudyHome, 'credentials.toml')),
    env: c.env,
    retry: { baseMs: 1, maxMs: 20, retries },
  })
}

t.test('gdrive (fake): the provider contract', async (t) => {
  // Small pages, so listings in the suite go over several.
  const fake = await startGdriveFake({ maxPageSize: 50 })
  t.teardown(() => fake.stop())
  await t.test('contract', async (t) => providerContract(t, (t) => open(t, fake)))
  t.ok(fake.count('upload.chunk') >= 2, 'the 16 MiB object went up resumably, in chunks')
  t.ok(fake.count('upload.create') > 1000, 'small objects went up in one request each')
})

t.test('gdrive (fake): the contract with 20% of requests rate-limited, through the retry policy', async (t) => {
  const fake = await startGdriveFake({ maxPageSize: 200, rateLimitRate: 0.2 })
  t.teardown(() => fake.stop())
  // A new key's put is three requests (look up, create, settle), so at 20% a try succeeds about
  // half the time; with the default 8 retries one of the suite's 1,200 puts would give up
  // about once in ten runs.
  await t.test('contract', async (t) => providerContract(t, (t) => open(t, fake, 20)))
  // Not a vacuous pass: the fake refused many requests and the provider rode them out.
  t.ok(fake.stats.rateLimited > 500, `rate-limited requests: ${fake.stats.rateLimited}`)
})
