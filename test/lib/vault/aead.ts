import t from 'tap'
import sodiumWasm from 'libsodium-wrappers-sumo'
import { BlobType, associatedData, open, seal, SEAL_OVERHEAD } from '../../../lib/vault/aead.js'
import { randomBytes } from '../../../lib/vault/sodium.js'

t.test('seal/open round trip, and what must fail', async (t) => {
  const key = randomBytes(32)
  const id = randomBytes(32)
  const plain = Buffer.from('the contents of ~/.gitconfig')
  const sealed = seal(key, BlobType.data, id, plain)
  t.equal(sealed.length, plain.length + SEAL_OVERHEAD)
  t.same(open(key, BlobType.data, id, sealed), plain)
  t.equal(open(randomBytes(32), BlobType.data, id, sealed), undefined, 'wrong key')
  t.equal(open(key, BlobType.tree, id, sealed), undefined, 'another type')
  t.equal(open(key, BlobType.data, randomBytes(32), sealed), undefined, 'another id: blobs cannot be swapped')
  const flipped = Buffer.from(sealed)
  flipped[30]! ^= 1
  t.equal(open(key, BlobType.data, id, flipped), undefined, 'one flipped bit')
  t.equal(open(key, BlobType.data, id, sealed.subarray(0, 10)), undefined, 'truncated')
  t.not(Buffer.from(seal(key, BlobType.data, id, plain)).toString('hex'), Buffer.from(sealed).toString('hex'), 'random nonce')
  key.fill(0)
  t.throws(() => seal(key, BlobType.data, id, plain), /key was wiped/, 'a wiped key seals nothing')
})

t.test('a blob sealed by sodium-native opens with libsodium-wrappers-sumo (the format is plain libsodium)', async (t) => {
  await sodiumWasm.ready
  const key = randomBytes(32)
  const id = randomBytes(32)
  const plain = randomBytes(100_000)
  const sealed = seal(key, BlobType.data, id, plain)
  const nonce = sealed.subarray(0, 24)
  const out = sodiumWasm.crypto_aead_xchacha20poly1305_ietf_decrypt(
    null,
    sealed.subarray(24),
    associatedData(BlobType.data, id),
    nonce,
    key,
  )
  t.same(Buffer.from(out), plain)
  // And the other way: the WASM build seals, we open.
  const nonce2 = sodiumWasm.randombytes_buf(24)
  const ct = sodiumWasm.crypto_aead_xchacha20poly1305_ietf_encrypt(plain, associatedData(BlobType.tree, id), null, nonce2, key)
  t.same(open(key, BlobType.tree, id, Buffer.concat([nonce2, ct])), plain)
})
