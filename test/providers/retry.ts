/** The one retry policy: when it retries, how long it waits, and when it gives up. */
import t from 'tap'
import { NotFoundError, ProviderError, TransientError } from '../../lib/errors.js'
import { memory } from '../../providers/memory.js'
import type { Provider } from '../../providers/provider.js'
import { Limiter, withRetries, type RetryOptions } from '../../providers/retry.js'

/** A memory provider whose `get` runs `behaviour` first (the n-th call, from 0). */
function scripted(behaviour: (n: number) => Promise<void> | void): Provider & { calls: number } {
  const inner = memory()
  const p = {
    ...inner,
    calls: 0,
    async get(key: string) {
      await behaviour(p.calls++)
      return inner.get(key)
    },
  }
  return p
}

/** Retry options with recorded waits instead of real ones. */
function recorded(extra: RetryOptions = {}): RetryOptions & { waits: number[] } {
  const waits: number[] = []
  return { waits, sleep: async (ms) => void waits.push(ms), random: () => 1, ...extra }
}

t.test('backoff doubles up to its ceiling, and a Retry-After is waited out', async (t) => {
  const p = scripted((n) => {
    if (n < 6) throw new TransientError('x', 'HTTP 503', { retryAfterMs: n === 5 ? 9000 : undefined })
  })
  await p.put('k', Buffer.from('v'))
  const o = recorded({ baseMs: 100, maxMs: 1000 })
  const r = withRetries(p, o)
  t.equal(Buffer.from(await r.get('k')).toString(), 'v')
  t.same(o.waits, [100, 200, 400, 800, 1000, 9000])
  t.equal(p.calls, 7)
})

t.test('jitter spreads the waits below the ceiling', async (t) => {
  const p = scripted((n) => {
    if (n < 3) throw Object.assign(new Error('reset'), { code: 'ECONNRESET' })
  })
  await p.put('k', Buffer.from('v'))
  const o = recorded({ baseMs: 100, random: () => 0.5 })
  await withRetries(p, o).get('k')
  t.same(o.waits, [50, 100, 200], 'network errors are retried too, waits are a random share of the ceiling')
})

t.test('out of tries: a provider error that says what to do', async (t) => {
  const p = scripted(() => {
    throw new TransientError(p.name, 'HTTP 500 InternalError')
  })
  await p.put('k', Buffer.from('v'))
  const err = await withRetries(p, recorded({ retries: 3 }))
    .get('k')
    .catch((e: unknown) => e)
  t.ok(err instanceof ProviderError)
  t.equal((err as ProviderError).kind, 'unreachable')
  t.equal((err as ProviderError).exitCode, 5)
  t.match((err as Error).message, /reading k failed 4 times \(last: HTTP 500 InternalError\); check the network/)
  t.equal(p.calls, 4)
})

t.test('refusals and missing objects are not retried', async (t) => {
  for (const error of [new ProviderError('x', 'bad key', { kind: 'auth' }), new NotFoundError('x', 'k'), new Error('a bug')]) {
    const p = scripted(() => {
      throw error
    })
    await t.rejects(withRetries(p, recorded()).get('k'), error)
    t.equal(p.calls, 1, error.constructor.name)
  }
})

t.test('a Retry-After longer than five minutes is reported, not obeyed', async (t) => {
  const p = scripted(() => {
    throw new TransientError('x', 'HTTP 429', { retryAfterMs: 3_600_000 })
  })
  await t.rejects(withRetries(p, recorded()).get('k'), { kind: 'unreachable', message: /asks to wait 60 min/ })
})

t.test('no more than `concurrency` operations at once', async (t) => {
  let now = 0
  let most = 0
  const p = scripted(async () => {
    most = Math.max(most, ++now)
    await new Promise((r) => setTimeout(r, 5))
    now--
  })
  await p.put('k', Buffer.from('v'))
  const r = withRetries(p, { concurrency: 3 })
  await Promise.all(Array.from({ length: 20 }, () => r.get('k')))
  t.equal(most, 3)
  t.equal(p.calls, 20)

  const l = new Limiter(1)
  const order: number[] = []
  await Promise.all([1, 2, 3].map((i) => l.run(async () => void order.push(i))))
  t.same(order, [1, 2, 3], 'waiting tasks run in arrival order')
})

