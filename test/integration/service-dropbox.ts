/** Real time with a service on each computer, the vault on Dropbox (the SDK against a local fake): B hears of A's up-sync through Dropbox's long poll. */
import t from 'tap'
import { startDropboxFake } from '../fakes/dropbox.js'
import { useServer } from '../helpers/cli.js'
import { realtimeScenario } from '../helpers/realtime.js'

const fake = await startDropboxFake()
t.teardown(() => fake.stop())

t.test('real time over Dropbox', (t) => realtimeScenario(t, { url: fake.newUrl(), setup: (c) => useServer(c, fake) }))
