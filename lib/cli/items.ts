/** Items as the command line names them: plan names (`settings/…`) or local paths. */
import { isAbsolute, relative, resolve, sep } from 'node:path'
import { UsageError } from '../errors.js'

/**
 * A path argument as the plan names it: a plan name as it is (`settings/.gitconfig`); a local
 * path (absolute, or relative to the current folder) mapped through HOME.
 */
export function planName(arg: string, home: string, cwd = process.cwd()): string {
  const p = arg.replace(/\/+$/, '')
  if (p === 'settings' || p.startsWith('settings/')) return p
  const abs = isAbsolute(p) ? p : resolve(cwd, p)
  const rel = relative(home, abs)
  if (rel.startsWith('..') || isAbsolute(rel)) throw new UsageError(`${arg}: not under HOME (${home}), so no space holds it`)
  return rel ? `settings/${rel.split(sep).join('/')}` : 'settings'
}

/** The HOME-relative path of a `settings/…` plan name. */
export function settingsPath(item: string): string {
  return item === 'settings' ? '' : item.slice('settings/'.length)
}
