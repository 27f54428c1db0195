/**
 * `installed-apps.json` in the mount: the inventory space's list of installed applications, as
 * the chain has it (the file `installed-apps.json` at the root of that space). Before any
 * computer of the chain published an inventory, an empty list.
 */
import type { SpaceView } from './space-view.js'
import type { MountView, ViewEntry } from './view.js'

export const INVENTORY_FILE = 'installed-apps.json'
const EMPTY = Buffer.from('[]\n')

export class InventoryView implements MountView {
  readonly #made = Date.now()

  constructor(readonly inventory: SpaceView) {}

  async stat(path: string): Promise<ViewEntry | undefined> {
    if (path !== '') return undefined
    const e = await this.inventory.stat(INVENTORY_FILE)
    if (e?.type === 'file') return { ...e, mode: e.mode & 0o444 }
    return { type: 'file', mode: 0o444, size: EMPTY.length, mtimeMs: this.#made }
  }

  async list(): Promise<undefined> {
    return undefined
  }

  async read(path: string, offset: number, length: number): Promise<Buffer> {
    if (path !== '') return Buffer.alloc(0)
    if ((await this.inventory.stat(INVENTORY_FILE))?.type === 'file') return this.inventory.read(INVENTORY_FILE, offset, length)
    return EMPTY.subarray(offset, offset + length)
  }
}
