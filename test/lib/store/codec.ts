import t from 'tap'
import { randomBytes } from 'node:crypto'
import { decodePayload, encodePayload, sampleEntropy, RAW, DEFLATE } from '../../../lib/store/codec.js'

t.test('compress only when it pays', async (t) => {
  const text = Buffer.from('export PATH=$HOME/bin:$PATH\n'.repeat(500))
  const z = encodePayload(text)
  t.equal(z[0], DEFLATE)
  t.ok(z.length < text.length / 4)
  t.same(decodePayload(z), text)
  const rnd = randomBytes(100_000)
  const r = encodePayload(rnd)
  t.equal(r[0], RAW, 'random data is stored as is')
  t.same(decodePayload(r), rnd)
  t.equal(encodePayload(text, false)[0], RAW, 'compress: false')
  t.equal(encodePayload(Buffer.from('tiny'))[0], RAW, 'tiny blobs are not worth it')
  t.same(decodePayload(encodePayload(Buffer.alloc(0))), Buffer.alloc(0))
})

t.test('entropy estimate and corrupt payloads', async (t) => {
  t.ok(sampleEntropy(randomBytes(8192)) > 7.5)
  t.ok(sampleEntropy(Buffer.alloc(8192, 'a')) < 0.01)
  t.equal(decodePayload(Buffer.from([9, 1, 2])), undefined, 'unknown codec')
  t.equal(decodePayload(Buffer.from([DEFLATE, 0xff, 0xff, 0xff])), undefined, 'corrupt deflate')
})
