/**
 * Provider URLs (docs/ARCHITECTURE.md, "Provider URLs"): `/abs/path` or `local:/abs/path`;
 * `memory:NAME` (tests, one process); `s3://bucket/prefix?endpoint=URL&region=R`;
 * `sftp://user@host:port/path`; `dropbox:/path`; `gdrive:/path`. Remote providers are loaded on
 * demand (their SDKs are large and most commands of a local vault never need them) and always
 * come wrapped in the retry policy.
 */
import { isAbsolute, join } from 'node:path'
import { CredentialStore } from '../lib/credentials.js'
import { UsageError } from '../lib/errors.js'
import { local } from './local.js'
import { memory } from './memory.js'
import type { Provider } from './provider.js'
import { withRetries, type RetryOptions } from './retry.js'

/** Options of `openProvider`. */
export interface OpenOptions {
  /** Folder of the vault inside the storage account. Default `Cloudy`. */
  root?: string
  /** This computer's credentials.toml; a remote provider needs it. */
  credentials?: CredentialStore
  /** The retry policy (tests make it quick). */
  retry?: RetryOptions
  /** Environment (the AWS SDK's credential chain, SSH_AUTH_SOCK). Default `process.env`. */
  env?: NodeJS.ProcessEnv
  /** Where a line for the person running Cloudy goes (the command line: stderr). Default: nowhere. */
  notice?: (line: string) => void
  /** Make the folder the URL names where it is missing (`init`); else a missing one is a wrong URL. */
  create?: boolean
}

/** What a remote provider's opener is given. */
export interface RemoteContext {
  /** Folder of the vault inside the storage account (already checked). */
  root: string
  credentials: CredentialStore
  env: NodeJS.ProcessEnv
  /** Make the folder the URL names where it is missing. */
  create?: boolean
}

/** A remote provider's module: parses its own URLs and connects. */
type Opener = (url: string, context: RemoteContext) => Promise<Provider>

const REMOTE: Record<string, () => Promise<Opener>> = {
  s3: async () => (await import('./s3.js')).openS3,
  sftp: async () => (await import('./sftp.js')).openSftp,
  dropbox: async () => (await import('./dropbox.js')).openDropbox,
  gdrive: async () => (await import('./gdrive.js')).openGdrive,
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
  const env = options.env ?? process.env
  const { provider, remote } = await connectProvider(url, { ...options, env })
  // Tests of the whole command line make the storage misbehave on purpose (providers/faulty.ts).
  if (env.CLOUDY_FAULT_INJECTION) {
    const { faulty, parseFaults } = await import('./faulty.js')
    const { faults, timeoutMs } = parseFaults(env.CLOUDY_FAULT_INJECTION)
    const injected = faulty(provider, faults)
    const wrapped = withRetries(injected, { ...options.retry, timeoutMs: timeoutMs ?? options.retry?.timeoutMs })
    // What was injected, for the test that asked: said once the command lets go of the provider.
    return {
      ...wrapped,
      async close() {
        options.notice?.(`cloudy: fault injection: ${JSON.stringify(injected.stats)}`)
        await wrapped.close()
      },
    }
  }
  // A local folder answers or fails for good: only remote providers are retried.
  return remote ? withRetries(provider, options.retry) : provider
}

/** The provider at `url` as it is, and whether it is reached over a network. */
async function connectProvider(
  url: string,
  options: OpenOptions & { env: NodeJS.ProcessEnv },
): Promise<{ provider: Provider; remote: boolean }> {
  const root = checkRoot(options.root ?? 'Cloudy')
  const path = localPath(url)
  if (path !== undefined) return { provider: local({ root: join(path, root) }), remote: false }
  if (url.startsWith('memory:')) {
    const key = `${url}/${root}`
    let p = shared.get(key)
    if (!p) shared.set(key, (p = memory(key.slice('memory:'.length))))
    return { provider: p, remote: false }
  }
  const scheme = /^([a-z0-9]+):/.exec(url)?.[1]
  const load = scheme ? REMOTE[scheme] : undefined
  if (!load) {
    throw new UsageError(
      `--provider "${describeProvider(url)}" is not a provider URL; use /abs/path or local:/abs/path, ` +
        's3://bucket/prefix?endpoint=URL&region=R, sftp://user@host:port/path, dropbox:/path or gdrive:/path',
    )
  }
  if (!options.credentials) throw new Error(`openProvider(${scheme}): the credential store is required`)
  const open = await load()
  return { provider: await open(url, { root, credentials: options.credentials, env: options.env, create: options.create }), remote: true }
}

/** The query parameters of a provider URL, refusing any not in `allowed`. */
export function urlParams(url: string, allowed: readonly string[]): Map<string, string> {
  const q = url.indexOf('?')
  const params = new URLSearchParams(q < 0 ? '' : url.slice(q + 1))
  const out = new Map<string, string>()
  for (const [k, v] of params) {
    if (!allowed.includes(k)) {
      throw new UsageError(
        `--provider ${describeProvider(url)}: unknown option "${k}"; ${allowed.length ? `known: ${allowed.join(', ')}` : 'it takes none'}`,
      )
    }
    out.set(k, v)
  }
  return out
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
