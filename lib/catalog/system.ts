/**
 * The catalog of computer settings (`lib/catalog/system.toml`, docs/CATALOG.md "Computer
 * settings"): the files under /etc the `system` category carries, which of them hold secrets,
 * and what never travels because it names this computer (machine id, host name, disks, users,
 * SSH host keys). Checked like an application entry: a mistake names the file and the field.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { ConfigError } from '../errors.js'
import { checkField, lineOf, parseToml, suggest } from '../toml-file.js'
import { shippedCatalogDir } from './catalog.js'

export interface SystemCatalog {
  /** Absolute paths under /etc. */
  paths: string[]
  secrets: string[]
  never: string[]
  file: string
}

const FIELDS = ['paths', 'secrets', 'never'] as const

const inside = (p: string, folder: string) => p === folder || p.startsWith(folder + '/')

export function parseSystemCatalog(text: string, file: string): SystemCatalog {
  const raw = parseToml(text, file)
  const out: SystemCatalog = { paths: [], secrets: [], never: [], file }
  for (const [key, v] of Object.entries(raw)) {
    const where = { file, line: lineOf(text, '', key), key }
    if (!(FIELDS as readonly string[]).includes(key))
      throw new ConfigError(`unknown field ${key}${suggest(key, [...FIELDS])}; fields: ${FIELDS.join(', ')}`, where)
    checkField(v, 'string[]', key, where, '"/etc/hosts"')
    for (const p of v as string[])
      if (!p.startsWith('/etc/') || p.split('/').some((part, i) => i > 0 && (part === '' || part === '.' || part === '..')))
        throw new ConfigError(`${key}: "${p}" must be a plain path under /etc`, where)
    out[key as (typeof FIELDS)[number]] = v as string[]
  }
  for (const p of out.paths) {
    const never = out.never.find((n) => inside(p, n))
    if (never)
      throw new ConfigError(`paths: "${p}" lies in "${never}", which never travels (it names this computer)`, {
        file,
        line: lineOf(text, '', 'paths'),
        key: 'paths',
      })
  }
  return out
}

export function loadSystemCatalog(dir = join(shippedCatalogDir(), '..')): SystemCatalog {
  const file = join(dir, 'system.toml')
  return parseSystemCatalog(readFileSync(file, 'utf8'), file)
}