t.test('a stalled attempt is abandoned and tried again', async (t) => {
  const p = scripted((n) => (n === 0 ? new Promise<void>(() => {}) : undefined))
  await p.put('k', Buffer.from('v'))
  const o = recorded({ timeoutMs: 50 })
  t.equal(Buffer.from(await withRetries(p, o).get('k')).toString(), 'v')
  t.equal(p.calls, 2)
})

t.test('a streamed put broken off mid-body is replayed whole; the source is read once', async (t) => {
  const inner = memory()
  let attempts = 0
  const breaking: Provider = {
    ...inner,
    async put(key, body, opts) {
      if (attempts++ === 0) {
        for await (const _ of body as AsyncIterable<Uint8Array>) break
        throw Object.assign(new Error('reset'), { code: 'ECONNRESET' })
      }
      return inner.put(key, body, opts)
    },
  }
  let pulls = 0
  async function* source() {
    for (let i = 0; i < 5; i++) {
      pulls++
      yield Buffer.from(`part${i};`)
    }
  }
  await withRetries(breaking, recorded()).put('k', source())
  t.equal(Buffer.from(await inner.get('k')).toString(), 'part0;part1;part2;part3;part4;')
  t.equal(attempts, 2)
  t.equal(pulls, 5, 'each part taken from the source once')
})

t.test('a slow source is not a stall', async (t) => {
  const inner = memory()
  async function* slow() {
    for (let i = 0; i < 3; i++) {
      await new Promise((r) => setTimeout(r, 80))
      yield Buffer.from(String(i))
    }
  }
  const o = recorded({ timeoutMs: 50 })
  await withRetries(inner, o).put('k', slow())
  t.equal(Buffer.from(await inner.get('k')).toString(), '012')
  t.same(o.waits, [], 'no retry')
})

t.test('an if-absent put whose answer was lost finds its own bytes and is done', async (t) => {
  const inner = memory()
  let n = 0
  const losing: Provider = {
    ...inner,
    async put(key, body, opts) {
      await inner.put(key, body, opts)
      if (n++ === 0) throw Object.assign(new Error('reset'), { code: 'ECONNRESET' })
    },
  }
  const r = withRetries(losing, recorded())
  await r.put('k', Buffer.from('mine'), { ifAbsent: true })
  t.equal(Buffer.from(await inner.get('k')).toString(), 'mine')
  await t.rejects(r.put('k', Buffer.from('other'), { ifAbsent: true }), { code: 'EEXIST' }, 'another writer is still refused')
})

t.test('a listing broken off mid-way is listed again, each key once', async (t) => {
  const inner = memory()
  for (let i = 0; i < 10; i++) await inner.put(`d/${i}`, Buffer.from('x'))
  let runs = 0
  const breaking: Provider = {
    ...inner,
    async *list(prefix) {
      const broken = runs++ < 2
      let n = 0
      for await (const o of inner.list(prefix)) {
        if (broken && n++ === 3 + runs) throw Object.assign(new Error('reset'), { code: 'ECONNRESET' })
        yield o
      }
    },
  }
  const keys: string[] = []
  for await (const o of withRetries(breaking, recorded()).list('d/')) keys.push(o.key)
  t.equal(keys.length, 10)
  t.equal(new Set(keys).size, 10)
  t.equal(runs, 3)
})

