/**
 * Is a catalog application installed here, and does it have files to carry? The signs of an
 * entry's `[detect]` (docs/CATALOG.md) are looked up once per command: each PATH folder is
 * listed once, the dpkg database read once and only if an entry asks. `CLOUDY_SYSTEM_ROOT`
 * moves the system folders looked at (dpkg, Flatpak, Snap, desktop files), as tests need.
 */
import { accessSync, constants, lstatSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { homeRelativeOf, type CatalogEntry } from './entry.js'

export interface DetectOptions {
  home: string
  env: NodeJS.ProcessEnv
}

function exists(p: string): boolean {
  try {
    lstatSync(p)
    return true
  } catch {
    return false
  }
}

function listing(dir: string): Set<string> {
  try {
    return new Set(readdirSync(dir))
  } catch {
    return new Set()
  }
}

/** The packages the dpkg status file at `file` says are installed. */
export function installedDebianPackages(file: string): Set<string> {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch {
    return new Set()
  }
  const out = new Set<string>()
  for (const stanza of text.split(/\n\n+/)) {
    const pkg = /^Package: (\S+)$/m.exec(stanza)?.[1]
    if (pkg && /^Status: \S+ ok installed$/m.test(stanza)) out.add(pkg)
  }
  return out
}

/** The root of the system folders looked at (`/` unless `CLOUDY_SYSTEM_ROOT` says otherwise). */
export function systemRoot(env: NodeJS.ProcessEnv): string {
  return env.CLOUDY_SYSTEM_ROOT || '/'
}

/** The dpkg status file: `$DPKG_ADMINDIR/status` as dpkg itself reads it, else under the system root. */
export function dpkgStatusFile(env: NodeJS.ProcessEnv): string {
  return join(env.DPKG_ADMINDIR || join(systemRoot(env), 'var/lib/dpkg'), 'status')
}

export class Detector {
  readonly #o: DetectOptions
  #path?: { dir: string; names: Set<string> }[]
  #desktop?: Set<string>[]
  #debian?: Set<string>

  constructor(o: DetectOptions) {
    this.#o = o
  }

  #root(): string {
    return systemRoot(this.#o.env)
  }

  #command(name: string): boolean {
    this.#path ??= (this.#o.env.PATH ?? '')
      .split(':')
      .filter(Boolean)
      .map((dir) => ({ dir, names: listing(dir) }))
    return this.#path.some(({ dir, names }) => {
      if (!names.has(name)) return false
      try {
        accessSync(join(dir, name), constants.X_OK)
        return true
      } catch {
        return false
      }
    })
  }

  #desktopFile(name: string): boolean {
    if (!this.#desktop) {
      const env = this.#o.env
      const dataHome = env.XDG_DATA_HOME || join(this.#o.home, '.local/share')
      const dataDirs = env.XDG_DATA_DIRS
        ? env.XDG_DATA_DIRS.split(':').filter(Boolean)
        : ['usr/local/share', 'usr/share'].map((d) => join(this.#root(), d))
      const dirs = [dataHome, join(dataHome, 'flatpak/exports/share'), ...dataDirs, join(this.#root(), 'var/lib/flatpak/exports/share')]
      this.#desktop = dirs.map((d) => listing(join(d, 'applications')))
    }
    return this.#desktop.some((s) => s.has(name))
  }

  #flatpak(id: string): boolean {
    const dataHome = this.#o.env.XDG_DATA_HOME || join(this.#o.home, '.local/share')
    return exists(join(dataHome, 'flatpak/app', id)) || exists(join(this.#root(), 'var/lib/flatpak/app', id))
  }

  #debianPackage(name: string): boolean {
    this.#debian ??= installedDebianPackages(dpkgStatusFile(this.#o.env))
    return this.#debian.has(name)
  }

  #path_(p: string): boolean {
    const rel = homeRelativeOf(p, this.#o.home, this.#o.env)
    return rel !== undefined && exists(join(this.#o.home, rel))
  }

  /** The signs found that `e` is installed here (`command git`, `debian git`, …); empty if none. */
  signs(e: CatalogEntry): string[] {
    const d = e.detect
    return [
      ...d.commands.filter((c) => this.#command(c)).map((c) => `command ${c}`),
      ...d.desktop.filter((f) => this.#desktopFile(f)).map((f) => `desktop ${f}`),
      ...d.flatpak.filter((f) => this.#flatpak(f)).map((f) => `flatpak ${f}`),
      ...d.debian.filter((p) => this.#debianPackage(p)).map((p) => `debian ${p}`),
      ...d.snap.filter((s) => exists(join(this.#root(), 'snap', s))).map((s) => `snap ${s}`),
      ...d.paths.filter((p) => this.#path_(p)).map((p) => `path ${p}`),
    ]
  }

  /** Whether any file or folder `e` collects is here. */
  hasFiles(e: CatalogEntry): boolean {
    return [...e.settings, ...e.data].some((p) => this.#path_(p))
  }
}
