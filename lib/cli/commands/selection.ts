/** `cloudy selection`, `cloudy add`, `cloudy remove`: what the whole chain collects. */
import { isAbsolute, resolve } from 'node:path'
import { loadCatalog } from '../../catalog/catalog.js'
import { CATEGORIES } from '../../catalog/entry.js'
import { GlobError, globToRegExp } from '../../catalog/glob.js'
import { EXIT, UsageError } from '../../errors.js'
import { expandHome } from '../../paths.js'
import { changeSelection, loadSelectionMap } from '../../selection/records.js'
import { policyOf, retentionChanges, retentionPolicies, retentionScope, type RetentionScope } from '../../selection/retention.js'
import { parseSchedule, scheduleCategory, scheduleChanges } from '../../selection/schedule.js'
import { readSelection, type SelectionMap } from '../../selection/selection.js'
import { underHome } from '../../sources/sources.js'
import { DEFAULT_POLICY, formatPolicy, isEmptyPolicy, parsePolicy, type RetentionPolicy } from '../../sync/retention.js'
import { openSession, type Session } from '../context.js'
import type { CliIo } from '../io.js'
import { join } from 'node:path'

export interface SelectionArgs {
  passwordFile?: string
  json?: boolean
}

export interface ChangeArgs extends SelectionArgs {
  targets: string[]
  /** The targets are patterns to leave out (add) or stop leaving out (remove). */
  exclude?: boolean
  /** The targets are secret stores to carry (add) or hold back again (remove). */
  secret?: boolean
}

/** A path argument as the selection keeps it: `~/…`, or exit 2 when it is not under HOME. */
export function homePath(arg: string, home: string): string {
  const abs = arg.startsWith('~') ? expandHome(arg, home) : isAbsolute(arg) ? arg : resolve(process.cwd(), arg)
  const rel = underHome(home, abs)
  if (rel === undefined || rel === '')
    throw new UsageError(`${arg}: not a path under HOME (${home}); the selection holds files and folders of the home folder`)
  return `~/${rel}`
}

/** A pattern argument, checked: exit 2 naming what is wrong with it. */
function pattern(arg: string, home: string): string {
  if (arg.startsWith('~') || arg.startsWith('/')) return homePath(arg, home)
  try {
    globToRegExp(arg)
  } catch (e) {
    if (e instanceof GlobError) throw new UsageError(`--exclude: ${e.message}`)
    throw e
  }
  return arg
}

/** The selection changes `add` (or `remove`) of `args.targets` make. */
function changesFor(s: Session, args: ChangeArgs, add: boolean, map: SelectionMap): Record<string, boolean> {
  const catalog = loadCatalog(join(s.paths.configDir, 'catalog'))
  const out: Record<string, boolean> = {}
  for (const t of args.targets) {
    if (args.exclude) out[`exclude:${pattern(t, s.paths.home)}`] = add
    // A secret store of the computer's settings is named as it is (system.toml: under /etc).
    else if (args.secret) out[`secret:${t.startsWith('/etc/') ? t.replace(/\/+$/, '') : homePath(t, s.paths.home)}`] = add
    else if ((CATEGORIES as readonly string[]).includes(t)) out[`category:${t}`] = add
    else if (catalog.byId.has(t)) out[`app:${t}`] = add
    else if (!t.includes('/') && !t.startsWith('~') && !t.startsWith('.'))
      throw new UsageError(
        `${t}: no category, catalog application or path of that name; categories: ${CATEGORIES.join(', ')}; applications: "cloudy apps list"; a path starts with ~/, / or ./`,
      )
    else {
      const p = homePath(t, s.paths.home)
      if (add) {
        out[`include:${p}`] = true
        if (map[`exclude:${p}`]?.v) out[`exclude:${p}`] = false
      } else {
        if (map[`include:${p}`]?.v) out[`include:${p}`] = false
        // Left out from now on: what computers received of it stays as it is, and is not sent.
        out[`exclude:${p}`] = true
      }
    }
  }
  return out
}

export async function change(io: CliIo, args: ChangeArgs, add: boolean): Promise<number> {
  const s = await openSession(io, args)
  try {
    const changes = changesFor(s, args, add, await loadSelectionMap(s.vault, s.db))
    await changeSelection(s.vault, s.db, s.device.id, changes)
    if (args.json) io.stdout.write(JSON.stringify({ changed: changes }) + '\n')
    else {
      for (const [k, v] of Object.entries(changes)) io.stdout.write(`${describe(k, v)}\n`)
      io.stdout.write('Every computer of the chain follows from its next sync.\n')
    }
    return EXIT.OK
  } finally {
    await s.close()
  }
}

function describe(key: string, on: boolean): string {
  const [kind, ...rest] = key.split(':')
  const what = rest.join(':')
  switch (kind) {
    case 'category':
      return `category ${what}: ${on ? 'collected' : 'not collected'}`
    case 'app':
      return `application ${what}: ${on ? 'collected' : 'not collected'}`
    case 'include':
      return `${what}: ${on ? 'collected (settings)' : 'no longer collected'}`
    case 'exclude':
      return `${what}: ${on ? 'left out' : 'no longer left out'}`
    case 'secret':
      return `${what}: ${on ? 'carried, though it holds secrets' : 'held back as a secret'}`
    default:
      return `${key}: ${on}`
  }
}

