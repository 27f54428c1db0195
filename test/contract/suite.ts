/**
 * The provider contract: what every storage provider must do, as `providers/provider.ts`
 * documents it. Each provider's test file runs this suite with a factory of fresh instances.
 */
import type { Test } from 'tap'
import { randomBytes } from 'node:crypto'
import { AlreadyExistsError, NotFoundError } from '../../lib/errors.js'
import type { Provider } from '../../providers/provider.js'

async function listAll(p: Provider, prefix: string) {
  const out: { key: string; size: number }[] = []
  for await (const o of p.list(prefix)) out.push({ key: o.key, size: o.size })
  return out.sort((a, b) => (a.key < b.key ? -1 : 1))
}

async function* pieces(data: Buffer, sizes: number[]): AsyncGenerator<Uint8Array> {
  let p = 0
  for (let i = 0; p < data.length; i++) {
    const n = sizes[i % sizes.length]!
    yield data.subarray(p, p + n)
    p += n
    await new Promise((r) => setImmediate(r))
  }
}

export function providerContract(t: Test, make: (t: Test) => Promise<Provider>): void {
  const each = (name: string, fn: (t: Test, p: Provider) => Promise<void>) =>
    t.test(name, async (t) => {
      const p = await make(t)
      t.teardown(() => p.close())
      await fn(t, p)
    })

  each('put and get: empty, tiny, and a 16 MiB stream in odd pieces', async (t, p) => {
    await p.put('a/empty', new Uint8Array(0))
    t.same(Buffer.from(await p.get('a/empty')), Buffer.alloc(0))
    await p.put('a/one', Buffer.from([7]))
    t.same(Buffer.from(await p.get('a/one')), Buffer.from([7]))
    const big = randomBytes(16 * 1024 * 1024)
    await p.put('a/big', pieces(big, [1, 65537, 1_000_003, 333]))
    t.ok(Buffer.from(await p.get('a/big')).equals(big), 'large object round trip')
    t.equal((await p.stat('a/big'))?.size, big.length)
  })

  each('ranged reads', async (t, p) => {
    const data = randomBytes(100_000)
    await p.put('r/x', data)
    const get = async (offset: number, length: number) => Buffer.from(await p.get('r/x', { offset, length }))
    t.same(await get(0, 10), data.subarray(0, 10), 'start')
    t.same(await get(50_000, 1234), data.subarray(50_000, 51_234), 'middle')
    t.same(await get(99_990, 10), data.subarray(99_990), 'end')
    t.same(await get(99_990, 100), data.subarray(99_990), 'past the end is cut')
    t.equal((await get(100_000, 10)).length, 0, 'at the end: nothing')
    t.equal((await get(10, 0)).length, 0, 'zero length')
  })

  each('missing keys', async (t, p) => {
    await t.rejects(p.get('nope/x'), NotFoundError)
    await t.rejects(p.get('nope/x', { offset: 0, length: 1 }), NotFoundError)
    t.equal(await p.stat('nope/x'), undefined)
    await p.delete('nope/x')
    t.same(await listAll(p, 'nope/'), [])
  })

  each('listing 1,200 keys in nested folders, by prefix', async (t, p) => {
    const keys: string[] = []
    for (let i = 0; i < 1200; i++) keys.push(`s/${(i % 7).toString(16)}${(i % 3).toString(16)}/packs/${i.toString(16).padStart(4, '0')}`)
    let next = 0
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < keys.length) {
          const k = keys[next++]!
          await p.put(k, Buffer.alloc(k.length))
        }
      }),
    )
    await p.put('sx/other', Buffer.alloc(1))
    const all = await listAll(p, 's/')
    t.equal(all.length, 1200, 'each key once, nothing else')
    t.same(
      all.map((o) => o.key),
      [...keys].sort(),
    )
    t.ok(
      all.every((o) => o.size === o.key.length),
      'sizes',
    )
    const sub = await listAll(p, 's/00/')
    t.same(
      sub.map((o) => o.key),
      keys.filter((k) => k.startsWith('s/00/')).sort(),
      'a folder prefix',
    )
    const partial = await listAll(p, 's/0')
    t.same(
      partial.map((o) => o.key),
      keys.filter((k) => k.startsWith('s/0')).sort(),
      'a partial name prefix',
    )
  })

  each('overwrite, if-absent, delete', async (t, p) => {
    await p.put('o/k', Buffer.from('one'))
    await p.put('o/k', Buffer.from('two'))
    t.same(Buffer.from(await p.get('o/k')).toString(), 'two', 'overwrite replaces')
    await t.rejects(p.put('o/k', Buffer.from('three'), { ifAbsent: true }), AlreadyExistsError)
    t.same(Buffer.from(await p.get('o/k')).toString(), 'two', 'if-absent leaves the object alone')
    await p.delete('o/k')
    await t.rejects(p.get('o/k'), NotFoundError)
    await p.put('o/k', Buffer.from('four'), { ifAbsent: true })
    t.same(Buffer.from(await p.get('o/k')).toString(), 'four', 'if-absent after delete')
  })

  each('20 concurrent if-absent puts of one key: exactly one wins', async (t, p) => {
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) => p.put('c/k', Buffer.from(`writer ${i}`), { ifAbsent: true })),
    )
    const won = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []))
    t.equal(won.length, 1, 'one winner')
    t.ok(
      results.every((r) => r.status === 'fulfilled' || r.reason instanceof AlreadyExistsError),
      'the others are told why',
    )
    t.same(Buffer.from(await p.get('c/k')).toString(), `writer ${won[0]}`, "the stored object is the winner's")
  })

  each('200 concurrent writers of distinct keys all land', async (t, p) => {
    await Promise.all(Array.from({ length: 200 }, (_, i) => p.put(`w/${i}`, Buffer.from(String(i)))))
    const all = await listAll(p, 'w/')
    t.equal(all.length, 200)
    for (const i of [0, 99, 199]) t.same(Buffer.from(await p.get(`w/${i}`)).toString(), String(i))
  })

  each('a put whose stream fails leaves nothing behind', async (t, p) => {
    async function* failing() {
      yield randomBytes(100_000)
      throw new Error('the source broke')
    }
    await t.rejects(p.put('f/k', failing()), /the source broke/)
    await t.rejects(p.get('f/k'), NotFoundError)
    t.same(await listAll(p, ''), [], 'nothing listed anywhere')
    await p.put('f/k', Buffer.from('ok'))
    await t.rejects(p.put('f/k', failing()), /the source broke/)
    t.same(Buffer.from(await p.get('f/k')).toString(), 'ok', 'a failed overwrite keeps the old object')
  })

  each('invalid keys are refused', async (t, p) => {
    for (const k of ['/abs', 'a/../b', 'a//b', '', 'a/b c', '..'])
      await t.rejects(p.put(k, Buffer.alloc(1)), { code: 'EKEY' }, JSON.stringify(k))
  })
}
