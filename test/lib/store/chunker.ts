import t from 'tap'
import { createHash, randomBytes } from 'node:crypto'
import { Chunker, chunkStream, gearTable, type ChunkerOptions } from '../../../lib/store/chunker.js'

const small = { min: 2048, avg: 8192, max: 65536 }
const gear = gearTable(Buffer.alloc(32, 1))
const hashes = (chunks: Uint8Array[]) => chunks.map((c) => createHash('sha256').update(c).digest('hex'))

function cut(data: Uint8Array, opts: ChunkerOptions = small, g = gear, step = data.length): Uint8Array[] {
  const c = new Chunker(g, opts)
  const out: Uint8Array[] = []
  for (let p = 0; p < data.length; p += step) out.push(...c.push(data.subarray(p, p + step)))
  const last = c.finish()
  if (last) out.push(last)
  return out
}

t.test('chunks cover the input exactly, within bounds', async (t) => {
  const data = randomBytes(3 * 1024 * 1024)
  const chunks = cut(data)
  t.same(Buffer.concat(chunks), data)
  chunks.slice(0, -1).forEach((c) => t.ok(c.length >= small.min && c.length <= small.max, `chunk of ${c.length}`, { diagnostic: false }))
  const avg = data.length / chunks.length
  t.ok(avg > small.avg * 0.7 && avg < small.avg * 1.5, `average ${avg.toFixed(0)} near ${small.avg}`)
  t.same(cut(Buffer.alloc(0)), [], 'empty input, no chunk')
  t.equal(cut(randomBytes(1000)).length, 1, 'below min: one chunk')
  t.ok(
    cut(Buffer.alloc(1024 * 1024)).every((c, i, a) => i === a.length - 1 || c.length === small.max),
    'no content boundaries: cuts at max',
  )
})

t.test('deterministic per seed, independent of how the input is fed', async (t) => {
  const data = randomBytes(1024 * 1024)
  const ref = hashes(cut(data))
  for (const step of [1, 7, 4096, 65537, 300_000]) t.same(hashes(cut(data, small, gear, step)), ref, `fed ${step} bytes at a time`)
  const c = new Chunker(gear, small)
  const out: Uint8Array[] = []
  for (let p = 0; p < data.length;) {
    const n = 1 + Math.floor(Math.random() * 50_000)
    out.push(...c.push(data.subarray(p, p + n)))
    p += n
  }
  const last = c.finish()
  if (last) out.push(last)
  t.same(hashes(out), ref, 'random splits')
  const other = hashes(cut(data, small, gearTable(Buffer.alloc(32, 2))))
  t.not(other.join(), ref.join(), 'another key cuts elsewhere')
  async function* source() {
    for (let p = 0; p < data.length; p += 10_000) yield data.subarray(p, p + 10_000)
  }
  const streamed: Uint8Array[] = []
  for await (const ch of chunkStream(source(), gear, small)) streamed.push(ch)
  t.same(hashes(streamed), ref, 'chunkStream')
})

t.test('an insertion at the start changes only the first chunks (default sizes, 50 MiB)', async (t) => {
  const data = randomBytes(50 * 1024 * 1024)
  const before = new Set(hashes(cut(data, {})))
  const after = hashes(cut(Buffer.concat([Buffer.from('0123456789'), data]), {}))
  const changed = after.filter((h) => !before.has(h)).length
  t.ok(changed <= 3, `${changed} of ${after.length} chunks changed`)
})

t.test('options are checked where they enter', async (t) => {
  t.throws(() => new Chunker(gear, { avg: 1000 }), /avg: 1000 must be a power of two/)
  t.throws(() => new Chunker(gear, { min: 9000, avg: 8192, max: 65536 }), /min: 9000/)
  t.throws(() => new Chunker(gear, { min: 1024, avg: 8192, max: 8192 }), /max: 8192/)
  t.throws(() => new Chunker(new Uint32Array(10)), /256 entries/)
})
