/**
 * One retry policy for every remote provider: each provider only says which failures are worth
 * another try (a `TransientError`, or a dropped connection), and this wrapper decides when:
 *  - exponential backoff with full jitter (AWS's "Exponential Backoff and Jitter"), never less
 *    than what a server asked for with Retry-After (429, 503);
 *  - a bounded number of operations in flight per provider;
 *  - an attempt that takes longer than `timeoutMs` without an answer is abandoned and tried
 *    again;
 *  - once out of tries, a `ProviderError` of kind `unreachable` that says what to do.
 *
 * Retrying is safe because objects are immutable or whole: a put's body is gathered once and
 * every try sends the same bytes; an if-absent put whose first try landed but whose answer was
 * lost finds its own bytes there, and that counts as done; a listing that breaks mid-way is
 * listed again without repeating a key.
 */
import { AlreadyExistsError, ProviderError, TransientError } from '../lib/errors.js'
import { collect } from './keys.js'
import type { ByteRange, ListOptions, ObjectInfo, Provider, PutBody, PutOptions } from './provider.js'

export interface RetryOptions {
  /** Tries after the first. */
  retries?: number
  /** The first backoff's ceiling; each retry doubles it. */
  baseMs?: number
  /** The largest backoff. */
  maxMs?: number
  /** An attempt that makes no progress for this long is abandoned. */
  timeoutMs?: number
  /** Operations in flight at once (a listing being read does not count). */
  concurrency?: number
  /** Called before each retry: what failed and how long until the next try. */
  onRetry?: (info: { op: string; attempt: number; delayMs: number; error: unknown }) => void
  /** For tests: waiting and chance. */
  sleep?: (ms: number) => Promise<void>
  random?: () => number
}

/** Longest wait a Retry-After may impose; a server asking for more is reported, not obeyed. */
const RETRY_AFTER_LIMIT = 5 * 60_000

/** Bytes per second of the slowest upload a put must be given time for. */
const SLOWEST_LINE = 32 * 1024

const DEFAULTS = { retries: 8, baseMs: 250, maxMs: 30_000, timeoutMs: 60_000, concurrency: 16 }

/** Network failures Node reports as plain errors: all worth another try. */
const NETWORK_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'ENOTCONN',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
])

export function isTransient(e: unknown): boolean {
  if (e instanceof TransientError) return true
  const code = (e as { code?: unknown } | null)?.code
  return typeof code === 'string' && NETWORK_CODES.has(code)
}

/** Runs at most `max` tasks at once, the others in arrival order. */
export class Limiter {
  #active = 0
  readonly #waiting: (() => void)[] = []
  constructor(readonly max: number) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.#active >= this.max) await new Promise<void>((r) => this.#waiting.push(r))
    else this.#active++
    try {
      return await task()
    } finally {
      const next = this.#waiting.shift()
      if (next) next()
      else this.#active--
    }
  }
}

