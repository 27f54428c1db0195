/**
 * /etc/hosts without what names this computer (docs/CATALOG.md, "Computer settings"). Debian
 * writes the computer's own name into /etc/hosts (`127.0.1.1 laptop`); carried as it is, that
 * line would name the wrong computer everywhere else (`sudo: unable to resolve host desktop`).
 * So the `system` space carries `/etc/cloudy/hosts`: /etc/hosts minus the loopback lines that
 * name this computer, written before each sync (the way dconf settings are staged as text), and
 * after a down-sync wrote it, /etc/hosts is rebuilt from it with this computer's own lines put
 * back. cloud-init keeps /etc/hosts from a template in /etc the same way.
 */
import { readFileSync, statSync, utimesSync } from 'node:fs'
import { hostname } from 'node:os'
import { join } from 'node:path'
import { readTextIfAny, writeFileAtomic } from '../fs/atomic-file.js'
import type { SyncWarning } from '../sync/warnings.js'

/** Relative to the system root, as the `system` space names them. */
export const HOSTS = 'etc/hosts'
export const SHARED_HOSTS = 'etc/cloudy/hosts'

/** This computer's name, from the system root's /etc/hostname, else the kernel's. */
function hostNames(root: string): string[] {
  const name = (readTextIfAny(join(root, 'etc/hostname'))?.trim() || hostname()).toLowerCase()
  return [name, name.split('.')[0]!]
}

/** Whether a hosts line names this computer: a loopback address for one of its names, or Debian's 127.0.1.1. */
export function namesThisComputer(line: string, names: readonly string[]): boolean {
  const [addr, ...aliases] = line.replace(/#.*/, '').trim().split(/\s+/)
  if (!addr) return false
  if (addr === '127.0.1.1') return true
  const loopback = addr.startsWith('127.') || addr === '::1'
  return loopback && aliases.some((a) => names.includes(a.toLowerCase()))
}

/** `text` without the lines that name this computer, and those lines. */
export function splitHosts(text: string, names: readonly string[]): { shared: string; own: string[] } {
  const shared: string[] = []
  const own: string[] = []
  const lines = text.split('\n')
  const last = lines.pop()! // '' after a final newline
  for (const line of lines) (namesThisComputer(line, names) ? own : shared).push(line)
  if (last) (namesThisComputer(last, names) ? own : shared).push(last)
  return { shared: shared.map((l) => l + '\n').join(''), own }
}

/** The chain's hosts lines with `own` put back after the loopback lines they open with. */
export function joinHosts(shared: string, own: readonly string[]): string {
  const lines = shared.split('\n')
  let at = 0
  while (at < lines.length && /^\s*(127\.|::1\s)/.test(lines[at]!)) at++
  lines.splice(at, 0, ...own)
  return lines.join('\n')
}

/**
 * Write /etc/cloudy/hosts from /etc/hosts when it differs, dated when /etc/hosts last changed
 * (of two computers' texts in conflict, the one changed last keeps the name, as for any file).
 */
export async function stageHosts(root: string): Promise<SyncWarning[]> {
  const hosts = join(root, HOSTS)
  const text = readTextIfAny(hosts)
  if (text === undefined) return []
  const { shared } = splitHosts(text, hostNames(root))
  const file = join(root, SHARED_HOSTS)
  if (readTextIfAny(file) === shared) return []
  try {
    await writeFileAtomic(file, shared, 0o644, 0o755)
    const changed = statSync(hosts).mtime
    utimesSync(file, changed, changed)
    return []
  } catch (e) {
    return [warning(`/etc/hosts not collected: /etc/cloudy/hosts could not be written`, e)]
  }
}

function warning(what: string, e: unknown): SyncWarning {
  const err = e as NodeJS.ErrnoException
  return { code: 'EHOSTS', path: SHARED_HOSTS, message: `${what}: ${err.code ? `${err.code} ` : ''}${err.message}` }
}

/**
 * Rebuild /etc/hosts from /etc/cloudy/hosts after a down-sync wrote it (`written`: paths
 * relative to the root), with this computer's own lines kept. A failure is a warning: the
 * chain's text stays in /etc/cloudy/hosts and the next down-sync tries again.
 */
export async function applyHosts(root: string, written: ReadonlySet<string>): Promise<SyncWarning[]> {
  if (!written.has(SHARED_HOSTS)) return []
  try {
    const shared = readFileSync(join(root, SHARED_HOSTS), 'utf8')
    const { own } = splitHosts(readTextIfAny(join(root, HOSTS)) ?? '', hostNames(root))
    await writeFileAtomic(join(root, HOSTS), joinHosts(shared, own), 0o644)
    // Dated as the text it came from: the next stage finds nothing new to send.
    const changed = statSync(join(root, SHARED_HOSTS)).mtime
    utimesSync(join(root, HOSTS), changed, changed)
    return []
  } catch (e) {
    return [warning("/etc/hosts not rebuilt from the chain's /etc/cloudy/hosts (applied by the next down-sync)", e)]
  }
}
