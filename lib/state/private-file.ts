/**
 * Cloudy's local files name the user's files (the state database's file cache, the journals), so
 * they are the user's alone: folders 0700, files 0600, also when made by an older version.
 */
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, statSync } from 'node:fs'
import { dirname } from 'node:path'

/** Take group and other access away from `path` if it has any (and is ours to change). */
function tighten(path: string, mode: number): void {
  try {
    const st = statSync(path)
    if ((st.mode & 0o077) !== 0 && st.uid === process.getuid?.()) chmodSync(path, mode)
  } catch {
    // Gone, or not ours: nothing to tighten.
  }
}

/** Make folder `dir` (and its parents) if missing; it ends up 0700. */
export function privateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  tighten(dir, 0o700)
}

/**
 * Make `file` (empty) 0600 if missing, in a 0700 folder; an existing one, and an SQLite
 * database's -wal and -shm beside it, lose group and other access. SQLite gives the files it
 * makes beside a database the database's mode.
 */
export function privateFile(file: string): void {
  privateDir(dirname(file))
  closeSync(openSync(file, 'a', 0o600))
  for (const f of [file, `${file}-wal`, `${file}-shm`, `${file}-journal`]) if (existsSync(f)) tighten(f, 0o600)
}
