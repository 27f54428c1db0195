import t from 'tap'
import sodiumWasm from 'libsodium-wrappers-sumo'
import { memory } from '../../../providers/memory.js'
import { Vault, readVaultInfo } from '../../../lib/vault/vault.js'
import { WrongPasswordError, NoVaultError } from '../../../lib/errors.js'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Provider } from '../../../providers/provider.js'
import { StateDb } from '../../../lib/state/db.js'
import { BlobType } from '../../../lib/vault/aead.js'
import { tempDir } from '../../helpers/temp.js'

t.test('create, unlock, wrong password, change password', async (t) => {
  const p = memory()
  const v = await Vault.create(p, 'correct horse', { kdf: 'interactive' })
  const k1 = Buffer.from(v.space('settings').blobKey)
  v.close()
  const info = await readVaultInfo(p)
  t.match(info.vaultId, /^[0-9a-f]{32}$/)
  await t.rejects(Vault.unlock(p, 'wrong'), WrongPasswordError)
  const v2 = await Vault.unlock(p, 'correct horse')
  t.same(Buffer.from(v2.space('settings').blobKey), k1, 'same master key, same space keys')
  t.not(v2.space('app/a').tag, v2.space('app/b').tag, 'spaces are apart')
  await v2.changePassword('correct horse', 'battery staple', { kdf: 'interactive' })
  await t.rejects(Vault.unlock(p, 'correct horse'), WrongPasswordError, 'old password stops working')
  const v3 = await Vault.unlock(p, 'battery staple')
  t.same(Buffer.from(v3.space('settings').blobKey), k1, 'data keys unchanged')
  await t.rejects(Vault.create(p, 'x', { kdf: 'interactive' }), { code: 'EVAULTEXISTS' })
  await t.rejects(Vault.unlock(memory(), 'x'), NoVaultError)
})

t.test('the key slot is plain libsodium: libsodium-wrappers-sumo unwraps it with Argon2id', async (t) => {
  await sodiumWasm.ready
  const p = memory()
  const v = await Vault.create(p, 'pw', { kdf: 'interactive' })
  const settingsTag = v.space('settings').tag
  v.close()
  const info = await readVaultInfo(p)
  let slotKey = ''
  for await (const o of p.list('keys/')) slotKey = o.key
  const slot = JSON.parse(Buffer.from(await p.get(slotKey)).toString())
  const kek = sodiumWasm.crypto_pwhash(
    32,
    'pw',
    Buffer.from(slot.kdf.salt, 'base64'),
    slot.kdf.opslimit,
    slot.kdf.memlimit,
    sodiumWasm.crypto_pwhash_ALG_ARGON2ID13,
  )
  const wrapped = Buffer.from(slot.wrapped, 'base64')
  const ad = Buffer.concat([Buffer.from('cloudy1'), Buffer.from([7]), Buffer.from(`${info.vaultId}/${slotKey.slice(5)}`)])
  const master = sodiumWasm.crypto_aead_xchacha20poly1305_ietf_decrypt(null, wrapped.subarray(24), ad, wrapped.subarray(0, 24), kek)
  const space = sodiumWasm.crypto_generichash(32, Buffer.from('cloudy space v1\0settings'), master)
  const tag = sodiumWasm.crypto_generichash(16, Buffer.from('tag'), space)
  t.equal(Buffer.from(tag).toString('hex'), settingsTag, 'the key hierarchy is reproducible with another libsodium binding')
})

t.test('a restricted vault holds the keys it was given and nothing else', async (t) => {
  const p = memory()
  const v = await Vault.create(p, 'pw', { kdf: 'interactive' })
  const alpha = Buffer.from(v.space('app/alpha').blobKey)
  const tag = v.deviceTag('device-1')
  const r = v.restrict(['app/alpha', 'chain'], ['device-1'])
  t.same(Buffer.from(r.space('app/alpha').blobKey), alpha, 'the same key for the space it keeps')
  t.equal(r.deviceTag('device-1'), tag)
  for (const other of ['app/beta', 'settings', 'apps', 'inventory']) t.throws(() => r.space(other), /holds no key/, `no key for ${other}`)
  t.throws(() => r.deviceTag('device-2'), /holds no key/)
  t.throws(() => v.space('app/beta'), /holds no key/, 'the full vault it came from is forgotten (master key wiped)')
  r.close()
})

t.test('settle waits for the uploads a failed run left in flight: none is sealed after close wipes the keys', async (t) => {
  const p = memory()
  // Packs take a while to store; the first index file is refused (the run fails).
  let refused = false
  const slow: Provider = {
    ...p,
    put: async (key, body, o) => {
      if (key.includes('/packs/')) await sleep(300)
      if (key.includes('/index/') && !refused) {
        refused = true
        throw new Error('refused')
      }
      return p.put(key, body, o)
    },
  }
  const v = await Vault.create(slow, 'pw', { kdf: 'interactive' })
  const dir = tempDir(t)
  const db = new StateDb(join(dir, 'a.db'))
  t.teardown(() => db.close())
  const store = v.store('settings', db, { packSize: 4096 })
  const blobs = [randomBytes(5000), randomBytes(5000)]
  const ids = []
  for (const b of blobs) ids.push(await store.addBlob(BlobType.data, b))
  await t.rejects(store.flush(), /refused/, 'the run fails')
  // A third pack on its way as the run ends.
  const late = randomBytes(5000)
  const lateId = await store.addBlob(BlobType.data, late)
  await v.settle()
  v.close()
  const again = await Vault.unlock(p, 'pw')
  const db2 = new StateDb(join(dir, 'b.db'))
  t.teardown(() => db2.close())
  const fresh = again.store('settings', db2)
  await fresh.open()
  t.same(await fresh.readBlob(BlobType.data, lateId), late, "the late pack's index file opens with the vault's key")
  t.same(await fresh.readBlob(BlobType.data, ids[1]!), blobs[1], 'and so does the one stored after the refusal')
})
