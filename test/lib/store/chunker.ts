import t from 'tap'
import { createCipheriv, createHash } from 'node:crypto'
import { Chunker, DEFAULT_CHUNKING, chunkStream, gearTable, type ChunkerOptions } from '../../../lib/store/chunker.js'

// Sizes scaled down 64x from the defaults' shape, so that tests see hundreds of chunks per MiB.
const small = { min: 2048, avg: 8192, max: 65536 }
const gear = gearTable(Buffer.alloc(32, 1))

/** Reproducible "random" bytes (AES-CTR keystream): no test depends on luck. */
function noise(length: number, seed = 0): Buffer {
  const key = Buffer.alloc(32, seed)
  return createCipheriv('aes-256-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(length))
}

const hashes = (chunks: Uint8Array[]) => chunks.map((c) => createHash('sha256').update(c).digest('hex'))
const lengths = (chunks: Uint8Array[]) => chunks.map((c) => c.length)

/** Chunks of `data` pushed in pieces of the given sizes (the last size repeats). */
function cut(data: Uint8Array, opts: ChunkerOptions = small, g = gear, sizes: number[] = [data.length]): Uint8Array[] {
  const c = new Chunker(g, opts)
  const out: Uint8Array[] = []
  for (let p = 0, k = 0; p < data.length; k++) {
    const n = sizes[Math.min(k, sizes.length - 1)]!
    out.push(...c.push(data.subarray(p, p + n)))
    p += n
  }
  const last = c.finish()
  if (last) out.push(last)
  return out
}

t.test('gear table: derived from the seed, pinned format', async (t) => {
  t.equal(gear.length, 256)
  t.same(gearTable(Buffer.alloc(32, 1)), gear, 'deterministic')
  t.not(Buffer.from(gearTable(Buffer.alloc(32, 2)).buffer).toString('hex'), Buffer.from(gear.buffer).toString('hex'), 'seed-dependent')
  // These values pin the on-vault format: if they change, existing vaults stop deduplicating.
  t.equal(
    createHash('sha256').update(gear).digest('hex'),
    '6c8cec5a8360117f7cb7f30e4d55bb52fdbfbae931cdc5757166d619fde3f5cd',
    'HMAC-SHA256 construction unchanged',
  )
  t.same(
    lengths(cut(noise(16 * 1024, 9), { min: 256, avg: 1024, max: 4096 })),
    [1141, 1178, 1131, 1999, 623, 1065, 1071, 1596, 781, 1085, 1228, 1725, 1505, 256],
    'cut rule unchanged',
  )
  t.throws(() => gearTable(Buffer.alloc(16)), /gearTable: seed must be 32 bytes, got 16/)
})

t.test('chunks cover the input exactly, within bounds, near the target average', async (t) => {
  const data = noise(8 * 1024 * 1024)
  const chunks = cut(data)
  t.same(Buffer.concat(chunks), data, 'concatenation is the input')
  const inner = chunks.slice(0, -1)
  t.ok(
    inner.every((c) => c.length >= small.min && c.length <= small.max),
    'every chunk but the last within [min, max]',
  )
  t.ok(
    inner.some((c) => c.length < small.avg),
    'some cut between min and avg (strict mask)',
  )
  const mean = data.length / chunks.length
  t.ok(Math.abs(mean / small.avg - 1) < 0.3, `average ${mean.toFixed(0)} within 30% of ${small.avg}`)
})

t.test('edge sizes', async (t) => {
  t.same(cut(Buffer.alloc(0)), [], 'empty input: no chunk')
  const c = new Chunker(gear, small)
  t.same(c.push(new Uint8Array(0)), [], 'empty push')
  t.equal(c.finish(), undefined, 'nothing to finish')
  for (const n of [1, small.min - 1, small.min]) {
    const data = noise(n)
    const chunks = cut(data)
    t.equal(chunks.length, 1, `${n} bytes: one chunk`)
    t.same(chunks[0], data)
  }
  const zeros = cut(Buffer.alloc(small.max * 3 + 100))
  t.same(lengths(zeros), [small.max, small.max, small.max, 100], 'no content boundaries: cuts at max')
  const defaults = new Chunker(gear)
  t.same(
    defaults.push(Buffer.alloc(DEFAULT_CHUNKING.max + 1)).map((c) => c.length),
    [DEFAULT_CHUNKING.max],
    'default max is 8 MiB',
  )
  t.equal(defaults.finish()?.length, 1)
  t.same(lengths(cut(noise(DEFAULT_CHUNKING.min), {})), [DEFAULT_CHUNKING.min], 'a file of the default min (512 KiB) is one chunk')
})

t.test('the same chunks however the input is fed', async (t) => {
  const data = noise(4 * 1024 * 1024, 2)
  const ref = hashes(cut(data))
  t.ok(ref.length > 300, `${ref.length} chunks`)
  const head = data.subarray(0, 256 * 1024)
  t.same(hashes(cut(head, small, gear, [1])), hashes(cut(head)), 'one byte at a time')
  for (const step of [7, 4096, 65535, 65536, 65537, 1024 * 1024, 3 * 1024 * 1024])
    t.same(hashes(cut(data, small, gear, [step])), ref, `${step} bytes at a time`)
  // Reproducible random splits from 1 byte to 3 MiB, with empty pushes mixed in.
  const sizes = [...noise(400, 3)].map((b, i) => (i % 5 === 0 ? 0 : i % 7 === 0 ? 1 + b * 12_000 : 1 + b * 97))
  t.same(hashes(cut(data, small, gear, [...sizes, 3 * 1024 * 1024])), ref, 'random splits')
  async function* source() {
    for (let p = 0; p < data.length; p += 10_000) yield data.subarray(p, p + 10_000)
  }
  const streamed: Uint8Array[] = []
  for await (const ch of chunkStream(source(), gear, small)) streamed.push(ch)
  t.same(hashes(streamed), ref, 'chunkStream')
  const none: Uint8Array[] = []
  for await (const ch of chunkStream((async function* () {})(), gear)) none.push(ch)
  t.same(none, [], 'chunkStream of nothing')
})

t.test('chunks inside one buffer are views of it; spanning chunks are assembled', async (t) => {
  const data = noise(1024 * 1024, 4)
  const ref = lengths(cut(data))
  const c = new Chunker(gear, small)
  const a = data.subarray(0, 500_000)
  const b = data.subarray(500_000)
  const fromA = c.push(a)
  const fromB = c.push(b)
  const last = c.finish()
  t.same([...lengths(fromA), ...lengths(fromB), last?.length], ref)
  t.ok(
    fromA.every((ch) => ch.buffer === data.buffer),
    'no copy for chunks inside a buffer',
  )
  t.ok(fromB.slice(1).every((ch) => ch.buffer === data.buffer))
  t.not(fromB[0]!.buffer, data.buffer, 'the chunk across the two buffers is new memory')
  t.same(Buffer.concat([...fromA, ...fromB, last!]), data)
  // After finish, the chunker starts over.
  t.same(lengths(cut(data)), [...lengths(c.push(data)), c.finish()?.length], 'reusable after finish')
})

t.test('cutPoint', async (t) => {
  const data = noise(256 * 1024, 5)
  const c = new Chunker(gear, small)
  const ref = lengths(cut(data))
  const first = c.cutPoint(data)
  t.equal(first, ref[0], 'the first cut')
  t.equal(c.cutPoint(data, first), first + ref[1]!, 'from a start offset')
  t.equal(c.cutPoint(data, 0, small.min), -1, 'no cut before min: the chunk runs on')
  t.equal(c.cutPoint(data, 0, first - 1), -1, 'the chunk runs past end')
  t.equal(c.cutPoint(Buffer.alloc(small.max * 2), 100), 100 + small.max, 'forced at max')
  t.equal(c.cutPoint(Buffer.alloc(small.max), 0), small.max, 'forced at max, at the end')
  t.same(lengths(cut(data)), ref, 'stateless: push is unaffected')
})

t.test('another seed cuts elsewhere', async (t) => {
  const data = noise(1024 * 1024, 6)
  const mine = new Set(lengths(cut(data)).reduce<number[]>((a, n) => [...a, (a.at(-1) ?? 0) + n], []))
  const theirs = lengths(cut(data, small, gearTable(Buffer.alloc(32, 2)))).reduce<number[]>((a, n) => [...a, (a.at(-1) ?? 0) + n], [])
  const shared = theirs.filter((p) => mine.has(p)).length
  t.ok(shared <= 2, `${shared} of ${theirs.length} cut points shared (the end of the input is one)`)
})

t.test('an insertion or edit changes only the chunks around it', async (t) => {
  const data = noise(50 * 1024 * 1024, 7)
  const before = new Set(hashes(cut(data, {}, gear, [4 * 1024 * 1024])))
  const after = hashes(cut(Buffer.concat([Buffer.from('0123456789'), data]), {}, gear, [4 * 1024 * 1024]))
  const changed = after.filter((h) => !before.has(h)).length
  t.ok(changed >= 1 && changed <= 3, `10 bytes inserted at the start, default sizes, 50 MiB: ${changed} of ${after.length} chunks changed`)

  const base = noise(4 * 1024 * 1024, 8)
  const old = new Set(hashes(cut(base)))
  const edited = Buffer.from(base)
  edited[2_000_000] = edited[2_000_000]! ^ 1
  const spliced = Buffer.concat([base.subarray(0, 3_000_000), base.subarray(3_000_100)])
  for (const [what, d] of [
    ['one byte flipped', edited],
    ['100 bytes deleted', spliced],
  ] as const) {
    const now = hashes(cut(d))
    const n = now.filter((h) => !old.has(h)).length
    t.ok(n >= 1 && n <= 3, `${what} in the middle: ${n} of ${now.length} chunks changed`)
  }
})

t.test('options are checked where they enter, naming the option', async (t) => {
  const bad: [ChunkerOptions, RegExp][] = [
    [{ avg: 1000 }, /chunker avg: 1000 must be a power of two/],
    [{ avg: 32, min: 16 }, /chunker avg: 32/],
    [{ avg: 2 ** 31 }, /chunker avg: 2147483648/],
    [{ min: 9000, avg: 8192, max: 65536 }, /chunker min: 9000 must be .* below avg \(8192\)/],
    [{ min: 8192, avg: 8192, max: 65536 }, /chunker min: 8192/],
    [{ min: 0, avg: 8192, max: 65536 }, /chunker min: 0/],
    [{ min: 1.5, avg: 8192, max: 65536 }, /chunker min: 1.5/],
    [{ min: 1024, avg: 8192, max: 8192 }, /chunker max: 8192 must be an integer above avg/],
    [{ max: NaN }, /chunker max: NaN/],
    [{ min: 2 * 1024 * 1024 }, /chunker min: 2097152/],
  ]
  for (const [opts, re] of bad) t.throws(() => new Chunker(gear, opts), re, JSON.stringify(opts))
  t.throws(() => new Chunker(new Uint32Array(10)), /chunker gear: must be a Uint32Array of 256 entries/)
  t.throws(() => new Chunker(new Int32Array(256) as unknown as Uint32Array), /chunker gear/)
  t.doesNotThrow(() => new Chunker(gear, { min: 1, avg: 64, max: 65 }), 'smallest bounds')
  t.doesNotThrow(() => new Chunker(gear, { avg: 2 ** 30, min: 1, max: 2 ** 31 }), 'largest avg')
})
