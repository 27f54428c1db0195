/**
 * Which applications are running now, by their processes' names: an application rewrites its
 * settings files when it exits (browsers, editors, desktops do), so a down-sync writing under a
 * running application would be undone or, worse, half-read. Read from /proc: this user's
 * processes only, by `comm` (the kernel's name, at most 15 characters) and by the base name of
 * their first argument.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { basename } from 'node:path'
import type { CatalogEntry } from './entry.js'

/** The names of this user's processes (`comm`, and the base name of argv[0]). */
export function runningProcessNames(proc = '/proc', uid = process.getuid?.()): Set<string> {
  const names = new Set<string>()
  let pids: string[]
  try {
    pids = readdirSync(proc).filter((n) => /^\d+$/.test(n))
  } catch {
    return names
  }
  for (const pid of pids) {
    try {
      if (uid !== undefined && statSync(`${proc}/${pid}`).uid !== uid) continue
      names.add(readFileSync(`${proc}/${pid}/comm`, 'utf8').trim())
      const argv0 = readFileSync(`${proc}/${pid}/cmdline`, 'utf8').split('\0')[0]
      if (argv0) names.add(basename(argv0))
    } catch {
      // The process ended while it was looked at.
    }
  }
  return names
}

/** The process of `app` that runs now (one of its `processes`), if any. */
export function runningProcess(app: CatalogEntry, names: ReadonlySet<string>): string | undefined {
  return app.processes.find((p) => names.has(p) || names.has(p.slice(0, 15)))
}
