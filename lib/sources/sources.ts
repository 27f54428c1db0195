/**
 * What each space collects on this computer (docs/ARCHITECTURE.md, "What is collected"): the
 * chain's selection, read with the catalog and this computer's `[here]` overrides, turned into
 * one source per space — `settings` for the paths the user added, and one per selected catalog
 * application (its HOME files, in the application's home store `app/<id>/home`). A path goes
 * to one space only, the same one on every computer that collects it: a path the chain added
 * (`cloudy add`) is the settings space's, even where a catalog application claims it; any
 * other path an application the chain selected claims is that application's, and the settings
 * space takes it only on a computer that includes it itself and does not collect that
 * application (so no computer has two writers of one file). Secrets are left out of every
 * space unless the user opted in.
 */
import { relative, resolve, sep } from 'node:path'
import type { Config } from '../config.js'
import { ConfigError } from '../errors.js'
import type { CloudyPaths } from '../paths.js'
import { expandHome } from '../paths.js'
import { appHomeSpace } from '../apps/app-spaces.js'
import type { Catalog } from '../catalog/catalog.js'
import { CATEGORIES, homeRelativeOf, isCatalogPath, type CatalogEntry, type Category } from '../catalog/entry.js'
import { GlobError, globToRegExp } from '../catalog/glob.js'
import { KNOWN_SECRET_STORES } from '../catalog/secrets.js'
import type { Selection } from '../selection/selection.js'
import type { TreeEntry } from '../store/objects.js'
import { linkFollower } from './settings.js'
import { systemRoot } from '../catalog/detect.js'
import type { SystemCatalog } from '../catalog/system.js'
import { dconfFolder } from './dconf.js'
import { inventoryFile, inventoryFolder } from './inventory.js'

export interface SpaceSource {
  /** The store's name (`settings`, `app/<id>/home`): its keys and local state. */
  space: string
  /** How the plan and people name its items: `settings/…`, `apps/<id>/…`. */
  label: string
  category: Category
  /** The catalog application whose files these are. */
  app?: CatalogEntry
  /** The folder the space's paths are relative to (HOME). */
  root: string
  /** HOME-relative paths to collect. */
  include: string[]
  excluded: (rel: string) => boolean
  /** Where a local symlink is followed (an include that is a link, the folders above one, …). */
  follow: (rel: string, base: TreeEntry | undefined) => boolean
}

export interface SourcesInput {
  config: Config
  paths: CloudyPaths
  env: NodeJS.ProcessEnv
  selection: Selection
  catalog: Catalog
  /** The computer settings the `system` category carries; collected only by an administrator. */
  system?: SystemCatalog
  /** This process runs as an administrator (root, or through sudo). */
  admin?: boolean
  /** This device's tag: names its record in the inventory space. */
  deviceTag?: string
  /** The folder of a local vault, never collected when it lies under HOME. */
  vaultFolder?: string
}

/** HOME-relative form of a path under HOME, or undefined. */
export function underHome(home: string, abs: string): string | undefined {
  const rel = relative(home, resolve(abs))
  if (rel === '' || rel.startsWith('..' + sep) || rel === '..' || rel.startsWith(sep)) return rel === '' ? '' : undefined
  return rel.split(sep).join('/')
}

/** A test over HOME-relative paths: exact paths (and what lies below them) and patterns. */
export function pathMatcher(exact: Iterable<string>, patterns: readonly RegExp[] = []): (rel: string) => boolean {
  const set = new Set(exact)
  return (rel) => {
    if (patterns.some((p) => p.test(rel))) return true
    if (!set.size) return false
    for (let p = rel; ; p = p.slice(0, p.lastIndexOf('/'))) {
      if (set.has(p)) return true
      if (!p.includes('/')) return false
    }
  }
}

/**
 * A pattern (a catalog path with pattern characters, or a name pattern) as a test over
 * HOME-relative paths; `where` names it in an error. A catalog path whose variable points
 * outside HOME matches nothing here.
 */
export function patternRegExp(p: string, home: string, env: NodeJS.ProcessEnv, where: { file?: string; key: string }): RegExp | undefined {
  try {
    if (isCatalogPath(p)) {
      const rel = homeRelativeOf(p, home, env)
      if (rel === undefined) return undefined
      return globToRegExp(rel, true)
    }
    if (p.startsWith('~') || p.startsWith('/')) {
      const rel = underHome(home, expandHome(p, home))
      if (rel === undefined) throw new ConfigError(`${where.key}: "${p}" is not under HOME (${home})`, where)
      return globToRegExp(rel, true)
    }
    return globToRegExp(p)
  } catch (e) {
    if (e instanceof GlobError) throw new ConfigError(`${where.key}: ${e.message}`, where)
    throw e
  }
}

/** What `[here] skip` names: categories, application ids, and paths or patterns. */
interface Skips {
  categories: Set<string>
  apps: Set<string>
  paths: RegExp[]
  /** Paths under /etc (relative to the system root, `etc/…`). */
  system: string[]
}

