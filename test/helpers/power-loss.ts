/**
 * A file layer for the mount's journal (`Journal.open`'s `openFile`) that remembers each file's
 * bytes as of its last fdatasync or fsync, and a power loss that leaves every file it opened as
 * that: what was written and not synced is dropped, a file never synced is gone. Harsher than a
 * real disk (which often keeps more), never kinder.
 */
import { readFile, open } from 'node:fs/promises'
import { rmSync, writeFileSync } from 'node:fs'
import type { FileHandle } from 'node:fs/promises'

export class PowerLossDisk {
  /** Bytes at the last sync, by path. */
  readonly #synced = new Map<string, Buffer>()
  readonly #opened = new Set<string>()
  /** fdatasync and fsync calls, by path. */
  readonly syncs = new Map<string, number>()

  readonly open = async (path: string, flags: string, mode?: number): Promise<FileHandle> => {
    const fh = await open(path, flags, mode)
    this.#opened.add(path)
    const synced = async (how: 'datasync' | 'sync') => {
      await fh[how]()
      this.#synced.set(path, await readFile(path))
      this.syncs.set(path, (this.syncs.get(path) ?? 0) + 1)
    }
    return new Proxy(fh, {
      get: (target, prop, receiver) => {
        if (prop === 'datasync' || prop === 'sync') return () => synced(prop)
        const v = Reflect.get(target, prop, receiver) as unknown
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v
      },
    })
  }

  /** The machine loses power now. */
  lose(): void {
    for (const path of this.#opened) {
      const bytes = this.#synced.get(path)
      if (bytes === undefined) rmSync(path, { force: true })
      else writeFileSync(path, bytes)
    }
  }
}
