/**
 * One sync at a time on this computer: an up-sync, a down-sync and a restore all read and write
 * the state database's idea of what was last synced, and the local files. Between computers
 * there is no lock (DESIGN.md); on one computer, two of them at once could publish a tree with
 * parents read at another moment than its scan, or plan against files another one is changing.
 *
 * The lock is an SQLite exclusive transaction on its own file: an OS lock that the kernel drops
 * when the holder dies, so a kill -9 never leaves a stale lock behind.
 */
import Database from 'better-sqlite3'
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'

/** How often a waiting command tries again. */
const POLL_MS = 100

export interface SyncLock {
  release(): void
}

function tryLock(db: Database.Database): boolean {
  try {
    db.exec('BEGIN EXCLUSIVE')
    return true
  } catch (e) {
    if ((e as { code?: string }).code === 'SQLITE_BUSY') return false
    throw e
  }
}

/** Take the lock at `file` if nobody holds it; undefined if somebody does. */
export function tryAcquireLock(file: string): SyncLock | undefined {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 })
  const db = new Database(file)
  try {
    db.pragma('busy_timeout = 0')
    if (!tryLock(db)) {
      db.close()
      return undefined
    }
  } catch (e) {
    db.close()
    throw e
  }
  return release(db)
}

/** The lock held by `db`'s open transaction. */
function release(db: Database.Database): SyncLock {
  return {
    release() {
      if (!db.open) return
      db.exec('ROLLBACK')
      db.close()
    },
  }
}

/**
 * Take the lock at `file`, waiting (without blocking the event loop) while another process
 * holds it; `onWait` is called once if it has to wait.
 */
export async function acquireSyncLock(file: string, onWait?: () => void): Promise<SyncLock> {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 })
  const db = new Database(file)
  try {
    // The default rollback journal (never WAL here): an exclusive transaction excludes everyone.
    db.pragma('busy_timeout = 0')
    let waited = false
    while (!tryLock(db)) {
      if (!waited) onWait?.()
      waited = true
      await new Promise((r) => setTimeout(r, POLL_MS))
    }
  } catch (e) {
    db.close()
    throw e
  }
  return release(db)
}