function readSkips(o: SourcesInput): Skips {
  const skips: Skips = { categories: new Set(), apps: new Set(), paths: [], system: [] }
  const where = { file: o.paths.configFile, key: 'here.skip' }
  for (const s of o.config.here.skip) {
    if ((CATEGORIES as readonly string[]).includes(s)) skips.categories.add(s)
    else if (o.catalog.byId.has(s)) skips.apps.add(s)
    else if (s.startsWith('/etc/')) skips.system.push(s.slice(1))
    else {
      const re = patternRegExp(s, o.paths.home, o.env, where)
      if (re) skips.paths.push(re)
    }
  }
  return skips
}

/** What every space's source shares: the user's includes, what is left out, what is skipped here. */
interface Context {
  o: SourcesInput
  skips: Skips
  /** HOME-relative paths the user added (the settings space's). */
  include: string[]
  /** Cloudy's own folders, the selection's excludes and this computer's skips. */
  common: (rel: string) => boolean
  /** The known secret stores not opted in. */
  secrets: (rel: string) => boolean
  /** Under a path the chain added: the settings space's, wherever an application claims it. */
  chainIncluded: (rel: string) => boolean
  /** Claimed by a catalog application the chain selected, or by one collected here. */
  claimed: (rel: string) => boolean
  claimedHere: (rel: string) => boolean
  /** Under a path this computer's `[here] include` adds. */
  hereIncluded: (rel: string) => boolean
}

function context(o: SourcesInput): Context {
  const home = o.paths.home
  const skips = readSkips(o)
  const rels = (paths: readonly string[]) =>
    paths.map((p) => {
      const rel = underHome(home, expandHome(p, home))
      if (rel === undefined)
        throw new ConfigError(`here.include: ${p} is not under HOME (${home})`, { file: o.paths.configFile, key: 'here.include' })
      return rel
    })
  const chainInclude = rels(o.selection.include)
  const hereInclude = rels(o.config.here.include)
  const patterns = [...skips.paths]
  for (const p of o.selection.exclude) {
    const re = patternRegExp(p, home, o.env, { key: 'selection exclude' })
    if (re) patterns.push(re)
  }
  // Cloudy never collects its own state, nor a local vault that lives under HOME, nor the folder
  // the service mounts the vault on (that would be the vault again, and the service would be
  // reading the mount it serves).
  const own: string[] = []
  const mountDir = o.config.mount?.dir && expandHome(o.config.mount.dir, home)
  for (const dir of [o.paths.configDir, o.paths.stateDir, o.paths.cacheDir, o.vaultFolder, mountDir]) {
    const rel = dir && underHome(home, dir)
    if (rel) own.push(rel)
  }
  const common = pathMatcher(own, patterns)
  const selected = o.catalog.entries.filter((app) => o.selection.apps.get(app.id) === true && o.selection.categories[app.category])
  const claimed = claimMatcher(o, selected)
  const claimedHere = claimMatcher(
    o,
    selected.filter((app) => !skips.categories.has(app.category) && !skips.apps.has(app.id)),
  )
  // What is left out wins over what is included: an include inside it is no include. A path
  // this computer alone adds that an application collected here claims is that application's.
  const include = [...new Set([...chainInclude, ...hereInclude.filter((rel) => !claimedHere(rel))])].filter((rel) => !common(rel))
  return {
    o,
    skips,
    include,
    common,
    secrets: secretMatcher(o, KNOWN_SECRET_STORES),
    chainIncluded: pathMatcher(chainInclude.filter((rel) => !common(rel))),
    claimed,
    claimedHere,
    hereIncluded: pathMatcher(hereInclude),
  }
}

