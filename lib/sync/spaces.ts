/**
 * The spaces of a session: which ones this computer collects and restores (the selection read
 * with the catalog and config.toml, lib/sources/sources.ts), and every space the vault holds
 * (for `check` and `chain`).
 */
import { join } from 'node:path'
import { providerFolder } from '../../providers/index.js'
import { APP_ID, appHomeSpace, appSpace, APPS_REGISTRY } from '../apps/app-spaces.js'
import { loadCatalog, type Catalog } from '../catalog/catalog.js'
import type { CatalogEntry } from '../catalog/entry.js'
import { Detector } from '../catalog/detect.js'
import { hasDconf } from '../sources/dconf.js'
import { changeSelection, loadSelectionMap } from '../selection/records.js'
import { readSelection, type Selection } from '../selection/selection.js'
import { skippedCategories, spaceSources, type SourcesInput, type SpaceSource } from '../sources/sources.js'
import { loadSystemCatalog } from '../catalog/system.js'
import type { StateDb } from '../state/db.js'
import type { Vault } from '../vault/vault.js'
import type { Session } from '../session.js'

/** Spaces every vault may hold; `check` walks each of them. */
export const KNOWN_SPACES = ['settings', 'system', 'inventory'] as const

/**
 * Every space of the vault: the known ones, the list of applications and each application
 * space ever listed in it (by any commit of any device: a removed application's data is still
 * in the vault).
 */
export async function allSpaces(vault: Vault, db: StateDb): Promise<string[]> {
  const registry = vault.store(APPS_REGISTRY, db)
  await registry.open()
  const ids = new Set<string>()
  const seen = new Set<string>()
  const todo = [...(await registry.readHeads()).values()].map((h) => h.commit)
  while (todo.length) {
    const id = todo.pop()!
    if (seen.has(id)) continue
    seen.add(id)
    // A forgotten commit's tree may be gone; its parents are in its forget record.
    const forgotten = registry.forgotten.get(id)
    const commit = forgotten ?? (await registry.readCommit(id))
    if (!forgotten) for (const e of (await registry.readTree(commit.tree)).entries) if (e.type === 'dir') ids.add(e.name)
    todo.push(...commit.parents)
  }
  for (const app of registry.forgottenApps) ids.add(app)
  // Every catalog application the selection ever named has a home store.
  const named = Object.keys(await loadSelectionMap(vault, db))
    .filter((k) => k.startsWith('app:'))
    .map((k) => k.slice(4))
    .filter((id) => APP_ID.test(id))
  return [...KNOWN_SPACES, APPS_REGISTRY, ...[...ids].sort().map(appSpace), ...named.sort().map(appHomeSpace)]
}

/**
 * Every space this computer collects and restores: the chain's selection (with, when
 * `autoAdd`, the catalog applications found here added to it first: an up-sync does that) read
 * with the catalog and config.toml's `[here]`.
 */
export async function sessionSources(s: Session, o: { autoAdd?: boolean } = {}): Promise<SpaceSource[]> {
  return (await sessionPlan(s, o)).sources
}

/** `sessionSources`, and the categories on in the selection that this computer skips, with why. */
export async function sessionPlan(
  s: Session,
  o: { autoAdd?: boolean } = {},
): Promise<{ sources: SpaceSource[]; skipped: { category: string; why: string }[] }> {
  const catalog = loadCatalog(join(s.paths.configDir, 'catalog'))
  let selection = readSelection(await loadSelectionMap(s.vault, s.db))
  const skipped = new Set(s.config.here.skip)
  if (o.autoAdd && selection.autoApps) {
    const detector = new Detector({ home: s.paths.home, env: s.env })
    const found: CatalogEntry[] = []
    for (const e of catalog.entries) {
      if (selection.apps.has(e.id) || !selection.categories[e.category] || skipped.has(e.id) || skipped.has(e.category)) continue
      // Cheapest first, as this runs at every up-sync: a few stats, then the signs (the dpkg
      // database), then dconf (a process) for an application without files.
      const files = detector.hasFiles(e)
      if ((!files && !e.dconf.length) || !detector.signs(e).length) continue
      if (files || (await hasDconf(e, s.paths.home, s.env))) found.push(e)
    }
    if (found.length)
      selection = readSelection(
        await changeSelection(s.vault, s.db, s.device.id, Object.fromEntries(found.map((e) => [`app:${e.id}`, true]))),
      )
  }
  const input = sourcesInput(s, catalog, selection)
  return { sources: spaceSources(input), skipped: skippedCategories(input) }
}

/** What the sources of this session are made from: its config, the catalog, the selection. */
export function sourcesInput(s: Session, catalog: Catalog, selection: Selection): SourcesInput {
  return {
    config: s.config,
    paths: s.paths,
    env: s.env,
    selection,
    catalog,
    system: loadSystemCatalog(),
    admin: process.getuid?.() === 0,
    deviceTag: s.vault.deviceTag(s.device.id),
    vaultFolder: providerFolder(s.config.vault.provider!, s.config.vault.root),
  }
}
