/**
 * Provider URLs (DESIGN.md): `/abs/path` or `local:/abs/path`; `memory:NAME` (tests, one
 * process); `s3://…`, `sftp://…`, `dropbox:/…`, `gdrive:/…` come with their providers.
 */
import { isAbsolute, join } from 'node:path'
import { UsageError } from '../lib/errors.js'
import { local } from './local.js'
import { memory } from './memory.js'
import type { Provider } from './provider.js'

/** Options of `openProvider`. */
export interface OpenOptions {
  /** Folder of the vault inside the storage account. Default `Cloudy`. */
  root?: string
}

const shared = new Map<string, Provider>()

function localPath(url: string): string | undefined {
  const p = url.startsWith('local:') ? url.slice('local:'.length) : url
  return isAbsolute(p) ? p : undefined
}

function checkRoot(root: string): string {
  if (root.split('/').some((s) => s === '..') || root.startsWith('/')) {
    throw new UsageError(`--root: "${root}" must be a relative folder inside the storage account, without ".."`)
  }
  return root
}

export async function openProvider(url: string, options: OpenOptions = {}): Promise<Provider> {
  const root = checkRoot(options.root ?? 'Cloudy')
  const path = localPath(url)
  if (path !== undefined) return local({ root: join(path, root) })
  if (url.startsWith('memory:')) {
    const key = `${url}/${root}`
    let p = shared.get(key)
    if (!p) shared.set(key, (p = memory(key.slice('memory:'.length))))
    return p
  }
  const scheme = /^([a-z0-9]+):/.exec(url)?.[1]
  if (scheme && ['s3', 'sftp', 'dropbox', 'gdrive'].includes(scheme)) {
    throw new UsageError(
      `--provider ${describeProvider(url)}: the ${scheme} provider is not available in this build yet; use a local folder`,
    )
  }
  throw new UsageError(
    `--provider "${describeProvider(url)}" is not a provider URL; use /abs/path or local:/abs/path ` +
      '(s3://bucket/prefix, sftp://user@host:port/path, dropbox:/path and gdrive:/path come later)',
  )
}

/** A form of the URL fit for messages: no password, no query secrets. */
export function describeProvider(url: string): string {
  return url.replace(/\/\/([^/@:]+):[^/@]*@/, '//$1:***@').replace(/\?.*$/, (q) => (q.length > 1 ? '?…' : ''))
}

/** The folder on this computer that holds the vault, for a local provider; else undefined. */
export function providerFolder(url: string, root = 'Cloudy'): string | undefined {
  const p = localPath(url)
  return p === undefined ? undefined : join(p, root)
}