/** A test for the HOME paths that catalog applications `apps` collect (whole folders, patterns). */
function claimMatcher(o: SourcesInput, apps: readonly CatalogEntry[]): (rel: string) => boolean {
  const exact: string[] = []
  const patterns: RegExp[] = []
  for (const app of apps) {
    if (app.dconf.length) exact.push(dconfFolder(app.id))
    for (const p of [...app.settings, ...app.data]) {
      const rel = homeRelativeOf(p, o.paths.home, o.env)
      if (rel === undefined) continue
      if (/[*?[]/.test(rel)) patterns.push(globToRegExp(rel, true))
      else exact.push(rel)
    }
  }
  return pathMatcher(exact, patterns)
}

/**
 * Whether the settings space leaves `rel` out as an application's: claimed by an application
 * the chain selected, unless the chain added it, or this computer adds it and does not collect
 * the application that claims it.
 */
function applicationsPath(c: Context, rel: string): boolean {
  return c.claimed(rel) && !c.chainIncluded(rel) && !(c.hereIncluded(rel) && !c.claimedHere(rel))
}

/** The source of catalog application `app`'s HOME files, whether or not it is selected. */
function appSource(c: Context, app: CatalogEntry): SpaceSource {
  const { o, common, chainIncluded, secrets } = c
  const home = o.paths.home
  const paths = [...app.settings, ...app.data].map((p) => homeRelativeOf(p, home, o.env)).filter((p) => p !== undefined)
  // The text of its dconf folders (dconf.ts).
  if (app.dconf.length) paths.push(dconfFolder(app.id))
  const appOut = pathMatcher(
    [],
    app.exclude.map((p) => patternRegExp(p, home, o.env, { file: app.file, key: 'exclude' })).filter((r) => r !== undefined),
  )
  const appSecrets = secretMatcher(o, app.secrets, app.file)
  return {
    space: appHomeSpace(app.id),
    label: `apps/${app.id}`,
    category: app.category,
    app,
    root: home,
    include: paths.filter((p) => !chainIncluded(p) && !common(p) && !appOut(p)),
    excluded: (rel) => common(rel) || chainIncluded(rel) || appOut(rel) || secrets(rel) || appSecrets(rel),
    follow: linkFollower(paths),
  }
}

/** Whether category `cat` is collected here: on in the selection, not skipped here. */
function categoryOn(c: Pick<Context, 'o' | 'skips'>, cat: Category): boolean {
  return c.o.selection.categories[cat] && !c.skips.categories.has(cat)
}

/** Every space this computer collects and restores. */
export function spaceSources(o: SourcesInput): SpaceSource[] {
  const c = context(o)
  const sources: SpaceSource[] = []
  if (categoryOn(c, 'settings'))
    sources.push({
      space: 'settings',
      label: 'settings',
      category: 'settings',
      root: o.paths.home,
      include: c.include,
      excluded: (rel) => c.common(rel) || c.secrets(rel) || applicationsPath(c, rel),
      follow: linkFollower(c.include),
    })
  for (const app of o.catalog.entries)
    if (o.selection.apps.get(app.id) === true && categoryOn(c, app.category) && !c.skips.apps.has(app.id)) sources.push(appSource(c, app))
  if (o.system && o.admin && categoryOn(c, 'system')) sources.push(systemSource(c, o.system))
  if (o.deviceTag && categoryOn(c, 'inventory'))
    sources.push({
      space: 'inventory',
      label: 'inventory',
      category: 'inventory',
      // The records as this computer has them: its own, written before each up-sync, and the
      // other devices', written by down-syncs (sources/inventory.ts).
      root: inventoryFolder(o.paths),
      include: [inventoryFile(o.deviceTag)],
      excluded: () => false,
      follow: () => false,
    })
  return sources
}

/** Why a category the selection has on is not collected here, if one is (for the commands to say). */
export function skippedCategories(o: SourcesInput): { category: Category; why: string }[] {
  // Only the skips are needed, not the whole context (the catalog's claims): this runs at every sync.
  if (!o.system || o.admin || !categoryOn({ o, skips: readSkips(o) }, 'system')) return []
  return [{ category: 'system', why: 'only an administrator collects and restores computer settings: run it as root or through sudo' }]
}

/**
 * The computer settings (system.toml), relative to the system root (`/`, or
 * `CLOUDY_SYSTEM_ROOT`): what never travels and what this computer skips is left out, and
 * secrets unless the user opted in for that path.
 */
function systemSource(c: Context, system: SystemCatalog): SpaceSource {
  const rel = (p: string) => p.slice(1)
  const never = pathMatcher([...system.never.map(rel), ...c.skips.system])
  const secrets = pathMatcher(system.secrets.filter((p) => !c.o.selection.secrets.includes(p)).map(rel))
  const include = system.paths.map(rel).filter((p) => !never(p))
  return {
    space: 'system',
    label: 'system',
    category: 'system',
    root: systemRoot(c.o.env),
    include,
    excluded: (p) => never(p) || secrets(p),
    follow: linkFollower(include),
  }
}

/**
 * Every catalog application's source as it would be here, selected or not, and why it is not
 * collected here (`undefined` when it is): for `cloudy apps list`.
 */
export function catalogSources(o: SourcesInput): { source: SpaceSource; off?: string }[] {
  const c = context(o)
  return o.catalog.entries.map((app) => {
    const chosen = o.selection.apps.get(app.id)
    const off = !o.selection.categories[app.category]
      ? `the category ${app.category} is off`
      : c.skips.categories.has(app.category) || c.skips.apps.has(app.id)
        ? 'skipped here ([here] skip)'
        : chosen === false
          ? 'removed from the selection'
          : chosen === undefined
            ? 'not selected'
            : undefined
    return { source: appSource(c, app), off }
  })
}

/** A test for the secret stores `stores` not opted in by the selection. */
function secretMatcher(o: SourcesInput, stores: readonly string[], file?: string): (rel: string) => boolean {
  const home = o.paths.home
  const res = stores.filter((s) => !o.selection.secrets.includes(s)).map((s) => patternRegExp(s, home, o.env, { file, key: 'secrets' }))
  const held = res.filter((r) => r !== undefined)
  const optedIn = new Set(
    o.selection.secrets.map((s) => (isCatalogPath(s) ? homeRelativeOf(s, home, o.env) : underHome(home, expandHome(s, home)))),
  )
  return (rel) => !optedIn.has(rel) && held.some((r) => r.test(rel))
}

/** Every store this computer's sources name, by label (`settings`, `apps/<id>`). */
export function sourceByLabel(sources: readonly SpaceSource[]): Map<string, SpaceSource> {
  return new Map(sources.map((s) => [s.label, s]))
}
