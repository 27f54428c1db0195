/**
 * The chain's selection (docs/ARCHITECTURE.md, "The selection"): what is collected, chosen once
 * for every computer. It is a map of settings, each a boolean with a Lamport clock: setting one
 * takes a clock above every clock known, and of two values of one key the higher clock wins (a
 * tie, the higher device tag). Every device publishes the whole map as it knows it, so the maps
 * converge whatever order computers sync in, and no write ever has to wait for another.
 *
 * Keys:
 *   category:<settings|apps|system|inventory>  the category is collected (default on)
 *   apps:auto                                  catalog applications found on a computer join the selection (default on)
 *   app:<id>                                   the catalog application is collected
 *   include:<~/path>                           the path is collected into the settings space
 *   exclude:<pattern>                          the pattern is left out of every space
 *   secret:<~/path>                            the user opted in to carry this secret store
 *   schedule:<category>:<when>                 the service up-syncs the category then (schedule.ts)
 */
import { CATEGORIES, type Category } from '../catalog/entry.js'
import { DEFAULT_SCHEDULES } from './schedule.js'

export interface Setting {
  v: boolean
  clock: number
  /** Device tag that set it. */
  by: string
  /** ISO time it was set (shown to people; never decides). */
  at: string
}

export type SelectionMap = Record<string, Setting>

/** Whether `a` wins over `b` for one key. */
function beats(a: Setting, b: Setting): boolean {
  return a.clock !== b.clock ? a.clock > b.clock : a.by > b.by
}

/** The union of `maps`, each key at its winning value. */
export function mergeSelections(...maps: readonly SelectionMap[]): SelectionMap {
  const out: SelectionMap = {}
  for (const m of maps) for (const [k, s] of Object.entries(m)) if (!out[k] || beats(s, out[k])) out[k] = s
  return out
}

/** `map` with `changes` set by device `by`, each above every clock known. */
export function setSelection(map: SelectionMap, changes: Record<string, boolean>, by: string, at = new Date().toISOString()): SelectionMap {
  const clock = Math.max(0, ...Object.values(map).map((s) => s.clock)) + 1
  const out = { ...map }
  for (const [k, v] of Object.entries(changes)) out[k] = { v, clock, by, at }
  return out
}

/** What the selection says, read out of its map. */
export interface Selection {
  categories: Record<Category, boolean>
  autoApps: boolean
  /** Catalog applications set on or off, by id (absent: not chosen either way yet). */
  apps: Map<string, boolean>
  /** `~/…` paths collected into the settings space. */
  include: string[]
  /** Patterns left out everywhere. */
  exclude: string[]
  /** Secret stores the user chose to carry (`~/…` paths or catalog patterns). */
  secrets: string[]
  /** When the service up-syncs each category (schedule.ts; the defaults where none is set). */
  schedules: Record<Category, string>
}

export function readSelection(map: SelectionMap): Selection {
  const on = (k: string, dflt: boolean) => map[k]?.v ?? dflt
  const list = (prefix: string) =>
    Object.keys(map)
      .filter((k) => k.startsWith(prefix) && map[k]!.v)
      .map((k) => k.slice(prefix.length))
      .sort()
  const apps = new Map<string, boolean>()
  for (const [k, s] of Object.entries(map)) if (k.startsWith('app:')) apps.set(k.slice(4), s.v)
  return {
    categories: Object.fromEntries(CATEGORIES.map((c) => [c, on(`category:${c}`, true)])) as Record<Category, boolean>,
    autoApps: on('apps:auto', true),
    apps,
    include: list('include:'),
    exclude: list('exclude:'),
    secrets: list('secret:'),
    schedules: Object.fromEntries(CATEGORIES.map((c) => [c, schedule(map, c)])) as Record<Category, string>,
  }
}

/** The schedule set on for `category` (of several, the one set last), or its default. */
function schedule(map: SelectionMap, category: Category): string {
  const prefix = `schedule:${category}:`
  let best: [string, Setting] | undefined
  for (const [k, s] of Object.entries(map)) if (k.startsWith(prefix) && s.v && (!best || beats(s, best[1]))) best = [k, s]
  return best ? best[0].slice(prefix.length) : DEFAULT_SCHEDULES[category]
}
