/**
 * The catalog of applications (docs/CATALOG.md): the entries shipped in `lib/catalog/apps/`,
 * and the user's own in `<config dir>/catalog/` (one `<id>.toml` each; a user's entry with a
 * shipped id replaces it). Read once per command, checked as a whole: two entries may not claim
 * one path, since a file can live in one application's space only.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ConfigError } from '../errors.js'
import { homeRelativeOf, isCatalogPath, parseEntry, type CatalogEntry } from './entry.js'
import { KNOWN_SECRET_STORES } from './secrets.js'

/** The folder of the shipped entries: beside this module in the sources, `lib/catalog/apps` of the package once built. */
export function shippedCatalogDir(): string {
  const here = dirname(fileURLToPath(import.meta.url))
  if (existsSync(join(here, 'apps'))) return join(here, 'apps')
  for (let d = here; d !== dirname(d); d = dirname(d))
    if (existsSync(join(d, 'lib', 'catalog', 'apps'))) return join(d, 'lib', 'catalog', 'apps')
  throw new Error(`the application catalog (lib/catalog/apps) is not found above ${here}`)
}

/**
 * The shipped entries as the build checked them (`apps.json` beside `apps/`, written by
 * scripts/bundle.js), if there is such a file: parsing 100 TOML files costs a command tens of
 * milliseconds, reading one JSON file almost nothing.
 */
export const PREBUILT = 'apps.json'

function readPrebuilt(dir: string): CatalogEntry[] | undefined {
  let text: string
  try {
    text = readFileSync(join(dir, '..', PREBUILT), 'utf8')
  } catch {
    return undefined
  }
  // Files are named relative to the folder, which may have moved since (dist/ copied whole).
  return (JSON.parse(text) as CatalogEntry[]).map((e) => ({ ...e, file: join(dir, e.file) }))
}

/** The shipped entries in `dir`, as one JSON text for `readPrebuilt` (files relative to `dir`). */
export function prebuiltCatalog(dir: string): string {
  return JSON.stringify(readDir(dir).map((e) => ({ ...e, file: relative(dir, e.file) })))
}

function readDir(dir: string): CatalogEntry[] {
  let names: string[]
  try {
    names = readdirSync(dir)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw new ConfigError(`cannot read the catalog folder: ${(e as Error).message}`, { file: dir })
  }
  return names
    .filter((n) => n.endsWith('.toml'))
    .sort()
    .map((n) => {
      const file = join(dir, n)
      return parseEntry(n.slice(0, -'.toml'.length), readFileSync(file, 'utf8'), file)
    })
}

export interface Catalog {
  entries: CatalogEntry[]
  byId: Map<string, CatalogEntry>
}

/**
 * The paths an entry claims (settings and data), HOME-relative as they are with the default XDG
 * folders: the form in which two entries are compared.
 */
export function claimedPaths(e: CatalogEntry): string[] {
  return [...e.settings, ...e.data].map((p) => homeRelativeOf(p, '/h', {})!)
}

/** Throw naming both entries when two of them claim one path, or one path inside another's. */
export function checkClaims(entries: readonly CatalogEntry[]): void {
  const owner = new Map<string, CatalogEntry>()
  for (const e of entries)
    for (const rel of claimedPaths(e)) {
      const other = owner.get(rel)
      if (other && other !== e)
        throw new ConfigError(`${e.id} and ${other.id} (${other.file}) both claim ~/${rel}: a path belongs to one application`, {
          file: e.file,
          key: 'settings',
        })
      owner.set(rel, e)
    }
  for (const [rel, e] of owner)
    for (let cut = rel.lastIndexOf('/'); cut > 0; cut = rel.lastIndexOf('/', cut - 1)) {
      const outer = owner.get(rel.slice(0, cut))
      if (outer && outer !== e)
        throw new ConfigError(
          `~/${rel} of ${e.id} lies inside ~/${rel.slice(0, cut)} of ${outer.id} (${outer.file}): a path belongs to one application`,
          {
            file: e.file,
            key: 'settings',
          },
        )
    }
}

/** The shipped entries, replaced or added to by the user's own in `userDir`. */
export function loadCatalog(userDir?: string, shippedDir = shippedCatalogDir()): Catalog {
  const byId = new Map<string, CatalogEntry>()
  for (const e of readPrebuilt(shippedDir) ?? readDir(shippedDir)) byId.set(e.id, e)
  if (userDir) for (const e of readDir(userDir)) byId.set(e.id, e)
  // Ids are ASCII (entry.ts): compared as strings, without loading a collator (~15 ms).
  const entries = [...byId.values()].sort((x, y) => (x.id < y.id ? -1 : x.id > y.id ? 1 : 0))
  checkClaims(entries)
  return { entries, byId }
}

/**
 * The known secret stores (`KNOWN_SECRET_STORES`) inside a path that `e` claims and missing
 * from its `secrets`: each must be listed, so that what is held back can be shown.
 */
export function unmarkedSecrets(e: CatalogEntry): string[] {
  const claimed = claimedPaths(e)
  const out: string[] = []
  for (const store of KNOWN_SECRET_STORES) {
    if (!isCatalogPath(store) || e.secrets.includes(store)) continue
    const rel = homeRelativeOf(store, '/h', {})!
    // The literal part before the first pattern character decides where the store lives.
    const fixed = rel.split('/').filter((_, i, parts) => !parts.slice(0, i + 1).some((p) => /[*?[]/.test(p)))
    const prefix = fixed.join('/')
    if (claimed.some((c) => prefix === c || prefix.startsWith(c + '/'))) out.push(store)
  }
  return out
}
