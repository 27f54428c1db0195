/** The two-computer scenario with the vault on Google Drive: the official client against a local fake of the Drive API. */
import t from 'tap'
import { startGdriveFake } from '../fakes/gdrive.js'
import { useServer } from '../helpers/cli.js'
import { twoComputers } from '../helpers/two-computers.js'

const fake = await startGdriveFake()
t.teardown(() => fake.stop())

t.test('two computers over Google Drive', (t) => twoComputers(t, { url: fake.newUrl(), setup: (c) => useServer(c, fake) }))
