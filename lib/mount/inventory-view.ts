/**
 * `installed-apps.json` in the mount: the chain's view of the installed applications, what is
 * installed where — every device's record in the inventory space (`devices/<tag>.json`,
 * sources/inventory.ts), as one JSON list. Before any computer published one, an empty list.
 */
import { parseRecord } from '../sources/inventory.js'
import type { SpaceView } from './space-view.js'
import type { MountView, ViewEntry } from './view.js'

export const INVENTORY_FILE = 'installed-apps.json'

export class InventoryView implements MountView {
  readonly #made = Date.now()

  constructor(readonly inventory: SpaceView) {}

  /** The list as it is now, and the time of the newest record. */
  async #render(): Promise<{ text: Buffer; mtimeMs: number }> {
    const records = []
    let mtimeMs = this.#made
    for (const name of (await this.inventory.list('devices')) ?? []) {
      const e = await this.inventory.stat(`devices/${name}`)
      if (e?.type !== 'file' || !name.endsWith('.json')) continue
      const r = parseRecord((await this.inventory.read(`devices/${name}`, 0, e.size)).toString('utf8'))
      if (!r) continue
      records.push({ device: r.device, apps: r.apps, notes: r.notes })
      mtimeMs = Math.max(mtimeMs, e.mtimeMs)
    }
    records.sort((a, b) => a.device.localeCompare(b.device))
    return { text: Buffer.from(records.length ? JSON.stringify(records, null, 1) + '\n' : '[]\n'), mtimeMs }
  }

  async stat(path: string): Promise<ViewEntry | undefined> {
    if (path !== '') return undefined
    const { text, mtimeMs } = await this.#render()
    // Rendered at each look from the inventory space: kept briefly, as the preview is.
    return { type: 'file', mode: 0o444, size: text.length, mtimeMs, volatile: true }
  }

  async list(): Promise<undefined> {
    return undefined
  }

  async read(path: string, offset: number, length: number): Promise<Buffer> {
    if (path !== '') return Buffer.alloc(0)
    return (await this.#render()).text.subarray(offset, offset + length)
  }
}
