/**
 * Names of the temporary files Cloudy writes beside a file before renaming them over it. A
 * crash can leave one behind; the collectors recognise and skip them, so such debris is never
 * taken for user data and sent to the chain, and the next down-sync sweeps them
 * (`sweepTemps`).
 *
 * The name does not contain the file's own name: it stays ~30 bytes, so the file of any name
 * that fits NAME_MAX (255 bytes) can be written.
 */
import { randomBytes } from 'node:crypto'
import { lstat, readdir, rm } from 'node:fs/promises'
import { dirname, join } from 'node:path'

// Unique per process run and call; the pid and a random part keep concurrent runs apart.
const run = `${process.pid.toString(36)}-${randomBytes(3).toString('hex')}`
let counter = 0

/** `.cloudy-tmp-<pid>-<random>-<n>` in the folder of `abs`. */
export function tempNameFor(abs: string): string {
  return join(dirname(abs), `.cloudy-tmp-${run}-${(counter++).toString(36)}`)
}

const TEMP = /^\.cloudy-tmp-([0-9a-z]+)-[0-9a-f]{6}-[0-9a-z]+$/
/** The long form written before 2026-12 (`.NAME.cloudy-<pid>-<random>-<n>`), still left by old crashes. */
const OLD_TEMP = /^\..+\.cloudy-([0-9a-z]+)-[0-9a-f]{6}-[0-9a-z]+$/

export function isTempName(name: string): boolean {
  return TEMP.test(name) || OLD_TEMP.test(name)
}

/** A temporary this old is debris whoever wrote it: no write of one file takes an hour. */
const STALE_MS = 60 * 60 * 1000

/** The pid of the process that wrote temporary `name` (undefined if not a temporary name). */
function writer(name: string): number | undefined {
  const m = TEMP.exec(name) ?? OLD_TEMP.exec(name)
  return m ? parseInt(m[1]!, 36) : undefined
}

function alive(pid: number): boolean {
  if (pid === process.pid) return false // this process writes none before its sweep
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * Remove Cloudy's temporaries left in `folders` by a run that was killed: only files of a
 * temporary's name whose writer is gone (or that are last changed over an hour ago). The caller holds the
 * sync lock, so no other run is writing them. Returns how many were removed; a folder that
 * cannot be listed is left alone.
 */
export async function sweepTemps(folders: Iterable<string>): Promise<number> {
  let removed = 0
  for (const folder of folders) {
    let names: string[]
    try {
      names = await readdir(folder)
    } catch {
      continue
    }
    for (const name of names) {
      const pid = writer(name)
      if (pid === undefined) continue
      const abs = join(folder, name)
      try {
        const st = await lstat(abs)
        if (!st.isFile() && !st.isSymbolicLink()) continue
        // ctime: the mtime of a temporary is set to its file's own time before the rename.
        if (alive(pid) && Date.now() - st.ctimeMs < STALE_MS) continue
        await rm(abs)
        removed++
      } catch {
        // Gone meanwhile, or not ours to remove: left as it is.
      }
    }
  }
  return removed
}
