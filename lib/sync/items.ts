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

/** Whether some source collects HOME-relative `rel`, or something under it. */
function collected(sources: readonly SpaceSource[], rel: string): boolean {
  return sources.some((s) =>
    s.include.some(
      (root) =>
        root === '' || rel === '' || root.startsWith(rel + '/') || ((rel === root || rel.startsWith(root + '/')) && !s.excluded(rel)),
    ),
  )
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
  const nothing = (a: string, why: string) =>
    new UsageError(
      `--only ${a}: ${why}. Name a category, an application id, a space or a path this computer collects: ${sources.map((s) => s.label).join(', ') || 'it collects nothing yet'}`,
    )
  for (const a of args) {
    if ((CATEGORIES as readonly string[]).includes(a) && !a.includes('/')) {
      const of = sources.filter((s) => s.category === a).map((s) => s.label)
      // `apps` also names what applications wrote through the mount (the written registry).
      if (!of.length && a !== 'apps') throw nothing(a, 'this computer collects nothing of that category')
      out.push(...(of.length ? of : [a]))
      continue
    }
    const app = sources.find((s) => s.app?.id === a)
    if (app) {
      out.push(app.label)
      continue
    }
    let name: string
    try {
      name = planName(a, home, cwd, sources)
    } catch (e) {
      if (!(e instanceof UsageError)) throw e
      throw nothing(a, `no category, application or space has that name, and it is no path under HOME (${home})`)
    }
    const source = sources.find((s) => name === s.label || name.startsWith(s.label + '/'))
    if (!source) throw nothing(a, 'no space of this computer has that name')
    // A local path must be one a source collects; planName falls back to settings for any path.
    const rel = name.slice(source.label.length + 1)
    const local = !sources.some((s) => a.replace(/\/+$/, '') === s.label || a.startsWith(s.label + '/'))
    if (local && !collected(sources, rel)) throw nothing(a, 'this computer does not collect that path')
    out.push(name)
  }
  return out
}

/** Whether `only` (plan-name prefixes) asks for anything of the source `s`. */
export function onlyTouches(only: readonly string[] | undefined, s: SpaceSource): boolean {
  return !only || only.some((p) => p === s.label || p.startsWith(s.label + '/') || s.label.startsWith(p + '/'))
}
