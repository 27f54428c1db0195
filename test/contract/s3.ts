import t from 'tap'
import { CredentialStore } from '../../lib/credentials.js'
import { openS3 } from '../../providers/s3.js'
import { startS3Server } from '../../scripts/servers/s3.js'
import { tempDir } from '../helpers/temp.js'
import { providerContract } from './suite.js'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'

const server = await startS3Server()
t.teardown(() => server.stop())

/** A credentials.toml holding the server's keys. */
function credentials(t: Parameters<Parameters<typeof providerContract>[1]>[0]): CredentialStore {
  const file = join(tempDir(t, 's3-cred'), 'credentials.toml')
  writeFileSync(file, '[s3]\naccess_key_id = "S3RVER"\nsecret_access_key = "S3RVER"\n', { mode: 0o600 })
  return new CredentialStore(file)
}

providerContract(t, async (t) => openS3(server.newUrl(), { root: 'Cloudy', credentials: credentials(t), env: {} }))
