/**
 * One sync at a time on this computer: an up-sync, a down-sync and a restore all read and write
 * the state database's idea of what was last synced, and the local files. Between computers
 * there is no lock (docs/ARCHITECTURE.md, "Locks"); on one computer, two of them at once could
 * publish a tree with parents read at another moment than its scan, or plan against files
 * another one is changing.
 *
 * The lock is an SQLite exclusive transaction on its own file: an OS lock that the kernel drops
 * when the holder dies, so a kill -9 never leaves a stale lock behind.
 */
import Database from 'better-sqlite3'
import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import { LockedError } from '../errors.js'
import { privateFile } from './private-file.js'

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
  privateFile(file)
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
  return release(db, file)
}

/**
 * Take the lock at `file` or throw a `LockedError` naming `what` is in use, by which process
 * (when it said), and `advice`.
 */
export function acquireLockOrFail(file: string, what: string, advice: string): SyncLock {
  const lock = tryAcquireLock(file)
  if (!lock) throw new LockedError(what, advice, lockHolder(file))
  return lock
}

/** The process id the holder of the lock at `file` wrote down, if any. */
export function lockHolder(file: string): number | undefined {
  try {
    const pid = Number(readFileSync(`${file}.pid`, 'utf8').trim())
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined
  } catch {
    return undefined
  }
}

/** The lock held by `db`'s open transaction; its holder's pid written beside it, for messages. */
function release(db: Database.Database, file: string): SyncLock {
  try {
    writeFileSync(`${file}.pid`, `${process.pid}\n`, { mode: 0o600 })
  } catch {
    // Only a message loses the pid.
  }
  return {
    release() {
      if (!db.open) return
      rmSync(`${file}.pid`, { force: true })
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
  privateFile(file)
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
  return release(db, file)
}
