/**
 * One application of the catalog (docs/CATALOG.md): a small TOML file `<id>.toml` saying how to
 * tell that the application is installed here, which of its files are worth carrying to the
 * user's other computers, which never (caches, locks, secrets), and which processes mean it is
 * running. `ENTRY_SCHEMA` is the schema; `parseEntry` checks a file against it and names the
 * file, line and field of the first mistake (exit 2).
 */
import { APP_ID } from '../apps/app-spaces.js'
import { ConfigError } from '../errors.js'
import { checkField, lineOf, parseToml, suggest, type FieldKind } from '../toml-file.js'
import { GlobError, globToRegExp } from './glob.js'

export const CATEGORIES = ['settings', 'apps', 'system', 'inventory'] as const
export type Category = (typeof CATEGORIES)[number]

export interface Detect {
  /** Executables looked for on PATH. */
  commands: string[]
  /** Desktop entry file names (`org.gnome.Terminal.desktop`) in the XDG data folders. */
  desktop: string[]
  /** Flatpak application ids, installed for the user or the system. */
  flatpak: string[]
  /** Debian packages installed (the dpkg database). */
  debian: string[]
  /** Snap package names. */
  snap: string[]
  /** Paths (catalog path form) whose existence means the application was used here. */
  paths: string[]
}

export interface CatalogEntry {
  /** The file name without `.toml`; also the application space's id (`app/<id>`). */
  id: string
  name: string
  /** `settings` for the user's environment (shells, desktop, tools' configuration), `apps` for applications. */
  category: 'settings' | 'apps'
  detect: Detect
  /** Files and folders of settings (catalog path form). */
  settings: string[]
  /** Files and folders of application data worth carrying (catalog path form). */
  data: string[]
  /** Patterns left out: caches, locks, sockets, crash dumps, session files, logs. */
  exclude: string[]
  /** Patterns that hold secrets: never collected unless the user opts in for that path. */
  secrets: string[]
  /** Process names that mean the application is running. */
  processes: string[]
  /** dconf folders (`/org/gnome/terminal/`) carried as `dconf dump` text. */
  dconf: string[]
  /** Where the entry was read from. */
  file: string
}

/** The schema of an entry file: every field, its kind and whether it must be there. */
export const ENTRY_SCHEMA = {
  name: { kind: 'string', required: true, example: '"Git"' },
  category: { kind: 'string', required: true, example: '"settings"' },
  settings: { kind: 'string[]', required: false, example: '"$XDG_CONFIG_HOME/git"' },
  data: { kind: 'string[]', required: false, example: '"$XDG_DATA_HOME/app"' },
  exclude: { kind: 'string[]', required: false, example: '"*.lock"' },
  secrets: { kind: 'string[]', required: false, example: '"~/.git-credentials"' },
  processes: { kind: 'string[]', required: false, example: '"code"' },
  dconf: { kind: 'string[]', required: false, example: '"/org/gnome/terminal/"' },
  detect: {
    kind: 'table',
    required: true,
    example: '[detect] commands = ["git"]',
    fields: {
      commands: { kind: 'string[]', example: '"git"' },
      desktop: { kind: 'string[]', example: '"code.desktop"' },
      flatpak: { kind: 'string[]', example: '"org.mozilla.firefox"' },
      debian: { kind: 'string[]', example: '"git"' },
      snap: { kind: 'string[]', example: '"code"' },
      paths: { kind: 'string[]', example: '"$XDG_CONFIG_HOME/git"' },
    },
  },
} as const

/**
 * The roots a catalog path may start with, each relative to HOME unless the variable is set:
 * an entry names paths the way the application's own documentation does.
 */
export const PATH_ROOTS = {
  '~': '',
  $XDG_CONFIG_HOME: '.config',
  $XDG_DATA_HOME: '.local/share',
  $XDG_STATE_HOME: '.local/state',
} as const

const ROOT_RE = /^(~|\$XDG_CONFIG_HOME|\$XDG_DATA_HOME|\$XDG_STATE_HOME)\/(.+)$/

/** Whether `p` is written in catalog path form (`~/…` or `$XDG_…_HOME/…`). */
export function isCatalogPath(p: string): boolean {
  return ROOT_RE.test(p)
}

/**
 * The HOME-relative form of catalog path `p` with this environment's XDG variables; undefined
 * when the variable points outside HOME (such a file cannot be carried relative to HOME).
 */
export function homeRelativeOf(p: string, home: string, env: NodeJS.ProcessEnv): string | undefined {
  const m = ROOT_RE.exec(p)
  if (!m) return undefined
  const root = m[1] as keyof typeof PATH_ROOTS
  const set = root === '~' ? undefined : env[root.slice(1)]
  let base: string = PATH_ROOTS[root]
  if (set) {
    if (set === home) base = ''
    else if (set.startsWith(home + '/')) base = set.slice(home.length + 1)
    else return undefined
  }
  return base ? `${base}/${m[2]!}` : m[2]!
}

function fail(message: string, file: string, text: string, table: string, key: string): never {
  throw new ConfigError(message, { file, line: lineOf(text, table, key) ?? lineOf(text, '', key), key: table ? `${table}.${key}` : key })
}

/** Check a path list (no patterns): catalog path form, no `.` or `..` parts. */
function checkPaths(list: string[], field: string, file: string, text: string, table = ''): void {
  for (const p of list) {
    if (!isCatalogPath(p))
      fail(
        `${field}: "${p}" must start with ~/ or $XDG_CONFIG_HOME/, $XDG_DATA_HOME/, $XDG_STATE_HOME/ (a path under HOME)`,
        file,
        text,
        table,
        field.split('.').pop()!,
      )
    if (p.split('/').some((part) => part === '..' || part === '.' || part === ''))
      fail(`${field}: "${p}" has an empty, "." or ".." part; write the path plainly`, file, text, table, field.split('.').pop()!)
    if (/[*?[\]]/.test(p))
      fail(`${field}: "${p}" is a pattern; only exclude and secrets take patterns`, file, text, table, field.split('.').pop()!)
  }
}