/** A deadline: `expired` rejects once it passes, unless stopped first. */
class Deadline {
  readonly #timer: NodeJS.Timeout
  readonly expired: Promise<never>
  constructor(ms: number, error: () => Error) {
    let reject!: (e: Error) => void
    this.expired = new Promise<never>((_, r) => (reject = r))
    this.expired.catch(() => {})
    this.#timer = setTimeout(() => reject(error()), ms)
  }
  stop(): void {
    clearTimeout(this.#timer)
  }
}

/** `provider` with the retry policy, bounded concurrency and stall timeouts. */
export function withRetries(provider: Provider, options: RetryOptions = {}): Provider {
  // An option given as undefined keeps its default (a spread would put undefined in its place).
  const given = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as RetryOptions
  const o = { ...DEFAULTS, ...given }
  const sleep = o.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)))
  const random = o.random ?? Math.random
  const limiter = new Limiter(o.concurrency)
  const name = provider.name

  const stalled =
    (op: string, ms = o.timeoutMs) =>
    () =>
      new TransientError(name, `${op}: no answer for ${Math.round(ms / 1000)} s`)

  /** The wait before retry number `attempt` (1 = the first retry). */
  const backoff = (attempt: number, e: unknown): number => {
    const ceiling = Math.min(o.maxMs, o.baseMs * 2 ** (attempt - 1))
    const jitter = random() * ceiling
    const asked = e instanceof TransientError ? (e.retryAfterMs ?? 0) : 0
    if (asked > RETRY_AFTER_LIMIT) {
      throw new ProviderError(
        name,
        `the service asks to wait ${Math.ceil(asked / 60_000)} min before trying again (rate limit); run again later: nothing stored so far is lost`,
        { cause: e, kind: 'unreachable' },
      )
    }
    return Math.max(jitter, asked)
  }

  const giveUp = (op: string, tries: number, e: unknown) => {
    const reason = e instanceof Error ? e.message.replace(`${name}: `, '') : String(e)
    return new ProviderError(
      name,
      `${op} failed ${tries} times (last: ${reason}); check the network and the service's status, then run again: nothing stored so far is lost`,
      { cause: e, kind: 'unreachable' },
    )
  }

  /** After failure `e` of try `n` (from 0): rethrown if it is for good or the tries ran out, else waited out. */
  async function orWait(op: string, n: number, e: unknown): Promise<void> {
    if (!isTransient(e)) throw e
    if (n >= o.retries) throw giveUp(op, n + 1, e)
    const delayMs = backoff(n + 1, e)
    o.onRetry?.({ op, attempt: n + 1, delayMs, error: e })
    await sleep(delayMs)
  }

  /** Run `attempt` until it succeeds, fails for good, or the tries run out. */
  async function retrying<T>(op: string, attempt: (n: number) => Promise<T>, timeoutMs = o.timeoutMs): Promise<T> {
    for (let n = 0; ; n++) {
      try {
        // Timed from when it runs, not while it waits for its turn.
        return await limiter.run(async () => {
          const watchdog = new Deadline(timeoutMs, stalled(op, timeoutMs))
          try {
            return await Promise.race([attempt(n), watchdog.expired])
          } finally {
            watchdog.stop()
          }
        })
      } catch (e) {
        await orWait(op, n, e)
      }
    }
  }

  return {
    name,
    parallelism: provider.parallelism,
    local: provider.local,

    get(key: string, range?: ByteRange): Promise<Uint8Array> {
      // A range of a pack takes time on a slow line, like a put (a whole object is small).
      const timeoutMs = o.timeoutMs + ((range?.length ?? 0) / SLOWEST_LINE) * 1000
      return retrying(`reading ${key}`, () => provider.get(key, range), Number.isFinite(timeoutMs) ? timeoutMs : o.timeoutMs)
    },

    async put(key: string, body: PutBody, opts: PutOptions = {}): Promise<void> {
      // Gathered once (an object is at most a pack), so that every try sends the same bytes:
      // one copy in memory, which S3 and Drive would make anyway to know the length.
      const bytes = body instanceof Uint8Array ? body : await collect(body)
      // Sending takes time on a slow line: the wait grows with the size, as if at 32 KiB/s.
      const timeoutMs = o.timeoutMs + (bytes.length / SLOWEST_LINE) * 1000
      await retrying(
        `writing ${key}`,
        async (n) => {
          try {
            await provider.put(key, bytes, opts)
          } catch (e) {
            // An earlier try stored it and its answer was lost: the object there is ours.
            if (e instanceof AlreadyExistsError && n > 0) {
              const stored = await provider.get(key)
              if (Buffer.from(stored).equals(bytes)) return
            }
            throw e
          }
        },
        timeoutMs,
      )
    },

    async *list(prefix: string, options?: ListOptions): AsyncIterable<ObjectInfo> {
      const listed = new Set<string>()
      const op = `listing ${prefix || 'the vault'}`
      // A listing that breaks goes on from its last page where the provider can say where that
      // is; else it starts over (keys already given are not given again).
      let resume = options?.resume
      for (let n = 0; ; n++) {
        const it = provider.list(prefix, resume === undefined ? undefined : { resume })[Symbol.asyncIterator]()
        let failure: unknown
        let ended = false
        let progressed = false
        try {
          for (;;) {
            const watchdog = new Deadline(o.timeoutMs, stalled(op))
            let r: IteratorResult<ObjectInfo>
            try {
              r = await Promise.race([it.next(), watchdog.expired])
            } catch (e) {
              failure = e
              break
            } finally {
              watchdog.stop()
            }
            if (r.done) {
              ended = true
              return
            }
            if (r.value.resume !== undefined) resume = r.value.resume
            if (listed.has(r.value.key)) continue
            listed.add(r.value.key)
            progressed = true
            yield r.value
          }
        } finally {
          // Broken, or left by the caller (a break, a throw): the provider's listing is closed
          // (its own clean-up runs), without waiting for it.
          if (!ended) void it.return?.()?.catch(() => {})
        }
        // The tries count failures in a row: a long listing that moved on since its last failure
        // starts counting again (a rate-limited service fails one page in five, not every one).
        if (progressed) n = 0
        await orWait(op, n, failure)
      }
    },

    delete(key: string): Promise<void> {
      return retrying(`deleting ${key}`, () => provider.delete(key))
    },

    stat(key: string): Promise<ObjectInfo | undefined> {
      return retrying(`looking up ${key}`, () => provider.stat(key))
    },

    // The change feed retries inside itself (it runs for hours): passed through as it is.
    watch: provider.watch?.bind(provider),
    watchPolls: provider.watchPolls,

    close(): Promise<void> {
      return provider.close()
    },
  }
}
