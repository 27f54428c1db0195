/**
 * A provider that misbehaves on purpose, for tests: at a set rate an operation is dropped before
 * it reaches the provider, done but its answer lost, delayed, left hanging, refused with a 503
 * and a Retry-After, or (a put) broken off mid-body; a listing breaks off mid-way. What it throws
 * is what real providers throw for these cases (`TransientError`, a reset connection), so the
 * retry policy in front of it sees what it would see in the field.
 */
import { ProviderError, TransientError, UsageError } from '../lib/errors.js'
import { collect } from './keys.js'
import type { ByteRange, ListOptions, ObjectInfo, Provider, PutBody, PutOptions } from './provider.js'
import { mulberry32 } from '../lib/seeded-random.js'

export type Fault = 'drop' | 'lost-answer' | 'delay' | 'hang' | 'busy' | 'cut'

export interface FaultOptions {
  /** Share of operations that meet a fault, 0..1. */
  rate: number
  /** Faults to draw from (default: all). */
  faults?: readonly Fault[]
  /** Longest `delay`, in ms. */
  delayMs?: number
  /** How long a `hang` lasts before it fails (longer than the retry policy's timeout). */
  hangMs?: number
  /** Deterministic draws: a seed for the generator (default: random). */
  seed?: number
  /**
   * The account is full once this many bytes were stored: every later put fails with a
   * `quota` error, as a full storage account does (nothing retries that away).
   */
  quotaBytes?: number
  /**
   * Share of puts refused for good (a `refused` error nothing retries away), drawn with the same
   * seeded generator: uploads that fail at random.
   */
  putFailRate?: number
}

export interface FaultStats {
  operations: number
  faults: Record<Fault, number>
}

const ALL: readonly Fault[] = ['drop', 'lost-answer', 'delay', 'hang', 'busy', 'cut']

export function faulty(provider: Provider, options: FaultOptions): Provider & { stats: FaultStats } {
  const random = mulberry32(options.seed ?? Math.floor(Math.random() * 2 ** 32))
  const faults = options.faults ?? ALL
  const delayMs = options.delayMs ?? 50
  const hangMs = options.hangMs ?? 5_000
  const stats: FaultStats = { operations: 0, faults: { drop: 0, 'lost-answer': 0, delay: 0, hang: 0, busy: 0, cut: 0 } }
  const name = provider.name
  let stored = 0
  const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

  const draw = (): Fault | undefined => {
    stats.operations++
    if (random() >= options.rate) return undefined
    const f = faults[Math.floor(random() * faults.length)]!
    stats.faults[f]++
    return f
  }
  const reset = () => Object.assign(new Error(`${name}: connection reset (injected)`), { code: 'ECONNRESET' })

  /** Apply a drawn fault around `op`. `cut` is a put's own; elsewhere it is a drop. */
  async function around<T>(fault: Fault | undefined, op: () => Promise<T>): Promise<T> {
    switch (fault) {
      case undefined:
        return op()
      case 'drop':
      case 'cut':
        throw reset()
      case 'lost-answer':
        await op()
        throw reset()
      case 'delay':
        await sleep(random() * delayMs)
        return op()
      case 'hang':
        await sleep(hangMs)
        throw reset()
      case 'busy':
        throw new TransientError(name, 'HTTP 503 Slow Down (injected)', { retryAfterMs: Math.ceil(random() * delayMs) })
    }
  }

  /** The body, broken off after about half of it. */
  async function* cut(body: PutBody): AsyncGenerator<Uint8Array> {
    if (body instanceof Uint8Array) {
      yield body.subarray(0, body.length >> 1)
      throw reset()
    }
    let n = 0
    for await (const part of body) {
      yield part
      if (++n >= 2) break
    }
    throw reset()
  }

  /** A put against the byte budget: refused whole once the budget is spent (a put never lands in part). */
  async function quota(key: string, body: PutBody, opts?: PutOptions): Promise<void> {
    const data = await collect(body)
    if (stored + data.length > options.quotaBytes!) {
      throw new ProviderError(name, 'the storage account is full (injected): free space, then run again', { kind: 'quota' })
    }
    stored += data.length
    return provider.put(key, data, opts)
  }

  return {
    name,
    parallelism: provider.parallelism,
    local: provider.local,
    stats,
    get: (key: string, range?: ByteRange) => around(draw(), () => provider.get(key, range)),
    put: (key: string, body: PutBody, opts?: PutOptions) => {
      if (options.putFailRate && random() < options.putFailRate) {
        return Promise.reject(new ProviderError(name, 'the upload was refused (injected)', { kind: 'refused' }))
      }
      if (options.quotaBytes !== undefined) return quota(key, body, opts)
      const fault = draw()
      if (fault === 'cut') return provider.put(key, cut(body), opts)
      return around(fault, () => provider.put(key, body, opts))
    },
    async *list(prefix: string, listOptions?: ListOptions): AsyncIterable<ObjectInfo> {
      const fault = draw()
      if (fault === 'hang' || fault === 'delay') await sleep(fault === 'hang' ? hangMs : random() * delayMs)
      if (fault === 'drop' || fault === 'busy' || fault === 'hang') throw reset()
      let n = 0
      for await (const o of provider.list(prefix, listOptions)) {
        // A broken listing: part of it arrives, then the connection goes.
        if ((fault === 'cut' || fault === 'lost-answer') && n++ > 0 && random() < 0.5) throw reset()
        yield o
      }
    },
    delete: (key: string) => around(draw(), () => provider.delete(key)),
    stat: (key: string) => around(draw(), () => provider.stat(key)),
    watch: provider.watch?.bind(provider),
    watchPolls: provider.watchPolls,
    close: () => provider.close(),
  }
}

/**
 * Faults from a `CLOUDY_FAULT_INJECTION` value, for tests of the whole command line:
 * `rate=0.2,delay=50,hang=2000,seed=7,quota=BYTES,putfail=0.1` (and `timeout=MS`, the retry policy's stall
 * timeout, so that hangs end quickly). Returns the fault options and the retry timeout.
 */
export function parseFaults(spec: string): { faults: FaultOptions; timeoutMs?: number } {
  const faults: FaultOptions = { rate: 0 }
  let timeoutMs: number | undefined
  for (const part of spec.split(',').filter(Boolean)) {
    const [k, v] = part.split('=')
    const n = Number(v)
    if (!Number.isFinite(n) || n < 0) throw new UsageError(`CLOUDY_FAULT_INJECTION: "${part}" needs a number (e.g. rate=0.2)`)
    if (k === 'rate') faults.rate = n
    else if (k === 'delay') faults.delayMs = n
    else if (k === 'hang') faults.hangMs = n
    else if (k === 'seed') faults.seed = n
    else if (k === 'quota') faults.quotaBytes = n
    else if (k === 'putfail') faults.putFailRate = n
    else if (k === 'timeout') timeoutMs = n
    else throw new UsageError(`CLOUDY_FAULT_INJECTION: unknown setting "${k}" (rate, delay, hang, seed, quota, putfail, timeout)`)
  }
  return { faults, timeoutMs }
}
