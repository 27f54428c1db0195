import t from 'tap'
import { tempDir } from '../helpers/temp.js'
import { describeProvider, openProvider, providerFolder } from '../../providers/index.js'

t.test('provider URLs', async (t) => {
  const dir = tempDir(t)
  t.equal((await openProvider(dir)).name, `local:${dir}/Cloudy`)
  t.equal((await openProvider(`local:${dir}`, { root: 'V' })).name, `local:${dir}/V`)
  const m1 = await openProvider('memory:x')
  t.equal(await openProvider('memory:x'), m1, 'memory providers are shared by name within a process')
  await t.rejects(openProvider('relative/dir'), /is not a provider URL; use \/abs\/path or local:\/abs\/path, s3:\/\/bucket/)
  await t.rejects(openProvider('ftp://host/dir'), { code: 'EUSAGE', message: /is not a provider URL/ })
  await t.rejects(openProvider(dir, { root: '../up' }), /--root/)
  t.equal(providerFolder('/v', 'Cloudy'), '/v/Cloudy')
  t.equal(providerFolder('s3://b/p'), undefined)
  t.equal(describeProvider('sftp://me:secret@host:22/p'), 'sftp://me:***@host:22/p')
  t.equal(describeProvider('s3://b/p?endpoint=x&secret=y'), 's3://b/p?…')
})
