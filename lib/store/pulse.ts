/**
 * The chain's pulse (docs/FORMAT.md, "The pulse"): one small object at the top of the vault
 * that a computer rewrites with fresh random bytes each time it publishes a head or a record.
 * A computer following the chain watches that one object (its provider's change feed, or a
 * cheap read of 16 bytes) instead of listing every space's heads; when it changed, something
 * was published and the heads are worth a look.
 *
 * It is a hint, never a fact: its bytes are random and unsealed (they say nothing but that
 * someone wrote), a follower still looks at the heads now and then without it, and a pulse
 * that cannot be written does not fail the publication it follows.
 */
import { randomBytes } from 'node:crypto'
import { NotFoundError } from '../errors.js'
import type { Provider, ProviderChange } from '../../providers/provider.js'

export const PULSE_KEY = 'pulse'

/** The pulse this process wrote last, per storage account: its own writes are no news to it. */
const written = new WeakMap<Provider, string>()

/** Say that something was published. Never throws: a follower finds it at its next full look. */
export async function beat(provider: Provider): Promise<void> {
  const bytes = randomBytes(16)
  written.set(provider, bytes.toString('hex'))
  await provider.put(PULSE_KEY, bytes).catch(() => {})
}

/**
 * The pulse now: its bytes in hex, '' when there is none yet, or undefined when this process
 * wrote it last (nothing another computer did since).
 */
export async function readPulse(provider: Provider): Promise<string | undefined> {
  let hex: string
  try {
    hex = Buffer.from(await provider.get(PULSE_KEY)).toString('hex')
  } catch (e) {
    if (e instanceof NotFoundError) return ''
    throw e
  }
  return hex === written.get(provider) ? undefined : hex
}

/**
 * Call `onBeat` when the pulse changes, through the provider's change feed, until `signal`
 * aborts; undefined when the provider has no feed, or one that polls (then the follower reads
 * the pulse itself).
 */
export function watchPulse(provider: Provider, onBeat: () => void, signal: AbortSignal): Promise<void> | undefined {
  // A feed that itself polls every few seconds is slower than reading the pulse.
  if (!provider.watch || provider.watchPolls) return undefined
  return provider.watch(
    PULSE_KEY,
    (c: ProviderChange) => {
      if (c.type === 'resync' || c.key === PULSE_KEY || c.key === '') onBeat()
    },
    signal,
  )
}
