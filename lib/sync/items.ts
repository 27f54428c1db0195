/**
 * Items as the command line names them: a category (`settings`, `apps`), an application id
 * (`vscode`), a plan name (`settings/.gitconfig`, `apps/vscode/.config/Code`), or a local path
 * (absolute, or relative to the current folder), which is named by the space that collects it.
 */
import { isAbsolute, relative, resolve, sep } from 'node:path'
import { CATEGORIES } from '../catalog/entry.js'
import { UsageError } from '../errors.js'
import type { SpaceSource } from '../sources/sources.js'

/** The source that holds HOME-relative `rel`: the one whose include is the longest above it; settings else. */
function holderOf(sources: readonly SpaceSource[], rel: string): SpaceSource | undefined {
  let best: SpaceSource | undefined
  let depth = -1
  for (const s of sources)
    for (const root of s.include)
      if ((root === '' || rel === root || rel.startsWith(root + '/')) && root.length > depth && !s.excluded(rel)) {
        best = s
        depth = root.length
      }
  return best ?? sources.find((s) => s.label === 'settings')
}

/**
 * A path argument as the plan names it: a plan name as it is; a local path mapped through HOME
 * to the space that collects it. `sources` default to the settings space alone.
 */
export function planName(arg: string, home: string, cwd = process.cwd(), sources: readonly SpaceSource[] = []): string {
  const p = arg.replace(/\/+$/, '')
  const labels = sources.length ? sources.map((s) => s.label) : ['settings']
  if (labels.some((l) => p === l || p.startsWith(l + '/'))) return p
  const abs = isAbsolute(p) ? p : resolve(cwd, p)
  const rel = relative(home, abs)
  if (rel.startsWith('..') || isAbsolute(rel)) throw new UsageError(`${arg}: not under HOME (${home}), so no space holds it`)
  const path = rel.split(sep).join('/')
  const label = (sources.length ? holderOf(sources, path)?.label : undefined) ?? 'settings'
  return path ? `${label}/${path}` : label
}

/**
 * `--only` arguments as plan-name prefixes: a category stands for every space of it, an
 * application id for its space; anything else is a plan name or a local path (`planName`).
 * Undefined when no `--only` was given.
 */
export function onlyItems(
  args: readonly string[] | undefined,
  sources: readonly SpaceSource[],
  home: string,
  cwd?: string,
): string[] | undefined {
  if (!args?.length) return undefined
  const out: string[] = []
  for (const a of args) {
    if ((CATEGORIES as readonly string[]).includes(a) && !a.includes('/')) {
      const of = sources.filter((s) => s.category === a).map((s) => s.label)
      out.push(...(of.length ? of : [a]))
      continue
    }
    const app = sources.find((s) => s.app?.id === a)
    if (app) out.push(app.label)
    else out.push(planName(a, home, cwd, sources))
  }
  return out
}

/** Whether `only` (plan-name prefixes) asks for anything of the source `s`. */
export function onlyTouches(only: readonly string[] | undefined, s: SpaceSource): boolean {
  return !only || only.some((p) => p === s.label || p.startsWith(s.label + '/') || s.label.startsWith(p + '/'))
}
