/**
 * What each space collects, from config.toml. Only `settings` is collected so far; the other
 * spaces (system, inventory, app/<id>: docs/FORMAT.md, "Spaces") come with their collectors, as
 * more entries of `spaceSources`: the sync commands go through that list.
 */
import { relative, resolve, sep } from 'node:path'
import type { Config } from '../config.js'
import { appSpace, APPS_REGISTRY } from '../apps/app-spaces.js'
import type { StateDb } from '../state/db.js'
import { SpaceStore } from '../store/space-store.js'
import type { Vault } from '../vault/vault.js'
import { ConfigError } from '../errors.js'
import type { CloudyPaths } from '../paths.js'
import { expandHome } from '../paths.js'
import { linkFollower } from '../sources/settings.js'
import type { TreeEntry } from '../store/objects.js'

export interface SpaceSource {
  space: string
  /** The folder the space's paths are relative to (HOME for settings). */
  root: string
  /** HOME-relative paths to collect. */
  include: string[]
  excluded: (rel: string) => boolean
  /** Where a local symlink is followed (an include that is a link, the folders above one, …). */
  follow: (rel: string, base: TreeEntry | undefined) => boolean
}

function globToRegExp(glob: string): RegExp {
  const body = glob
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '[^/]*')
    .replace(/\?/g, '[^/]')
  return new RegExp(`(^|/)${body}$`)
}

/** HOME-relative form of a path under HOME, or undefined. */
function underHome(home: string, abs: string): string | undefined {
  const rel = relative(home, resolve(abs))
  if (rel === '' || rel.startsWith('..' + sep) || rel === '..' || rel.startsWith(sep)) return rel === '' ? '' : undefined
  return rel.split(sep).join('/')
}

export function settingsSource(config: Config, paths: CloudyPaths, vaultFolder?: string): SpaceSource {
  const home = paths.home
  const include: string[] = []
  for (const p of config.settings.include) {
    const rel = underHome(home, expandHome(p, home))
    if (rel === undefined)
      throw new ConfigError(`settings.include: ${p} is not under HOME (${home})`, { file: paths.configFile, key: 'settings.include' })
    include.push(rel)
  }
  const exactOut = new Set<string>()
  const globs: RegExp[] = []
  for (const p of config.settings.exclude ?? []) {
    if (p.startsWith('~') || p.startsWith('/')) {
      const rel = underHome(home, expandHome(p, home))
      if (rel !== undefined) exactOut.add(rel)
    } else globs.push(globToRegExp(p))
  }
  // Cloudy never collects its own state, nor a local vault that lives under HOME.
  for (const own of [paths.configDir, paths.stateDir, paths.cacheDir, vaultFolder]) {
    const rel = own && underHome(home, own)
    if (rel) exactOut.add(rel)
  }
  return {
    space: 'settings',
    root: home,
    include,
    excluded: (rel) => exactOut.has(rel) || globs.some((g) => g.test(rel)),
    follow: linkFollower(include),
  }
}

/** Spaces every vault may hold; `check` walks each of them. */
export const KNOWN_SPACES = ['settings', 'system', 'inventory'] as const

/**
 * Every space of the vault: the known ones, the list of applications and each application
 * space ever listed in it (by any commit of any device: a removed application's data is still
 * in the vault).
 */
export async function allSpaces(vault: Vault, db: StateDb): Promise<string[]> {
  const registry = new SpaceStore(vault.provider, vault.space(APPS_REGISTRY), db)
  await registry.open()
  const ids = new Set<string>()
  const seen = new Set<string>()
  const todo = [...(await registry.readHeads()).values()].map((h) => h.commit)
  while (todo.length) {
    const id = todo.pop()!
    if (seen.has(id)) continue
    seen.add(id)
    const commit = await registry.readCommit(id)
    for (const e of (await registry.readTree(commit.tree)).entries) if (e.type === 'dir') ids.add(e.name)
    todo.push(...commit.parents)
  }
  return [...KNOWN_SPACES, APPS_REGISTRY, ...[...ids].sort().map(appSpace)]
}

/** Every space this computer collects and restores, from its config. */
export function spaceSources(config: Config, paths: CloudyPaths, vaultFolder?: string): SpaceSource[] {
  return [settingsSource(config, paths, vaultFolder)]
}
