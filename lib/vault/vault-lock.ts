/**
 * A lock object in the vault: an if-absent put of `{"since": <ISO time>}`, deleted when done.
 * It orders the few operations that must not run twice at once across the chain (a password
 * change, a prune); syncs never take one. A running holder dates it anew now and then; a lock
 * left by a run that was stopped goes stale and is taken over; one that does not say when it
 * was taken (damaged: Cloudy writes it whole) at once, and so is one a process of this
 * computer left and that is gone.
 */
import type { Provider } from '../../providers/provider.js'
import { hostname } from 'node:os'
import { AlreadyExistsError, NotFoundError } from '../errors.js'

export interface VaultLock {
  /** The lock's key (`keys/passwd.lock`, `locks/prune`). */
  key: string
  /**
   * Who takes it (a device tag): a lock this device left with a process that is gone (killed)
   * is taken over at once, not after `staleMs`.
   */
  holder?: string
  /** Age after which a lock is taken over. */
  staleMs: number
  /** The error for a lock held by another run; `since` is when it was taken, when known. */
  refused: (since: Date | undefined) => Error
}

const json = (v: unknown) => Buffer.from(JSON.stringify(v, null, 1) + '\n')

/** Run `fn` holding `lock`; the lock is deleted after, unless that fails after `fn` failed. */
export async function withVaultLock<T>(provider: Provider, lock: VaultLock, fn: () => Promise<T>): Promise<T> {
  const held = await take(provider, lock)
  // A run longer than the lock's staleness (a prune of a big vault, its grace period) says it
  // is alive: the lock is written again, newly dated, four times per staleness.
  let refreshing: Promise<void> | undefined
  const refresh = setInterval(() => {
    refreshing = provider.put(lock.key, json({ ...held, since: new Date().toISOString() })).catch(() => {})
  }, lock.staleMs / 4)
  refresh.unref()
  let done = false
  try {
    const out = await fn()
    done = true
    return out
  } finally {
    clearInterval(refresh)
    // A refresh under way must not write the lock again after it is deleted.
    await refreshing
    // A failed run is reported as itself, not as the lock that could not be freed after it (it
    // goes stale and is taken over).
    await provider.delete(lock.key).catch((e: unknown) => {
      if (done) throw e
    })
  }
}

/** Whether process `pid` of this computer runs. */
function running(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** Take the lock; what it says of its holder. */
async function take(provider: Provider, lock: VaultLock): Promise<Record<string, unknown>> {
  const mine = lock.holder ? { holder: lock.holder, host: hostname(), pid: process.pid } : {}
  const put = async () => {
    try {
      await provider.put(lock.key, json({ since: new Date().toISOString(), ...mine }), { ifAbsent: true })
      return true
    } catch (e) {
      if (e instanceof AlreadyExistsError) return false
      throw e
    }
  }
  if (await put()) return mine
  let since: number | undefined
  let left = false
  try {
    const held = JSON.parse(Buffer.from(await provider.get(lock.key)).toString('utf8')) as {
      since: string
      holder?: string
      host?: string
      pid?: number
    }
    since = Date.parse(held.since)
    // Left by a run of this device on this computer that is gone (killed).
    left = !!lock.holder && held.holder === lock.holder && held.host === hostname() && typeof held.pid === 'number' && !running(held.pid)
  } catch (e) {
    if (e instanceof NotFoundError) {
      if (await put()) return mine
    } else if (e instanceof SyntaxError) since = Number.NaN
    else throw e
  }
  if (left || (since !== undefined && (Number.isNaN(since) || Date.now() - since > lock.staleMs))) {
    await provider.delete(lock.key)
    if (await put()) return mine
  }
  throw lock.refused(since === undefined || Number.isNaN(since) ? undefined : new Date(since))
}
