/**
 * Small objects beside the spaces, each read and written whole under one prefix: the chain's
 * device records and removal markers, the selection's records (docs/FORMAT.md). Sealing and
 * opening them is their owner's; this is the only way code above the store reaches them.
 */
import { NotFoundError } from '../errors.js'
import { beat } from './pulse.js'
import type { Provider } from '../../providers/provider.js'

export class RecordStore {
  readonly #provider: Provider
  readonly prefix: string

  constructor(provider: Provider, prefix: string) {
    this.#provider = provider
    this.prefix = prefix
  }

  /** The provider's key of record `name` (what `check` names). */
  key(name: string): string {
    return this.prefix + name
  }

  /** The names of the records there are, in the provider's order. */
  async *names(): AsyncGenerator<string> {
    for await (const o of this.#provider.list(this.prefix)) yield o.key.slice(this.prefix.length)
  }

  /** Record `name`'s bytes, or undefined when there is none (deleted since it was listed). */
  async get(name: string): Promise<Uint8Array | undefined> {
    try {
      return await this.#provider.get(this.key(name))
    } catch (e) {
      if (e instanceof NotFoundError) return undefined
      throw e
    }
  }

  async put(name: string, bytes: Uint8Array): Promise<void> {
    await this.#provider.put(this.key(name), bytes)
    // A record changes what followers take in (a device, a selection): the pulse tells them.
    await beat(this.#provider)
  }
}
