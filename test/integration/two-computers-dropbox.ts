/** The two-computer scenario with the vault on Dropbox: the official SDK against a local fake of its HTTP API. */
import t from 'tap'
import { startDropboxFake } from '../fakes/dropbox.js'
import { useServer } from '../helpers/cli.js'
import { twoComputers } from '../helpers/two-computers.js'

const fake = await startDropboxFake()
t.teardown(() => fake.stop())

t.test('two computers over Dropbox', (t) => twoComputers(t, { url: fake.newUrl(), setup: (c) => useServer(c, fake) }))
