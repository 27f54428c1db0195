import t from 'tap'
import { randomBytes } from 'node:crypto'
import { decodeIndex, encodeIndex } from '../../../lib/store/index-file.js'
import { decodeHeader, encodeHeader } from '../../../lib/store/pack.js'

t.test('index and pack header round trip, malformed input refused', async (t) => {
  const packs = [randomBytes(32).toString('hex'), randomBytes(32).toString('hex')]
  const entries = Array.from({ length: 100 }, (_, i) => ({
    id: randomBytes(32),
    type: 1 as const,
    pack: packs[i % 2]!,
    offset: i * 1000,
    length: 1000,
    rawLength: 900 + i,
  }))
  const idx = encodeIndex(entries)
  t.same(decodeIndex(idx), entries)
  t.equal(decodeIndex(idx.subarray(0, idx.length - 1)), undefined)
  t.equal(decodeIndex(Buffer.from([2, 0, 0, 0, 0, 0, 0, 0, 0])), undefined, 'unknown version')

  let off = 0
  const he = entries.map((e) => ({
    type: e.type,
    id: e.id,
    offset: (off += e.length) - e.length,
    length: e.length,
    rawLength: e.rawLength,
  }))
  const h = encodeHeader(he)
  t.same(decodeHeader(h), he)
  t.equal(decodeHeader(h.subarray(0, 10)), undefined)
})
