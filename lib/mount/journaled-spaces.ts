/**
 * The spaces written through the mount on this computer — the `apps` registry (one folder per
 * application space) and each `app/<id>` — each with its write journal under
 * `<state dir>/journal/<space tag>/`. A journal has one owner at a time: the process holding
 * its lock (a mount, or `cloudy sync up` when no mount runs); the kernel drops the lock when
 * that process dies, so a crash leaves nothing to clean by hand.
 */
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { APPS_REGISTRY } from '../apps/app-spaces.js'
import type { StateDb } from '../state/db.js'
import { LockedError } from '../errors.js'
import { tryAcquireLock, type SyncLock } from '../state/lock.js'
import type { DeviceIdentity } from '../sync/up.js'
import type { Vault } from '../vault/vault.js'
import type { DiskChunkCache } from './disk-cache.js'
import { Journal } from './journal.js'
import { baseTree, downSyncJournal, upSyncJournal, type JournaledSpace } from './journal-sync.js'
import { JournaledView } from './journaled-view.js'
import { SpaceView } from './space-view.js'

export interface JournaledSpacesOptions {
  vault: Vault
  db: StateDb
  device: DeviceIdentity
  stateDir: string
  /** Decrypted chunks kept in memory per space, in bytes. */
  cacheBytes?: number
  /** The on-disk cache of a space's sealed chunks, by space tag (none for a local provider). */
  disk?: (tag: string) => DiskChunkCache | undefined
}

/** The file in a journal's folder naming the process that holds its lock. */
const HOLDER = 'holder'

/** The process holding the lock of the journal at `dir`, if it says so and still runs. */
function holderOf(dir: string): number | undefined {
  let pid: number
  try {
    pid = Number(readFileSync(join(dir, HOLDER), 'utf8'))
  } catch {
    return undefined
  }
  if (!Number.isSafeInteger(pid) || pid <= 0) return undefined
  try {
    process.kill(pid, 0)
    return pid
  } catch (e) {
    // EPERM: it runs, as another user.
    return (e as NodeJS.ErrnoException).code === 'EPERM' ? pid : undefined
  }
}

interface Opened extends JournaledSpace {
  lock: SyncLock
}

export class JournaledSpaces {
  readonly #open = new Map<string, Promise<Opened>>()
  /** Called after every change in any of the spaces. */
  onChange: () => void = () => {}

  constructor(readonly o: JournaledSpacesOptions) {}

  static journalRoot(stateDir: string): string {
    return join(stateDir, 'journal')
  }

  /** The space, its journal replayed; fails if another process owns the journal. */
  get(space: string): Promise<JournaledSpace> {
    let p = this.#open.get(space)
    if (!p) {
      p = this.#openSpace(space)
      this.#open.set(space, p)
      p.catch(() => this.#open.delete(space))
    }
    return p
  }

  async #openSpace(space: string): Promise<Opened> {
    const keys = this.o.vault.space(space)
    const dir = join(JournaledSpaces.journalRoot(this.o.stateDir), keys.tag)
    const lock = tryAcquireLock(join(dir, 'lock'))
    if (!lock) {
      throw new LockedError(
        space === APPS_REGISTRY ? 'the list of applications' : space,
        'a mount of it or an up-sync holds its journal: unmount the other mount of it first, or wait for the up-sync to end',
        holderOf(dir),
      )
    }
    try {
      // Who holds it, for the message another process gives when refused.
      writeFileSync(join(dir, HOLDER), String(process.pid), { mode: 0o600 })
      // The journal's folder says which space it is: an up-sync without a mount finds it so.
      if (!existsSync(join(dir, 'space'))) writeFileSync(join(dir, 'space'), space, { mode: 0o600 })
      const journal = await Journal.open(dir)
      const store = this.o.vault.store(space, this.o.db)
      await store.open()
      const base = SpaceView.of(store, baseTree(this.o.db, space), { cacheBytes: this.o.cacheBytes, disk: this.o.disk?.(keys.tag) })
      const view = new JournaledView(base, journal)
      view.onChange = () => this.onChange()
      return { vault: this.o.vault, db: this.o.db, device: this.o.device, space, store, view, lock }
    } catch (e) {
      lock.release()
      throw e
    }
  }

  /** The spaces opened so far. */
  async opened(): Promise<JournaledSpace[]> {
    return Promise.all(this.#open.values())
  }

  /** True if some journal holds changes not up-synced yet. */
  async pending(): Promise<boolean> {
    return (await this.opened()).some((s) => !s.view.journal.empty)
  }

  /** Up-sync every journal that holds changes; the new commit ids. */
  async upSync(): Promise<string[]> {
    const commits: string[] = []
    for (const s of await this.opened()) {
      const c = await upSyncJournal(s)
      if (c) commits.push(c)
    }
    return commits
  }

  /** Take the chain's state where the journal is empty; true if something changed. */
  async downSync(): Promise<boolean> {
    let changed = false
    for (const s of await this.opened()) if (await downSyncJournal(s)) changed = true
    return changed
  }

  /** Close every journal and give up its lock. */
  async close(): Promise<void> {
    const all = await Promise.allSettled(this.#open.values())
    this.#open.clear()
    for (const r of all) {
      if (r.status !== 'fulfilled') continue
      await r.value.view.journal.close()
      await r.value.view.close()
      r.value.lock.release()
    }
  }
}

/** The spaces whose journal on this computer holds records (named in each journal's folder). */
export function journaledSpaceNames(stateDir: string): string[] {
  const root = JournaledSpaces.journalRoot(stateDir)
  if (!existsSync(root)) return []
  const names: string[] = []
  for (const tag of readdirSync(root)) {
    const file = join(root, tag, 'space')
    const log = join(root, tag, 'log')
    if (existsSync(file) && existsSync(log) && statSync(log).size > 0) names.push(readFileSync(file, 'utf8'))
  }
  return names
}
