/**
 * config.toml: what is local to this computer — where the vault is, which device this is, and
 * the overrides the user asked for here alone (`[here]`). What the chain collects is chosen once
 * for every computer, in the vault (lib/selection/). Every key is checked where it enters; a
 * mistake is reported with the key and the line it stands on, since a typo must never silently
 * turn sync off.
 */
import { readFile } from 'node:fs/promises'
import { ConfigError } from './errors.js'
import { writeFileAtomic } from './fs/atomic-file.js'
import { checkField, lineOf, parseToml, suggest, typeName, type FieldKind } from './toml-file.js'

export { lineOf }

export interface Config {
  vault: {
    /** Provider URL of the vault (docs/ARCHITECTURE.md, "Provider URLs"). */
    provider?: string
    /** Folder of the vault inside the storage account. Default `Cloudy`. */
    root: string
  }
  device: {
    /** Random id of this computer+user in the chain; written by init/join. */
    id?: string
    /** Human name of this computer. Default: the host name. */
    name?: string
  }
  here: {
    /** Paths under HOME (`~/…` or absolute) this computer alone collects into the settings space. */
    include: string[]
    /**
     * What this computer keeps off itself (neither collected nor applied here): paths (`~/…`),
     * name patterns (`*.log`), catalog application ids and categories.
     */
    skip: string[]
  }
  sync: {
    /** Allow down-sync of commits made by another OS user name (paths are mapped to this HOME). Default false. */
    allow_username_mismatch: boolean
    /** How the service takes the chain's changes: at once (`realtime`, the default) or only when asked (`manual`). */
    down: 'realtime' | 'manual'
  }
  mount: {
    /** Where the service mounts the vault while unlocked (`~/…` or absolute); none by default. */
    dir?: string
  }
}

const SCHEMA: Record<string, Record<string, FieldKind>> = {
  vault: { provider: 'string', root: 'string' },
  device: { id: 'string', name: 'string' },
  here: { include: 'string[]', skip: 'string[]' },
  // The name of `[here]` before the selection moved into the vault: `include` stays this
  // computer's include, `exclude` becomes `skip`.
  settings: { include: 'string[]', exclude: 'string[]' },
  sync: { allow_username_mismatch: 'boolean', down: 'string' },
  mount: { dir: 'string' },
}

export function defaultConfig(): Config {
  return {
    vault: { root: 'Cloudy' },
    device: {},
    here: { include: [], skip: [] },
    sync: { allow_username_mismatch: false, down: 'realtime' },
    mount: {},
  }
}

/** Parse and check config text; `file` is named in errors. */
export function parseConfig(text: string, file: string): Config {
  const raw = parseToml(text, file)
  const config = defaultConfig()
  for (const [table, value] of Object.entries(raw)) {
    const schema = SCHEMA[table]
    if (!schema) {
      throw new ConfigError(`unknown section [${table}]${suggest(table, Object.keys(SCHEMA))}; known: ${Object.keys(SCHEMA).join(', ')}`, {
        file,
        line: lineOf(text, table) ?? lineOf(text, '', table),
        key: table,
      })
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new ConfigError(`${table} must be a table ([${table}]), found ${typeName(value)}`, {
        file,
        line: lineOf(text, '', table),
        key: table,
      })
    }
    for (const [key, v] of Object.entries(value)) {
      const where = { file, line: lineOf(text, table, key), key: `${table}.${key}` }
      const kind = schema[key]
      if (!kind) throw new ConfigError(`unknown key ${table}.${key}${suggest(key, Object.keys(schema))}`, where)
      checkField(v, kind, `${table}.${key}`, where)
      if (table === 'settings') {
        if (key === 'include') config.here.include.push(...(v as string[]))
        else config.here.skip.push(...(v as string[]))
        continue
      }
      ;(config as unknown as Record<string, Record<string, unknown>>)[table]![key] = v
    }
  }
  if (config.sync.down !== 'realtime' && config.sync.down !== 'manual')
    throw new ConfigError(`sync.down: "${String(config.sync.down)}" is not a way to take changes: write "realtime" or "manual"`, {
      file,
      line: lineOf(text, 'sync', 'down'),
      key: 'sync.down',
    })
  const dir = config.mount.dir
  if (dir !== undefined && !dir.startsWith('~/') && !dir.startsWith('/'))
    throw new ConfigError(`mount.dir: "${dir}" must be a folder written ~/… or as an absolute path`, {
      file,
      line: lineOf(text, 'mount', 'dir'),
      key: 'mount.dir',
    })
  const legacy = raw.settings !== undefined
  for (const p of config.here.include) {
    if (!p.startsWith('~/') && p !== '~' && !p.startsWith('/')) {
      const table = legacy ? 'settings' : 'here'
      throw new ConfigError(`${table}.include: "${p}" must start with ~/ (a path under HOME)`, {
        file,
        line: lineOf(text, table, 'include'),
        key: `${table}.include`,
      })
    }
  }
  return config
}

/** Load config.toml; `undefined` when it does not exist yet. */
export async function loadConfig(file: string): Promise<Config | undefined> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new ConfigError(`cannot read: ${(e as Error).message}`, { file })
  }
  return parseConfig(text, file)
}

const str = (s: string) => JSON.stringify(s)

export function renderConfig(c: Config): string {
  const list = (a: string[]) => (a.length ? `[\n${a.map((x) => `  ${str(x)},`).join('\n')}\n]` : '[]')
  return [
    '# Cloudy configuration. Paths under HOME are written ~/…',
    '',
    '# Where the encrypted vault lives (provider URL) and its folder there.',
    '[vault]',
    ...(c.vault.provider ? [`provider = ${str(c.vault.provider)}`] : []),
    `root = ${str(c.vault.root)}`,
    '',
    '# This computer in the synchronization chain.',
    '[device]',
    ...(c.device.id ? [`id = ${str(c.device.id)}`] : []),
    ...(c.device.name ? [`name = ${str(c.device.name)}`] : []),
    '',
    '# What is collected is chosen for the whole chain ("cloudy selection", "cloudy add PATH").',
    '# Here, for this computer alone: paths it collects besides (into the settings space), and',
    '# what it keeps off itself: paths (~/...), name patterns ("*.log"), application ids, categories.',
    '[here]',
    `include = ${list(c.here.include)}`,
    `skip = ${list(c.here.skip)}`,
    '',
    '[sync]',
    '# Allow down-sync of changes made by another OS user name (paths are mapped to this HOME).',
    `allow_username_mismatch = ${c.sync.allow_username_mismatch}`,
    '# How the service takes the changes other computers send: "realtime" (at once) or "manual".',
    `down = ${str(c.sync.down)}`,
    '',
    '[mount]',
    '# Where the service mounts the vault while it is unlocked (e.g. "~/Cloudy"); none when unset.',
    ...(c.mount.dir ? [`dir = ${str(c.mount.dir)}`] : []),
    '',
  ].join('\n')
}

/** Write config.toml atomically, mode 0600. */
export async function writeConfig(file: string, config: Config): Promise<void> {
  await writeFileAtomic(file, renderConfig(config))
}
