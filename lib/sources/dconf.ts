/**
 * dconf settings of catalog applications (GNOME and GTK keep their settings there, in one binary
 * database for all applications): carried as text. Before an up-sync, `dconf dump DIR` of each
 * folder an entry names is written to a file of the application's space,
 * `~/.local/share/cloudy/dconf/<id>/<folder>.ini`; after a down-sync wrote such a file, `dconf
 * load DIR` applies it, and keys this computer had set under DIR that the incoming text no
 * longer holds are reset (what another computer reset to the default). The database itself is
 * never copied: it holds every application's settings, and dconf rewrites it under a running
 * session.
 */
import { execFile } from 'node:child_process'
import { readFileSync, statSync, utimesSync, type Stats } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { readTextIfAny, writeFileAtomic } from '../fs/atomic-file.js'
import type { CatalogEntry } from '../catalog/entry.js'
import type { SyncWarning } from '../sync/warnings.js'

const run = promisify(execFile)

/** The HOME-relative folder of application `id`'s dconf text. */
export function dconfFolder(id: string): string {
  return `.local/share/cloudy/dconf/${id}`
}

/** The HOME-relative file that holds the dump of dconf folder `dir` (`/org/gnome/terminal/`). */
export function dconfFile(id: string, dir: string): string {
  return `${dconfFolder(id)}/${dir.slice(1, -1).replaceAll('/', '.')}.ini`
}

/** The full key paths a `dconf dump DIR` text sets. */
export function dumpKeys(dir: string, text: string): Set<string> {
  const keys = new Set<string>()
  let section = ''
  for (const line of text.split('\n')) {
    const header = /^\[(.*)\]$/.exec(line.trim())
    if (header) section = header[1] === '/' ? '' : `${header[1]}/`
    else {
      const key = /^([^=\s][^=]*?)\s*=/.exec(line)?.[1]
      if (key && section !== undefined) keys.add(`${dir}${section}${key}`)
    }
  }
  return keys
}

function env(home: string, base: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return { ...base, HOME: home }
}

/** A dconf folder of `app` that could not be collected or applied: the run goes on, exit 6. */
function warning(app: CatalogEntry, message: string): SyncWarning {
  return { code: 'EDCONF', path: dconfFolder(app.id), message }
}

/** Why dconf cannot be used, in words for the user. */
function why(e: unknown): string {
  const err = e as NodeJS.ErrnoException & { stderr?: string }
  if (err.code === 'ENOENT') return 'the dconf command is not installed (Debian package dconf-cli)'
  return (err.stderr || err.message || String(e)).trim().split('\n')[0]!
}

/** Where a sync remembers what it staged last (the state database's meta table). */
export interface StageMemory {
  getMeta(key: string): string | undefined
  setMeta(key: string, value: string): void
}

/**
 * Write the dump of each of `app`'s dconf folders to its file under HOME (only when it changed).
 * Returns what could not be dumped, as warnings; nothing is written for a folder that holds no
 * key and has no file yet. When neither the dconf database nor the application's text folder
 * changed since the last time (`memory`), nothing can differ and no dconf process is started:
 * an up-sync with nothing to send stays a few stats per application.
 */
export async function stageDconf(app: CatalogEntry, home: string, base: NodeJS.ProcessEnv, memory?: StageMemory): Promise<SyncWarning[]> {
  const key = `dconf-staged:${app.id}`
  // dconf replaces its database file at each write: a new inode and time.
  const stamp = () => {
    const db = statIfAny(dconfDatabase(home, base))
    if (!db) return undefined
    const dbStamp = `${db.ino}.${db.mtimeMs}`
    return { db: dbStamp, text: `${dbStamp}:${statIfAny(join(home, dconfFolder(app.id)))?.mtimeMs}` }
  }
  const before = stamp()?.text
  if (before && memory?.getMeta(key) === before) return []
  // No dconf database and no text of ours: this user has no dconf settings to collect.
  if (!before && !statIfAny(join(home, dconfFolder(app.id)))) return []
  const problems: SyncWarning[] = []
  for (const dir of app.dconf) {
    let text: string
    try {
      text = (await run('dconf', ['dump', dir], { env: env(home, base) })).stdout
    } catch (e) {
      problems.push(warning(app, `${app.id}: dconf settings under ${dir} not collected: ${why(e)}`))
      continue
    }
    const file = join(home, dconfFile(app.id, dir))
    const old = readTextIfAny(file)
    if (old === text || (old === undefined && !text.trim())) continue
    await writeFileAtomic(file, text)
    // Dated when dconf last changed, not now: of two computers' texts in conflict, the one
    // whose settings changed last keeps the name (the rule for every file).
    const changed = dconfChanged(home, base)
    if (changed) utimesSync(file, changed, changed)
  }
  // Only a complete stage is remembered, and only if dconf did not change while it ran.
  const after = stamp()
  if (memory && !problems.length && after && before?.startsWith(`${after.db}:`)) memory.setMeta(key, after.text)
  return problems
}

function statIfAny(path: string): Stats | undefined {
  try {
    return statSync(path)
  } catch {
    return undefined
  }
}

/** This user's dconf database. */
export function dconfDatabase(home: string, base: NodeJS.ProcessEnv): string {
  return join(base.XDG_CONFIG_HOME || join(home, '.config'), 'dconf', 'user')
}

/** When this user's dconf database last changed, if it exists. */
function dconfChanged(home: string, base: NodeJS.ProcessEnv): Date | undefined {
  return statIfAny(dconfDatabase(home, base))?.mtime
}

/** Whether any of `app`'s dconf folders holds a key here (dconf is read without a session bus). */
export async function hasDconf(app: CatalogEntry, home: string, base: NodeJS.ProcessEnv): Promise<boolean> {
  for (const dir of app.dconf) {
    try {
      if ((await run('dconf', ['dump', dir], { env: env(home, base) })).stdout.trim()) return true
    } catch {
      return false
    }
  }
  return false
}

/**
 * Apply the dconf files of `app` that a down-sync just wrote (`written`: HOME-relative paths).
 * Returns what could not be applied, as warnings (the file stays: the next down-sync or a
 * `dconf load` by hand applies it).
 */
export async function loadDconf(
  app: CatalogEntry,
  home: string,
  base: NodeJS.ProcessEnv,
  written: ReadonlySet<string>,
): Promise<SyncWarning[]> {
  const problems: SyncWarning[] = []
  for (const dir of app.dconf) {
    const rel = dconfFile(app.id, dir)
    if (!written.has(rel)) continue
    const e = env(home, base)
    try {
      const text = readFileSync(join(home, rel), 'utf8')
      const before = (await run('dconf', ['dump', dir], { env: e })).stdout
      const child = run('dconf', ['load', dir], { env: e })
      child.child.stdin!.end(text)
      await child
      // Keys this computer had that the chain's text no longer sets were reset elsewhere.
      const now = dumpKeys(dir, text)
      for (const key of dumpKeys(dir, before)) if (!now.has(key)) await run('dconf', ['reset', key], { env: e })
    } catch (err) {
      problems.push(warning(app, `${app.id}: dconf settings under ${dir} written to ~/${rel} but not applied: ${why(err)}`))
    }
  }
  return problems
}
