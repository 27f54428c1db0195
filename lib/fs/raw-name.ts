/**
 * File names that are not valid UTF-8 (Linux names are bytes): carried as JavaScript strings
 * without loss, the way Python's "surrogateescape" does. Each byte that is not part of valid
 * UTF-8 (0x80-0xFF) becomes the lone surrogate U+DC80-U+DCFF; valid UTF-8 cannot produce one, so
 * the mapping goes back exactly. Trees keep such names (JSON.stringify writes lone surrogates as
 * \udcXX escapes). Every file system call on a path that holds one must get the bytes: `fsPath`.
 */
import { readdir } from 'node:fs/promises'
import { readdirSync } from 'node:fs'
import { join } from 'node:path'

const LONE_LOW = /[\udc80-\udcff]/
const REPLACEMENT = '\ufffd'
const strict = new TextDecoder('utf-8', { fatal: true })

/** True if `s` carries raw bytes (a name that is not valid UTF-8). */
export function hasRawBytes(s: string): boolean {
  return LONE_LOW.test(s)
}

/** The name's bytes as a string: valid UTF-8 as is, every other byte as U+DC80+byte. */
export function decodeName(bytes: Uint8Array): string {
  try {
    return strict.decode(bytes)
  } catch {
    // Invalid somewhere: decode piece by piece, the longest valid run at a time.
  }
  let out = ''
  let i = 0
  while (i < bytes.length) {
    const n = validSequence(bytes, i)
    if (n === 0) {
      out += String.fromCharCode(0xdc00 + bytes[i]!)
      i++
    } else {
      out += strict.decode(bytes.subarray(i, i + n))
      i += n
    }
  }
  return out
}

/** The length of the valid UTF-8 sequence starting at `i`, or 0 if none starts there. */
function validSequence(b: Uint8Array, i: number): number {
  const c = b[i]!
  if (c < 0x80) return 1
  const len = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0
  if (len === 0 || i + len > b.length) return 0
  for (let k = 1; k < len; k++) if ((b[i + k]! & 0xc0) !== 0x80) return 0
  // Overlong forms, surrogates and code points past U+10FFFF are not valid UTF-8 either.
  const c1 = b[i + 1]!
  if (c === 0xe0 && c1 < 0xa0) return 0
  if (c === 0xed && c1 >= 0xa0) return 0
  if (c === 0xf0 && c1 < 0x90) return 0
  if (c === 0xf4 && c1 >= 0x90) return 0
  return len
}

/** The bytes of a name or path that `decodeName` made (the inverse of it). */
export function encodeName(s: string): Buffer {
  if (!hasRawBytes(s)) return Buffer.from(s, 'utf8')
  const parts: Buffer[] = []
  let run = ''
  for (const ch of s) {
    const code = ch.charCodeAt(0)
    if (ch.length === 1 && code >= 0xdc80 && code <= 0xdcff) {
      if (run) parts.push(Buffer.from(run, 'utf8'))
      run = ''
      parts.push(Buffer.of(code - 0xdc00))
    } else run += ch
  }
  if (run) parts.push(Buffer.from(run, 'utf8'))
  return Buffer.concat(parts)
}

/**
 * The path to give a file system call: the string itself, or its bytes when it carries raw
 * bytes (a string would be written as UTF-8, turning each of them into U+FFFD).
 */
export function fsPath(path: string): string | Buffer
export function fsPath(home: string, rel: string): string | Buffer
export function fsPath(a: string, rel?: string): string | Buffer {
  const p = rel === undefined ? a : join(a, rel)
  return hasRawBytes(p) ? encodeName(p) : p
}

/** A name or path for messages: raw bytes written as \xNN, the rest as it is. */
export function shownName(s: string): string {
  return hasRawBytes(s) ? s.replace(/[\udc80-\udcff]/g, (c) => `\\x${(c.charCodeAt(0) - 0xdc00).toString(16)}`) : s
}

/**
 * The names in a folder, raw bytes carried. Listed as UTF-8 first (the cheap way); only a folder
 * whose listing shows U+FFFD, which is where invalid bytes went, is listed again as bytes.
 */
export async function listNames(dir: string): Promise<string[]> {
  const names = await readdir(fsPath(dir), 'utf8')
  if (!names.some((n) => n.includes(REPLACEMENT))) return names
  return (await readdir(fsPath(dir), 'buffer')).map(decodeName)
}

/** `listNames`, synchronous. */
export function listNamesSync(dir: string): string[] {
  const names = readdirSync(fsPath(dir), 'utf8')
  if (!names.some((n) => n.includes(REPLACEMENT))) return names
  return readdirSync(fsPath(dir), 'buffer').map(decodeName)
}

/**
 * The key of a path in the state database's file cache. SQLite stores text as UTF-8 and
 * would turn raw bytes into U+FFFD (two names, one key): such a path is keyed by its bytes in
 * hex behind a NUL, which no real path holds.
 */
export function cacheKey(rel: string): string {
  return hasRawBytes(rel) ? `\0${encodeName(rel).toString('hex')}` : rel
}
