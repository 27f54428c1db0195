/**
 * Where retention policies live (docs/FORMAT.md, "The selection"): chosen once for the chain, per
 * category or per application, as `retention:<scope>:<policy>` set on, the way schedules are
 * (schedule.ts): setting a new one sets the old one off, and of two set on at once the higher
 * clock wins. `<scope>` is a category (`settings`, `apps`, `system`, `inventory`) or
 * `app:<id>`; `<policy>` is written as lib/sync/retention.ts writes it (`hourly=24,daily=30`).
 */
import { APP_ID, appOfHomeSpace, APPS_REGISTRY } from '../apps/app-spaces.js'
import { CATEGORIES, type Category } from '../catalog/entry.js'
import { UsageError } from '../errors.js'
import { DEFAULT_POLICY, formatPolicy, parsePolicy, type RetentionPolicy } from '../sync/retention.js'
import type { SelectionMap, Setting } from './selection.js'

/** A category, or one application's spaces (its data and its HOME files). */
export type RetentionScope = Category | `app:${string}`

const PREFIX = 'retention:'

/** A scope named on the command line, or a usage error naming the scopes there are. */
export function retentionScope(name: string): RetentionScope {
  if ((CATEGORIES as readonly string[]).includes(name)) return name as Category
  if (name.startsWith('app:') && APP_ID.test(name.slice(4))) return name as RetentionScope
  throw new UsageError(`${name}: not a retention scope; use a category (${CATEGORIES.join(', ')}) or app:<id> for one application`)
}

function beats(a: Setting, b: Setting): boolean {
  return a.clock !== b.clock ? a.clock > b.clock : a.by > b.by
}

/** The policy set on for `scope` (of several, the one set last), if any; one that no longer parses is left out. */
function setFor(map: SelectionMap, scope: RetentionScope): RetentionPolicy | undefined {
  const prefix = `${PREFIX}${scope}:`
  let best: [string, Setting] | undefined
  for (const [k, s] of Object.entries(map)) {
    if (!k.startsWith(prefix) || !s.v || (best && !beats(s, best[1]))) continue
    // Only a policy of one rule per part: "app:x:..." under "app:" is another scope's.
    if (k.slice(prefix.length).includes(':')) continue
    best = [k, s]
  }
  if (!best) return undefined
  try {
    return parsePolicy(best[0].slice(prefix.length))
  } catch {
    // Written by a later release with rules this one does not know: the category's, or the default, holds.
    return undefined
  }
}

/** Every scope that has a policy set, with it. */
export function retentionPolicies(map: SelectionMap): Map<RetentionScope, RetentionPolicy> {
  const out = new Map<RetentionScope, RetentionPolicy>()
  for (const k of Object.keys(map)) {
    if (!k.startsWith(PREFIX)) continue
    const rest = k.slice(PREFIX.length)
    const scope = rest.startsWith('app:') ? rest.split(':', 2).join(':') : rest.split(':', 1)[0]!
    if (out.has(scope as RetentionScope)) continue
    try {
      const p = setFor(map, retentionScope(scope))
      if (p) out.set(scope as RetentionScope, p)
    } catch {
      // A scope of another shape: left out, as unknown keys are.
    }
  }
  return out
}

/** The scope whose policy a space follows: an application's own, else its category's. */
export function scopesOf(space: string): RetentionScope[] {
  if (space === 'settings' || space === 'system' || space === 'inventory') return [space]
  if (space === APPS_REGISTRY) return ['apps']
  const m = /^app\/([^/]+)$/.exec(space)
  const id = m?.[1] ?? appOfHomeSpace(space)
  return id ? [`app:${id}`, 'apps'] : []
}

/** The policy space `space` is kept by: the first scope of it that has one set, else the default. */
export function policyOf(map: SelectionMap, space: string): { policy: RetentionPolicy; scope?: RetentionScope } {
  for (const scope of scopesOf(space)) {
    const policy = setFor(map, scope)
    if (policy) return { policy, scope }
  }
  return { policy: { ...DEFAULT_POLICY } }
}

/**
 * The selection keys that set `scope` to `policy` (undefined: back to what it inherits), turning
 * off the ones set before.
 */
export function retentionChanges(scope: RetentionScope, policy: RetentionPolicy | undefined, map: SelectionMap): Record<string, boolean> {
  const prefix = `${PREFIX}${scope}:`
  const out: Record<string, boolean> = {}
  for (const [k, s] of Object.entries(map)) if (k.startsWith(prefix) && !k.slice(prefix.length).includes(':') && s.v) out[k] = false
  if (policy) out[prefix + formatPolicy(policy)] = true
  return out
}