/** Check a pattern list: a catalog path (which may hold patterns) or a name pattern. */
function checkPatterns(list: string[], field: string, file: string, text: string): void {
  for (const p of list) {
    if (p.startsWith('~') || p.startsWith('$')) {
      if (!isCatalogPath(p))
        fail(`${field}: "${p}" must start with ~/ or one of $XDG_CONFIG_HOME/, $XDG_DATA_HOME/, $XDG_STATE_HOME/`, file, text, '', field)
    }
    try {
      globToRegExp(p.startsWith('~') || p.startsWith('$') ? p.slice(p.indexOf('/') + 1) : p)
    } catch (e) {
      if (e instanceof GlobError) fail(`${field}: ${e.message}`, file, text, '', field)
      throw e
    }
  }
}

const WORD = /^[A-Za-z0-9][A-Za-z0-9._+-]*$/

/** Parse and check the entry `id` from `text` (read from `file`). */
export function parseEntry(id: string, text: string, file: string): CatalogEntry {
  if (!APP_ID.test(id)) throw new ConfigError(`"${id}" is no valid application id: use letters, digits, ".", "_" and "-"`, { file })
  const raw = parseToml(text, file)
  const entry: CatalogEntry = {
    id,
    name: '',
    category: 'apps',
    detect: { commands: [], desktop: [], flatpak: [], debian: [], snap: [], paths: [] },
    settings: [],
    data: [],
    exclude: [],
    secrets: [],
    processes: [],
    dconf: [],
    file,
  }
  const fields = Object.keys(ENTRY_SCHEMA)
  for (const [key, v] of Object.entries(raw)) {
    const spec = (ENTRY_SCHEMA as unknown as Record<string, { kind: string; example: string }>)[key]
    const where = { file, line: lineOf(text, '', key), key }
    if (!spec) throw new ConfigError(`unknown field ${key}${suggest(key, fields)}; fields: ${fields.join(', ')}`, where)
    if (spec.kind === 'table') {
      if (typeof v !== 'object' || v === null || Array.isArray(v))
        throw new ConfigError(`${key} must be a table ([${key}]) of lists, e.g. commands = ["git"]`, where)
      const sub = ENTRY_SCHEMA.detect.fields as Record<string, { kind: FieldKind; example: string }>
      for (const [k, x] of Object.entries(v)) {
        const w = { file, line: lineOf(text, key, k) ?? lineOf(text, '', `${key}.${k}`), key: `${key}.${k}` }
        if (!sub[k])
          throw new ConfigError(`unknown field ${key}.${k}${suggest(k, Object.keys(sub))}; fields: ${Object.keys(sub).join(', ')}`, w)
        checkField(x, sub[k].kind, `${key}.${k}`, w, sub[k].example)
        entry.detect[k as keyof Detect] = x as string[]
      }
      continue
    }
    checkField(v, spec.kind as FieldKind, key, where, spec.example)
    ;(entry as unknown as Record<string, unknown>)[key] = v
  }
  for (const [key, spec] of Object.entries(ENTRY_SCHEMA))
    if (spec.required && !(key in raw))
      throw new ConfigError(`the field ${key} is missing (e.g. ${key === 'detect' ? spec.example : `${key} = ${spec.example}`})`, {
        file,
        key,
      })
  if (!entry.name.trim()) fail('name must not be empty', file, text, '', 'name')
  if (entry.category !== 'settings' && entry.category !== 'apps')
    fail(`category must be "settings" or "apps", found "${entry.category as string}"`, file, text, '', 'category')
  checkPaths(entry.settings, 'settings', file, text)
  checkPaths(entry.data, 'data', file, text)
  checkPaths(entry.detect.paths, 'detect.paths', file, text, 'detect')
  if (!entry.settings.length && !entry.data.length && !entry.dconf.length)
    throw new ConfigError('the entry collects nothing: give settings, data or dconf', { file, key: 'settings' })
  checkPatterns(entry.exclude, 'exclude', file, text)
  checkPatterns(entry.secrets, 'secrets', file, text)
  for (const d of entry.dconf)
    if (!/^(\/[A-Za-z0-9_.-]+)+\/$/.test(d))
      fail(`dconf: "${d}" must be a dconf folder such as "/org/gnome/terminal/"`, file, text, '', 'dconf')
  const words: [string, string[]][] = [
    ['processes', entry.processes],
    ['detect.commands', entry.detect.commands],
    ['detect.debian', entry.detect.debian],
    ['detect.snap', entry.detect.snap],
    ['detect.flatpak', entry.detect.flatpak],
  ]
  for (const [field, list] of words)
    for (const w of list)
      if (!WORD.test(w))
        fail(
          `${field}: "${w}" must be one plain name (no "/" or spaces)`,
          file,
          text,
          field.includes('.') ? 'detect' : '',
          field.split('.').pop()!,
        )
  for (const d of entry.detect.desktop)
    if (!/^[^/]+\.desktop$/.test(d))
      fail(`detect.desktop: "${d}" must be a desktop file name ending in .desktop`, file, text, 'detect', 'desktop')
  const d = entry.detect
  if (!d.commands.length && !d.desktop.length && !d.flatpak.length && !d.debian.length && !d.snap.length && !d.paths.length)
    throw new ConfigError(
      '[detect] names no way to tell the application is installed: give commands, desktop, flatpak, debian, snap or paths',
      {
        file,
        key: 'detect',
      },
    )
  return entry
}