t.test('a paged listing broken off goes on from its page, not from the start', async (t) => {
  const pages = [['a', 'b'], ['c', 'd'], ['e', 'f'], ['g']]
  const starts: (string | undefined)[] = []
  let broken = 0
  const paged: Provider = {
    ...memory(),
    async *list(_prefix, options) {
      starts.push(options?.resume)
      for (let p = Number(options?.resume ?? 0); p < pages.length; p++) {
        for (const key of pages[p]!) {
          // Page 2 breaks twice, after its first key.
          if (p === 2 && key === 'f' && broken++ < 2) throw Object.assign(new Error('reset'), { code: 'ECONNRESET' })
          yield { key, size: 1, resume: String(p) }
        }
      }
    },
  }
  const keys: string[] = []
  for await (const o of withRetries(paged, recorded()).list('')) keys.push(o.key)
  t.same(keys, ['a', 'b', 'c', 'd', 'e', 'f', 'g'], 'each key once, in order')
  t.same(starts, [undefined, '2', '2'], 'the retries start at the broken page')
})

t.test('a long listing that fails now and then goes on to its end: the tries count failures in a row', async (t) => {
  // 40 pages, each failing once before it is listed: 40 failures in all, never two in a row.
  const failed = new Set<number>()
  const paged: Provider = {
    ...memory(),
    async *list(_prefix, options) {
      for (let p = Number(options?.resume ?? 0); p < 40; p++) {
        if (!failed.has(p)) {
          failed.add(p)
          throw new TransientError('paged', 'HTTP 429 (too_many_requests)')
        }
        yield { key: `k${p}`, size: 1, resume: String(p + 1) }
      }
    },
  }
  const keys: string[] = []
  for await (const o of withRetries(paged, recorded({ retries: 3 })).list('')) keys.push(o.key)
  t.equal(keys.length, 40, 'every key, with 3 tries allowed for 40 failures')
  // Failures in a row still end it.
  const down: Provider = {
    ...memory(),
    list: () => ({ [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(new TransientError('down', 'HTTP 503')) }) }),
  }
  await t.rejects(
    (async () => {
      for await (const _ of withRetries(down, recorded({ retries: 3 })).list('')) void _
    })(),
    /listing the vault failed 4 times/,
  )
})

t.test("the provider's change feed and parallelism come through the policy", async (t) => {
  const calls: string[] = []
  const feeding: Provider = {
    ...memory(),
    parallelism: 4,
    async watch(prefix, onChange, signal) {
      calls.push(prefix)
      await onChange({ type: 'put', key: `${prefix}x`, size: 1 })
      t.notOk(signal.aborted)
    },
  }
  const r = withRetries(feeding)
  t.equal(r.parallelism, 4)
  const seen: unknown[] = []
  await r.watch!('s/', (c) => void seen.push(c), new AbortController().signal)
  t.same(seen, [{ type: 'put', key: 's/x', size: 1 }])
  t.notOk('watch' in withRetries(memory()) && withRetries(memory()).watch !== undefined, 'none where the provider has none')
})

t.test("a caller leaving a listing early closes the provider's listing", async (t) => {
  let closed = 0
  const counting: Provider = {
    ...memory(),
    async *list() {
      try {
        for (let i = 0; i < 10; i++) yield { key: `k${i}`, size: 1 }
      } finally {
        closed++
      }
    },
  }
  const r = withRetries(counting, recorded())
  for await (const o of r.list('')) if (o.key === 'k2') break
  t.equal(closed, 1, 'after a break')
  await t.rejects(
    (async () => {
      for await (const o of r.list('')) if (o.key === 'k1') throw new Error('the caller failed')
    })(),
    /the caller failed/,
  )
  t.equal(closed, 2, 'after a throw')
})

t.test('an option given as undefined keeps its default', async (t) => {
  const p = scripted(() => new Promise<void>((r) => setTimeout(r, 30)))
  await p.put('k', Buffer.from('v'))
  const o = recorded({ timeoutMs: undefined, retries: undefined })
  t.equal(Buffer.from(await withRetries(p, o).get('k')).toString(), 'v')
  t.same(o.waits, [], 'a 30 ms answer is not a stall')
  t.equal(p.calls, 1)
})
