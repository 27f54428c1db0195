/**
 * What an object sealed in an earlier key epoch is trusted as (lib/vault/epochs.ts): a blob
 * when it hashes to its id, an index file when the rekey listed it, a rewritable object when its
 * sealed bytes are the recorded ones; anything else an old key seals is refused, so a removed
 * computer cannot slip in a forged object. And an epoch record opens only with its epoch's key.
 */
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { BlobType, seal } from '../../../lib/vault/aead.js'
import { encodePayload, decodePayload } from '../../../lib/store/codec.js'
import { blobId, spaceKey, spaceKeys } from '../../../lib/vault/keys.js'
import { openEpochRecord, openSealed, sealEpochRecord, sealedHash, type EpochRecord } from '../../../lib/vault/epochs.js'

const k0 = randomBytes(32)
const k1 = randomBytes(32)
const sealOld = (type: BlobType, id: Buffer, plain: Buffer) =>
  seal(spaceKeys('settings', spaceKey(k0, 'settings')).blobKey, type, id, encodePayload(plain))

t.test('an earlier epoch seals: trusted only as the rekey found it', async (t) => {
  const good = Buffer.from('{"entries":[]}')
  const naming = spaceKey(k0, 'settings')
  const probe = spaceKeys('settings', naming)
  const id = blobId(probe, good)
  const headAt = `s/${probe.tag}/heads/${'ab'.repeat(16)}`
  const head = sealOld(BlobType.head, Buffer.from('ab'.repeat(16), 'hex'), Buffer.from('{"commit":"x","seq":1,"time":"t"}'))
  const index = sealOld(BlobType.index, Buffer.alloc(32, 7), Buffer.from([1, 0, 0, 0, 0, 0, 0, 0, 0]))
  const keys = spaceKeys('settings', naming, spaceKey(k1, 'settings'), [naming], {
    objects: new Map([[headAt, sealedHash(head)]]),
    indexes: new Map([[probe.tag, new Set(['07'.repeat(32)])]]),
  })
  const open = (type: BlobType, i: Buffer, s: Uint8Array, from: Parameters<typeof openSealed>[4]) => {
    const p = openSealed(keys, type, i, s, from)
    return p && decodePayload(p)
  }

  t.same(open(BlobType.tree, id, sealOld(BlobType.tree, id, good), { kind: 'content' }), good, 'a blob that hashes to its id')
  t.notOk(
    open(BlobType.tree, id, sealOld(BlobType.tree, id, Buffer.from('{"entries":[1]}')), { kind: 'content' }),
    'a forged blob under a real id',
  )
  t.ok(open(BlobType.head, Buffer.from('ab'.repeat(16), 'hex'), head, { kind: 'named', key: headAt }), 'the head as the rekey found it')
  const forged = sealOld(BlobType.head, Buffer.from('ab'.repeat(16), 'hex'), Buffer.from('{"commit":"y","seq":2,"time":"t"}'))
  t.notOk(
    open(BlobType.head, Buffer.from('ab'.repeat(16), 'hex'), forged, { kind: 'named', key: headAt }),
    'a head written with the old key after',
  )
  t.ok(open(BlobType.index, Buffer.alloc(32, 7), index, { kind: 'index', name: '07'.repeat(32) }), 'an index file the rekey listed')
  const later = sealOld(BlobType.index, Buffer.alloc(32, 8), Buffer.from([1, 0, 0, 0, 0, 0, 0, 0, 0]))
  t.notOk(open(BlobType.index, Buffer.alloc(32, 8), later, { kind: 'index', name: '08'.repeat(32) }), 'one it did not')
  t.notOk(open(BlobType.index, Buffer.alloc(32, 7), index, { kind: 'current' }), 'only the current key, where that is asked')
  const now = seal(keys.blobKey, BlobType.head, Buffer.from('ab'.repeat(16), 'hex'), encodePayload(Buffer.from('{}')))
  t.ok(open(BlobType.head, Buffer.from('ab'.repeat(16), 'hex'), now, { kind: 'named', key: headAt }), 'the current key opens anything')
})

t.test("an epoch record opens with its epoch's key only", async (t) => {
  const record: EpochRecord = {
    format: 1,
    epoch: 1,
    time: 't',
    by: 'b',
    byName: 'n',
    reason: 'passwd',
    previous: [k0.toString('base64')],
    trusted: { objects: {}, indexes: {} },
  }
  const sealed = sealEpochRecord('v'.repeat(32), k1, record)
  t.same(openEpochRecord('v'.repeat(32), 1, k1, sealed)?.previous, [k0.toString('base64')])
  t.notOk(openEpochRecord('v'.repeat(32), 1, k0, sealed), 'not with the earlier key')
  t.notOk(openEpochRecord('w'.repeat(32), 1, k1, sealed), 'not as another vault’s')
  t.notOk(openEpochRecord('v'.repeat(32), 2, k1, sealed), 'not as another epoch’s')
})