export async function showSelection(io: CliIo, args: SelectionArgs): Promise<number> {
  const s = await openSession(io, args)
  try {
    const map = await loadSelectionMap(s.vault, s.db)
    const sel = readSelection(map)
    const apps = Object.fromEntries([...sel.apps].sort(([a], [b]) => a.localeCompare(b)))
    if (args.json) {
      io.stdout.write(
        JSON.stringify({
          categories: sel.categories,
          autoApps: sel.autoApps,
          apps,
          include: sel.include,
          exclude: sel.exclude,
          secrets: sel.secrets,
          here: s.config.here,
        }) + '\n',
      )
      return EXIT.OK
    }
    const lines = [
      `categories: ${CATEGORIES.map((c) => `${c} ${sel.categories[c] ? 'on' : 'off'}`).join(', ')}`,
      `applications found on a computer join the selection: ${sel.autoApps ? 'yes' : 'no'}`,
      `applications: ${
        Object.entries(apps)
          .map(([id, on]) => (on ? id : `${id} (off)`))
          .join(', ') || 'none yet'
      }`,
      `paths: ${sel.include.join(', ') || 'none'}`,
      `left out: ${sel.exclude.join(', ') || 'nothing'}`,
      `secrets carried: ${sel.secrets.join(', ') || 'none'}`,
      `this computer alone (${s.paths.configFile} [here]): include ${s.config.here.include.join(', ') || 'nothing'}; skip ${s.config.here.skip.join(', ') || 'nothing'}`,
    ]
    io.stdout.write(lines.join('\n') + '\n')
    return EXIT.OK
  } finally {
    await s.close()
  }
}

/**
 * `cloudy schedule [category] [when]`: set when the service up-syncs a category, for the whole
 * chain; with a category alone or nothing, say what is set.
 */
export async function schedule(io: CliIo, args: SelectionArgs & { category?: string; when?: string }): Promise<number> {
  // Checked before the password is asked for.
  const category = args.category === undefined ? undefined : scheduleCategory(args.category)
  if (args.when !== undefined) parseSchedule(args.when)
  const s = await openSession(io, args)
  try {
    const map = await loadSelectionMap(s.vault, s.db)
    if (category && args.when !== undefined) {
      const changes = scheduleChanges(category, args.when, map)
      await changeSelection(s.vault, s.db, s.device.id, changes)
      if (args.json) io.stdout.write(JSON.stringify({ category, when: args.when.trim() }) + '\n')
      else io.stdout.write(`${category}: up-synced ${args.when.trim()}; every computer's service follows.\n`)
      return EXIT.OK
    }
    const schedules = readSelection(map).schedules
    const shown = category ? { [category]: schedules[category] } : schedules
    if (args.json) io.stdout.write(JSON.stringify(shown) + '\n')
    else for (const [c, when] of Object.entries(shown)) io.stdout.write(`${c}: ${when}\n`)
    return EXIT.OK
  } finally {
    await s.close()
  }
}

/** The --keep-* options given, as a policy; undefined when none was. A usage error names a wrong one. */
export function keepPolicy(keep: Record<string, string>): RetentionPolicy | undefined {
  const parts = Object.entries(keep)
  if (parts.length === 0) return undefined
  const policy = parsePolicy(parts.map(([rule, v]) => `${rule}=${v}`).join(','))
  if (isEmptyPolicy(policy))
    throw new UsageError('every --keep-* given is 0: such a policy would keep nothing but the heads; give a count, or use --inherit')
  return policy
}

/**
 * `cloudy retention [scope] [--keep-* …] [--inherit]`: set which commits `forget` keeps in a
 * category or an application's spaces, for the whole chain; with a scope alone or nothing, say
 * what is set (and what each scope follows).
 */
export async function retention(
  io: CliIo,
  args: SelectionArgs & { scope?: string; keep: Record<string, string>; inherit?: boolean },
): Promise<number> {
  // Checked before the password is asked for.
  const scope = args.scope === undefined ? undefined : retentionScope(args.scope)
  const policy = keepPolicy(args.keep)
  if ((policy || args.inherit) && !scope)
    throw new UsageError('name the scope to set: a category (settings, apps, system, inventory) or app:<id>')
  if (policy && args.inherit) throw new UsageError('--inherit drops the policy --keep-* would set: give one or the other')
  const s = await openSession(io, args)
  try {
    const map = await loadSelectionMap(s.vault, s.db)
    if (scope && (policy || args.inherit)) {
      await changeSelection(s.vault, s.db, s.device.id, retentionChanges(scope, policy, map))
      const now = await loadSelectionMap(s.vault, s.db)
      const shown = shownPolicy(now, scope)
      if (args.json) io.stdout.write(JSON.stringify({ scope, ...shown }) + '\n')
      else io.stdout.write(`${scope}: keeps ${shown.policy}${shown.from ? ` (${shown.from})` : ''}; forget on every computer follows.\n`)
      return EXIT.OK
    }
    const scopes: RetentionScope[] = scope
      ? [scope]
      : [...CATEGORIES, ...[...retentionPolicies(map).keys()].filter((k) => k.startsWith('app:')).sort()]
    const shown = scopes.map((sc) => ({ scope: sc, ...shownPolicy(map, sc) }))
    if (args.json) io.stdout.write(JSON.stringify(shown) + '\n')
    else for (const x of shown) io.stdout.write(`${x.scope}: ${x.policy}${x.from ? ` (${x.from})` : ''}\n`)
    return EXIT.OK
  } finally {
    await s.close()
  }
}

/** A scope's policy as written, and where it comes from when it is not its own. */
function shownPolicy(map: SelectionMap, scope: RetentionScope): { policy: string; from?: string } {
  const own = retentionPolicies(map).get(scope)
  if (own) return { policy: formatPolicy(own) }
  // An application's scope follows apps; a category without one, the default.
  const inherited = scope.startsWith('app:') ? policyOf(map, `app/${scope.slice(4)}`) : undefined
  if (inherited?.scope) return { policy: formatPolicy(inherited.policy), from: `as ${inherited.scope}` }
  return { policy: formatPolicy(DEFAULT_POLICY), from: 'the default' }
}
