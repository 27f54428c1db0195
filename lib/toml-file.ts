/**
 * Reading a hand-written TOML file (config.toml, catalog entries): syntax errors and wrong
 * values are reported with the file, the line and the key, and a "did you mean" for a near miss,
 * since a typo must never silently turn something off.
 */
import { parse, TomlError } from 'smol-toml'
import { ConfigError } from './errors.js'

/** The line (1-based) where `table.key` is set in TOML `text`, if it can be found. */
export function lineOf(text: string, table: string, key?: string): number | undefined {
  const lines = text.split('\n')
  let current = ''
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!.trim()
    const header = /^\[\s*([A-Za-z0-9_.-]+)\s*\]/.exec(l)
    if (header) {
      current = header[1]!
      if (!key && current === table) return i + 1
      continue
    }
    const m = /^([A-Za-z0-9_."-]+)\s*=/.exec(l)
    if (!m || !key) continue
    const full = (current ? current + '.' : '') + m[1]!.replace(/"/g, '').trim()
    if (full === (table ? `${table}.${key}` : key)) return i + 1
  }
  return undefined
}

function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array(b.length).fill(0)] as number[])
  for (let j = 1; j <= b.length; j++) d[0]![j] = j
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++)
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1))
  return d[a.length]![b.length]!
}

export function suggest(word: string, choices: string[]): string {
  const best = choices.map((c) => [c, distance(word, c)] as const).sort((x, y) => x[1] - y[1])[0]
  return best && best[1] <= 3 ? ` (did you mean "${best[0]}"?)` : ''
}

export const typeName = (v: unknown) =>
  Array.isArray(v) ? 'an array' : v instanceof Date ? 'a date' : v === null ? 'null' : typeof v === 'object' ? 'a table' : `a ${typeof v}`

/** A value as a message names it: its type, and the value itself when it is short. */
export function found(v: unknown): string {
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return `the ${typeof v} ${String(v)}`
  if (typeof v === 'string') return v.length <= 40 ? `the string ${JSON.stringify(v)}` : 'a string'
  return typeName(v)
}

/** The TOML document in `text` as a plain object; a syntax error names `file`, line and column. */
export function parseToml(text: string, file: string): Record<string, unknown> {
  try {
    return parse(text) as Record<string, unknown>
  } catch (e) {
    if (e instanceof TomlError) {
      throw new ConfigError(`${e.message.split('\n')[0]!.replace(/^Invalid TOML document: /, '')} (TOML syntax, column ${e.column})`, {
        file,
        line: e.line,
      })
    }
    throw e
  }
}

export type FieldKind = 'string' | 'string[]' | 'boolean'

/**
 * `v`, the value of key `name` (`table.key` as the user wrote it), checked against `kind`;
 * `example` shows a good value in the message of a list.
 */
export function checkField(
  v: unknown,
  kind: FieldKind,
  name: string,
  where: { file: string; line?: number; key?: string },
  example = '"~/.bashrc"',
): void {
  const ok = kind === 'string[]' ? Array.isArray(v) : typeof v === kind
  if (!ok) {
    const expected = kind === 'string[]' ? `an array of strings, e.g. [${example}]` : `a ${kind}`
    throw new ConfigError(`${name} must be ${expected}, found ${found(v)}`, where)
  }
  // The element at fault, not the whole list.
  const bad = kind === 'string[]' ? (v as unknown[]).findIndex((x) => typeof x !== 'string') : -1
  if (bad >= 0) throw new ConfigError(`${name}[${bad}] must be a string, found ${found((v as unknown[])[bad])}`, where)
}
