/**
 * On-change up-syncs: watch what a category collects and say when it changed, once things went
 * quiet for a moment. Folders are watched with @parcel/watcher (inotify, recursive, events
 * batched in native code), a single file through its folder with `fs.watch` (a recursive watch
 * of HOME for one dotfile would put a watch on every folder under it). A path that does not
 * exist yet is watched through its folder, so its creation counts. The paths that changed are
 * passed on, so that the service can tell its own down-sync's writes from the user's.
 */
import { watch as fsWatch, statSync, type FSWatcher } from 'node:fs'
import { basename, dirname } from 'node:path'
import type { Watched } from '../sources/watched.js'

export interface ChangeWatcherOptions {
  /**
   * Called with a key given to `set` once its paths changed and stayed quiet for `quietMs`, with
   * the paths that changed (undefined: too many to list).
   */
  onChange: (key: string, paths: string[] | undefined) => void
  log: (line: string) => void
  /** Quiet time after the last change (default 100 ms)… */
  quietMs?: number
  /** …but never later than this after the first (default 5 s), for files that never stop changing. */
  maxDelayMs?: number
}

/** More changed paths than this in one burst are not listed (the up-sync walks anyway). */
const MAX_PATHS = 1000

interface Watch {
  /** `dir:<path>` or `file:<path>`: a path whose kind changed is watched anew. */
  id: string
  close: () => Promise<void>
}

export class ChangeWatcher {
  #o: ChangeWatcherOptions
  #watches = new Map<string, Watch[]>()
  #pending = new Map<string, { quiet: NodeJS.Timeout; first: number; paths: Set<string> | undefined }>()
  #closed = false

  constructor(o: ChangeWatcherOptions) {
    this.#o = o
  }

  /** Watch `watched` for `key` (replacing what was watched for it); an empty list stops watching it. */
  async set(key: string, watched: readonly Watched[]): Promise<void> {
    if (this.#closed) return
    const wanted = new Map<string, { path: string; dir: boolean; counts: Watched['counts'] }>()
    for (const w of watched)
      for (const path of w.paths) {
        const dir = isDir(path)
        wanted.set(`${dir ? 'dir' : 'file'}:${path}`, { path, dir, counts: w.counts })
      }
    const before = this.#watches.get(key) ?? []
    const kept = before.filter((w) => wanted.has(w.id))
    await Promise.all(before.filter((w) => !wanted.has(w.id)).map((w) => w.close()))
    for (const w of kept) wanted.delete(w.id)
    for (const [id, { path, dir, counts }] of wanted) {
      const w = await this.#watch(key, id, path, dir, counts).catch((e: unknown) => {
        this.#o.log(`cloudy service: cannot watch ${path} (${(e as Error).message}); its changes are sent at the next up-sync`)
        return undefined
      })
      // Closed while it was being set up: a watch kept now would keep the process alive.
      if (w && this.#closed) await w.close()
      else if (w) kept.push(w)
    }
    if (this.#closed) return
    if (kept.length) this.#watches.set(key, kept)
    else this.#watches.delete(key)
  }

  /** The keys watched now, with how many paths each. */
  watched(): Map<string, number> {
    return new Map([...this.#watches].map(([k, ws]) => [k, ws.length]))
  }

  async close(): Promise<void> {
    this.#closed = true
    for (const p of this.#pending.values()) clearTimeout(p.quiet)
    this.#pending.clear()
    await Promise.all([...this.#watches.values()].flat().map((w) => w.close()))
    this.#watches.clear()
  }

  async #watch(key: string, id: string, path: string, dir: boolean, counts: Watched['counts']): Promise<Watch | undefined> {
    if (dir) {
      // Loaded here, not with the module: only the service watches, and the native package is
      // found at run time (it stays outside the bundle).
      const { subscribe } = (await import('@parcel/watcher')).default
      const sub = await subscribe(path, (err, events) => {
        if (err) this.#o.log(`cloudy service: watching ${path}: ${err.message}`)
        else {
          const paths = events.map((e) => e.path).filter(counts)
          if (paths.length) this.#changed(key, paths)
        }
      })
      return { id, close: () => sub.unsubscribe() }
    }
    // A file, or a path not there yet: its folder, for that one name.
    const folder = dirname(path)
    const name = basename(path)
    if (!isDir(folder)) return undefined
    const w: FSWatcher = fsWatch(folder, { persistent: false }, (_event, file) => {
      if ((file === null || String(file) === name) && counts(path)) this.#changed(key, [path])
    })
    w.on('error', (e) => this.#o.log(`cloudy service: watching ${path}: ${e.message}`))
    return {
      id,
      close: async () => {
        w.close()
      },
    }
  }

  #changed(key: string, paths: readonly string[]): void {
    if (this.#closed) return
    const now = Date.now()
    const p = this.#pending.get(key)
    if (p) clearTimeout(p.quiet)
    const first = p?.first ?? now
    let changed = p ? p.paths : new Set<string>()
    for (const path of paths) changed?.add(path)
    if (changed && changed.size > MAX_PATHS) changed = undefined
    const wait = Math.max(0, Math.min(this.#o.quietMs ?? 100, first + (this.#o.maxDelayMs ?? 5000) - now))
    const quiet = setTimeout(() => {
      this.#pending.delete(key)
      this.#o.onChange(key, changed && [...changed])
    }, wait)
    quiet.unref()
    this.#pending.set(key, { quiet, first, paths: changed })
  }
}

function isDir(path: string): boolean {
  try {
    return statSync(path).isDirectory()
  } catch {
    return false
  }
}
