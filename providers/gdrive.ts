/**
 * The Google Drive provider: the vault is a folder of the user's My Drive, `gdrive:/path` →
 * `/path/<root>`, reached through the Drive API v3 (`@googleapis/drive`). Drive knows files by
 * id, not by path: keys map to nested folders and a file name, found by name and kept in a
 * bounded path → id cache that forgets an entry whenever Drive says the id is gone.
 *
 * Drive allows several files of one name in one folder and has no conditional create, so two
 * computers can make the same folder or file at once. Every such race settles the same way:
 * after creating, list the name again; the oldest (createdTime, then id) is the one; a newer one
 * of our own is deleted (a folder only while it is still empty). Readers always take the oldest
 * too, so all computers agree on which one counts.
 *
 * Puts up to `multipartLimit` (5 MiB, Drive's advice) are one multipart request; larger ones
 * use Drive's resumable protocol, implemented here (the client library has none): chunks of a
 * multiple of 256 KiB read from the body as they go, and a chunk whose connection breaks is
 * resumed from what the server says it holds. An overwrite replaces the content of the existing
 * file, so readers see the old or the new content, whole.
 *
 * Tokens come from the [gdrive] table of credentials.toml, put there by
 * `cloudy provider login gdrive` (OAuth 2 with PKCE, with the user's own OAuth client: Google
 * gives installed apps no shared one). The access token is refreshed when missing, about to
 * expire or refused, and written back for the next run. The scope is `drive.file`: Cloudy sees
 * only what it created, so every computer must log in with the same OAuth client.
 *
 * This module only says what a failure means (`TransientError` for what another try may cure,
 * `ProviderError` with a kind for the rest); the retry policy of `providers/retry.ts` decides
 * when to try again.
 *
 * Beyond the Provider interface, the provider has `watch(prefix, onChange, signal)`: Drive's
 * change feed (changes.getStartPageToken + changes.list, polled), for real-time down-sync.
 */
import { Agent as HttpAgent } from 'node:http'
import { Agent as HttpsAgent } from 'node:https'
import { Readable } from 'node:stream'
import { drive, type drive_v3 } from '@googleapis/drive'
import type { MethodOptions } from 'googleapis-common'
import type { CredentialSection, CredentialStore } from '../lib/credentials.js'
import { AlreadyExistsError, CloudyError, ConfigError, NotFoundError, ProviderError, TransientError, UsageError } from '../lib/errors.js'
import { urlParams, type RemoteContext } from './index.js'
import { assertKey } from './keys.js'
import { login, type LoginContext, type OAuthTokens } from './oauth.js'
import type { ByteRange, ObjectInfo, Provider, ProviderChange, PutBody, PutOptions } from './provider.js'
import { isTransient } from './retry.js'

/** Environment variable: one base address serving the Drive API, uploads and OAuth (tests, proxies). */
export const API_URL_VARIABLE = 'CLOUDY_GDRIVE_API_URL'

/** The scope Cloudy asks for: the files it creates, nothing else of the user's Drive. */
export const SCOPE = 'https://www.googleapis.com/auth/drive.file'

const FOLDER = 'application/vnd.google-apps.folder'
const CONTENT_TYPE = 'application/octet-stream'
/** Resumable chunks other than the last are multiples of this (Drive's rule). */
const CHUNK_UNIT = 256 * 1024
/** An access token this close to its expiry is refreshed before use (a short-lived one at half its life). */
const REFRESH_MARGIN_MS = 5 * 60_000
/** Broken requests of one resumable chunk resumed before the whole put is given up (to the retry policy). */
const CHUNK_RESUMES = 5
/** Longest Retry-After waited inside a resumable upload; beyond it the put fails to the retry policy. */
const CHUNK_WAIT_LIMIT_MS = 10_000
const FILE_FIELDS = 'id,name,mimeType,size,createdTime,modifiedTime'
/** Folders whose children one listing query asks for. */
const LIST_GROUP = 50
/** How long the pages of a broken-off listing wait for the retry policy's re-listing. */
const LISTING_RESUME_MS = 15_000

const LOGIN_HINT = 'run "cloudy provider login gdrive" to connect this computer to Google Drive again'
const CLIENT_HINT =
  'Google Drive needs your own OAuth client (Google gives installed apps no shared one): in the Google Cloud console ' +
  '(https://console.cloud.google.com) create a project, enable the Google Drive API, set up the OAuth consent screen ' +
  '(add yourself as a test user), and create an OAuth client ID of type "Desktop app"; then run ' +
  '"cloudy provider login gdrive --client-id ID --client-secret SECRET". Use the same client on every computer of the vault: ' +
  '"cloudy provider key gdrive" on a computer of the chain prints it.'

/** The addresses the provider and the login talk to. */
export interface GdriveEndpoints {
  /** Base of the Drive API and its upload endpoint, e.g. `https://www.googleapis.com`. */
  api: string
  /** The OAuth token endpoint. */
  token: string
  /** The OAuth consent page. */
  authorize: string
}

/** Google's addresses, or the one base address of `CLOUDY_GDRIVE_API_URL` standing for all of them. */
export function gdriveEndpoints(env: NodeJS.ProcessEnv): GdriveEndpoints {
  const override = env[API_URL_VARIABLE]
  if (override) {
    let base: URL
    try {
      base = new URL(override)
    } catch {
      throw new ConfigError(`${API_URL_VARIABLE}="${override}" is not an http(s) address`)
    }
    if (base.protocol !== 'http:' && base.protocol !== 'https:')
      throw new ConfigError(`${API_URL_VARIABLE}="${override}" is not an http(s) address`)
    const b = base.toString().replace(/\/+$/, '')
    return { api: b, token: `${b}/token`, authorize: `${b}/o/oauth2/v2/auth` }
  }
  return {
    api: 'https://www.googleapis.com',
    token: 'https://oauth2.googleapis.com/token',
    authorize: 'https://accounts.google.com/o/oauth2/v2/auth',
  }
}

export interface GdriveProvider extends Provider {
  /**
   * Report changes of objects under `prefix` made from now on (by any client, this one too),
   * until `signal` aborts; then the promise resolves. Drive's feed is polled every
   * `intervalMs` (default 10 s); changes come in order, one `onChange` at a time (a returned
   * promise is awaited), at least once each. The feed rides out network failures and rate
   * limits by itself (it is not under the retry policy, which wraps single operations); a
   * permanent failure (auth) rejects the promise. A deletion is reported only for a key this
   * provider has seen (Drive's feed names a deleted file by id alone).
   */
  watch(
    prefix: string,
    onChange: (change: ProviderChange) => void | Promise<void>,
    signal: AbortSignal,
    options?: { intervalMs?: number },
  ): Promise<void>
}

/** Options of `gdrive()`. */
export interface GdriveOptions {
  /** The vault folder as names from My Drive's root, e.g. `['Backups', 'Cloudy']`. */
  folder: string[]
  /** This computer's credentials.toml (the [gdrive] table). */
  credentials: CredentialStore
  endpoints: GdriveEndpoints
  /** Bodies up to this many bytes go in one multipart request, larger ones resumably. Default 5 MiB. */
  multipartLimit?: number
  /** Size of resumable chunks, a multiple of 256 KiB. Default 8 MiB. */
  chunkBytes?: number
  /** Entries of the path → id cache. Default 10,000. */
  cacheEntries?: number
}

// ---------------------------------------------------------------------------------------------
// Failures

/** Drive said the id (file, folder, upload session) does not exist: callers decide what it means. */
class Missing extends Error {}

interface HttpFailure {
  status: number
  reason?: string
  message?: string
  retryAfterMs?: number
}

/** Retry-After as ms: delta-seconds or an HTTP date. */
function retryAfter(value: string | null | undefined): number | undefined {
  if (!value) return undefined
  const s = Number(value)
  if (Number.isFinite(s)) return Math.max(0, s * 1000)
  const t = Date.parse(value)
  return Number.isNaN(t) ? undefined : Math.max(0, t - Date.now())
}

function jsonOf(data: unknown): unknown {
  try {
    if (data instanceof ArrayBuffer) return JSON.parse(Buffer.from(data).toString('utf8'))
    if (ArrayBuffer.isView(data)) return JSON.parse(Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8'))
    if (typeof data === 'string') return JSON.parse(data)
  } catch {
    return undefined
  }
  return data
}

function failureFromBody(status: number, body: unknown, retryAfterHeader: string | null | undefined): HttpFailure {
  const error = (jsonOf(body) as { error?: { message?: unknown; errors?: { reason?: unknown }[] } } | undefined)?.error
  const reason = error?.errors?.[0]?.reason
  return {
    status,
    reason: typeof reason === 'string' ? reason : undefined,
    message: typeof error?.message === 'string' ? error.message : undefined,
    retryAfterMs: retryAfter(retryAfterHeader),
  }
}

/** The HTTP failure inside a client (gaxios) error, if it got an answer. */
function failureOf(e: unknown): HttpFailure | undefined {
  const err = e as {
    status?: unknown
    response?: { status?: unknown; data?: unknown; headers?: { get?(n: string): string | null } }
  } | null
  const status = err?.response?.status ?? err?.status
  if (typeof status !== 'number') return undefined
  return failureFromBody(status, err?.response?.data, err?.response?.headers?.get?.('retry-after'))
}

/** A request that got no answer (refused, reset, timed out) from either HTTP client. */
function isConnectionFailure(e: unknown): boolean {
  if (isTransient(e)) return true
  const err = e as { config?: unknown; response?: unknown; cause?: { code?: unknown } } | null
  if (err && typeof err === 'object' && 'config' in err && err.response === undefined) return true // gaxios, no answer
  return e instanceof TypeError && e.message === 'fetch failed' // undici
}

function connectionCode(e: unknown): string {
  const err = e as { code?: unknown; cause?: { code?: unknown; message?: unknown } }
  const code = err.code ?? err.cause?.code
  return typeof code === 'string' ? code : typeof err.cause?.message === 'string' ? err.cause.message : 'no answer'
}

// ---------------------------------------------------------------------------------------------
// Tokens

/** `expires_at` as stored: an ISO time or ms since the epoch; unreadable counts as expired. */
function parseExpiry(v: string | undefined): number {
  if (!v) return 0
  const n = /^\d+$/.test(v) ? Number(v) : Date.parse(v)
  return Number.isNaN(n) ? 0 : n
}

/** POST a form to Google's token endpoint; a refusal becomes a ProviderError of kind auth. */
async function tokenRequest(provider: string, url: string, form: Record<string, string>, refusal: string): Promise<OAuthTokens> {
  let res: Response
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(form),
    })
  } catch (e) {
    throw new TransientError(provider, `cannot reach Google's sign-in service (${connectionCode(e)})`, { cause: e })
  }
  const text = await res.text()
  let body: Record<string, unknown> = {}
  try {
    body = JSON.parse(text) as Record<string, unknown>
  } catch {
    // not JSON: judged by the status alone
  }
  if (res.ok && typeof body.access_token === 'string') {
    return {
      access_token: body.access_token,
      refresh_token: typeof body.refresh_token === 'string' ? body.refresh_token : undefined,
      expires_in: typeof body.expires_in === 'number' ? body.expires_in : undefined,
    }
  }
  if (res.status === 429 || res.status >= 500) {
    throw new TransientError(provider, `Google's sign-in service is busy (HTTP ${res.status})`, {
      retryAfterMs: retryAfter(res.headers.get('retry-after')),
    })
  }
  const error = typeof body.error === 'string' ? body.error : `HTTP ${res.status}`
  if (error === 'invalid_client' || error === 'unauthorized_client') {
    throw new ProviderError(
      provider,
      `Google does not accept the OAuth client of credentials.toml ([gdrive] client_id, client_secret) (${error}); ` +
        'check them in the Google Cloud console and run "cloudy provider login gdrive --client-id ID --client-secret SECRET"',
      { kind: 'auth' },
    )
  }
  throw new ProviderError(provider, `${refusal} (${error})`, { kind: 'auth' })
}

/** The access token: from credentials.toml, refreshed when needed, written back. */
class Tokens {
  #access: string | undefined
  #expiresAt: number
  #margin = REFRESH_MARGIN_MS
  #refreshing: Promise<string> | undefined
  readonly #refused = new Set<string>()

  constructor(
    private readonly provider: string,
    private readonly store: CredentialStore,
    private readonly tokenUrl: string,
    table: CredentialSection,
  ) {
    this.#access = table.access_token
    this.#expiresAt = parseExpiry(table.expires_at)
  }

  async get(): Promise<string> {
    if (this.#access && this.#expiresAt - this.#margin > Date.now()) return this.#access
    return (this.#refreshing ??= this.#refresh().finally(() => (this.#refreshing = undefined)))
  }

  /** Drive refused `token`: the next `get` refreshes (once, however many requests saw it refused). */
  rejected(token: string): void {
    this.#refused.add(token)
    if (this.#access === token) this.#access = undefined
  }

  async #refresh(): Promise<string> {
    // Read again: another cloudy process may have logged in or refreshed meanwhile.
    const table = (await this.store.section('gdrive')) ?? {}
    if (
      table.access_token &&
      !this.#refused.has(table.access_token) &&
      table.access_token !== this.#access &&
      parseExpiry(table.expires_at) - REFRESH_MARGIN_MS > Date.now()
    ) {
      this.#access = table.access_token
      this.#expiresAt = parseExpiry(table.expires_at)
      return this.#access
    }
    if (!table.refresh_token || !table.client_id || !table.client_secret) {
      throw new ProviderError(this.provider, `this computer has no Google Drive sign-in in credentials.toml; ${LOGIN_HINT}`, {
        kind: 'auth',
      })
    }
    const tokens = await tokenRequest(
      this.provider,
      this.tokenUrl,
      { grant_type: 'refresh_token', refresh_token: table.refresh_token, client_id: table.client_id, client_secret: table.client_secret },
      `Google refused this computer's sign-in to Drive (it was revoked or has expired); ${LOGIN_HINT}`,
    )
    this.#access = tokens.access_token
    const lifetime = (tokens.expires_in ?? 3600) * 1000
    this.#expiresAt = Date.now() + lifetime
    this.#margin = Math.min(REFRESH_MARGIN_MS, lifetime / 2)
    await this.store.update('gdrive', {
      access_token: tokens.access_token,
      expires_at: new Date(this.#expiresAt).toISOString(),
      ...(tokens.refresh_token ? { refresh_token: tokens.refresh_token } : {}),
    })
    return this.#access
  }
}

// ---------------------------------------------------------------------------------------------
// Helpers

/** A bounded map that forgets the least recently used entry. */
class Lru<V> {
  readonly #map = new Map<string, V>()
  constructor(private readonly max: number) {}
  get(k: string): V | undefined {
    const v = this.#map.get(k)
    if (v !== undefined) {
      this.#map.delete(k)
      this.#map.set(k, v)
    }
    return v
  }
  set(k: string, v: V): void {
    this.#map.delete(k)
    this.#map.set(k, v)
    if (this.#map.size > this.max) this.#map.delete(this.#map.keys().next().value!)
  }
  delete(k: string): void {
    this.#map.delete(k)
  }
  deleteUnder(prefix: string): void {
    for (const k of this.#map.keys()) if (k.startsWith(prefix)) this.#map.delete(k)
  }
}

/** Reads a put body in pieces of a chosen size, holding only what was asked for. */
class BodyReader {
  readonly #pending: Buffer[] = []
  #pendingBytes = 0
  readonly #source: AsyncIterator<Uint8Array> | undefined
  #ended: boolean

  constructor(body: PutBody) {
    if (body instanceof Uint8Array) {
      this.#pending.push(Buffer.from(body.buffer, body.byteOffset, body.byteLength))
      this.#pendingBytes = body.byteLength
      this.#source = undefined
      this.#ended = true
    } else {
      this.#source = body[Symbol.asyncIterator]()
      this.#ended = false
    }
  }

  async #pull(): Promise<void> {
    const r = await this.#source!.next()
    if (r.done) this.#ended = true
    else if (r.value.byteLength > 0) {
      this.#pending.push(Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength))
      this.#pendingBytes += r.value.byteLength
    }
  }

  /** Up to `n` bytes; fewer only at the end of the body. */
  async read(n: number): Promise<Buffer> {
    while (this.#pendingBytes < n && !this.#ended) await this.#pull()
    const first = this.#pending[0]
    if (first && first.length >= n) {
      // The common case of a whole body, or a piece bigger than asked: no copy.
      const out = first.subarray(0, n)
      if (first.length === n) this.#pending.shift()
      else this.#pending[0] = first.subarray(n)
      this.#pendingBytes -= n
      return out
    }
    const out = Buffer.allocUnsafe(Math.min(n, this.#pendingBytes))
    let at = 0
    while (at < out.length) {
      const p = this.#pending[0]!
      const take = Math.min(p.length, out.length - at)
      p.copy(out, at, 0, take)
      at += take
      if (take === p.length) this.#pending.shift()
      else this.#pending[0] = p.subarray(take)
    }
    this.#pendingBytes -= out.length
    return out
  }

  /** Whether the body has no more bytes (reads ahead one piece to know). */
  async atEnd(): Promise<boolean> {
    while (this.#pendingBytes === 0 && !this.#ended) await this.#pull()
    return this.#pendingBytes === 0
  }
}

/** A string literal of Drive's query language. */
function literal(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`
}

const byAge = (a: drive_v3.Schema$File, b: drive_v3.Schema$File) => {
  const ta = Date.parse(a.createdTime ?? '') || 0
  const tb = Date.parse(b.createdTime ?? '') || 0
  return ta !== tb ? ta - tb : (a.id ?? '') < (b.id ?? '') ? -1 : (a.id ?? '') > (b.id ?? '') ? 1 : 0
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve()
    const t = setTimeout(done, ms)
    function done() {
      clearTimeout(t)
      signal?.removeEventListener('abort', done)
      resolve()
    }
    signal?.addEventListener('abort', done, { once: true })
  })

type Target = { create: { parent: string; name: string } } | { update: string }

// ---------------------------------------------------------------------------------------------

/** Open the provider for the vault folder `options.folder` (no request is made yet). */
export async function gdrive(options: GdriveOptions): Promise<GdriveProvider> {
  const name = `gdrive:/${options.folder.join('/')}`
  const table = await options.credentials.section('gdrive')
  if (!table?.refresh_token && !table?.access_token) {
    throw new ProviderError(name, `this computer is not connected to Google Drive; ${LOGIN_HINT}`, { kind: 'auth' })
  }
  const chunkBytes = options.chunkBytes ?? 8 * 1024 * 1024
  if (!Number.isInteger(chunkBytes) || chunkBytes <= 0 || chunkBytes % CHUNK_UNIT !== 0) {
    throw new UsageError(`gdrive: chunkBytes must be a positive multiple of ${CHUNK_UNIT} (got ${chunkBytes})`)
  }
  return new Gdrive(name, options, new Tokens(name, options.credentials, options.endpoints.token, table), chunkBytes)
}

class Gdrive implements GdriveProvider {
  /** Packs at once: each upload is a few round trips that others can overlap. */
  readonly parallelism = 4
  readonly #api: string
  readonly #drive: drive_v3.Drive
  readonly #tokens: Tokens
  readonly #folderPath: string[]
  readonly #multipartLimit: number
  readonly #chunkBytes: number
  /** `d:<path>` → folder id, `f:<path>` → file id; paths from My Drive's root. */
  readonly #cache: Lru<string>
  readonly #resolving = new Map<string, Promise<string | undefined>>()
  /** Pages of listings under way or just broken off, by prefix (see `list`). */
  readonly #listings = new Map<string, { pages: Map<string, drive_v3.Schema$FileList>; until: number }>()
  readonly #httpAgent = new HttpAgent({ keepAlive: true })
  readonly #httpsAgent = new HttpsAgent({ keepAlive: true })
  /** `watch` lists changes every 10 s: no push from Drive without a public web hook. */
  readonly watchPolls = true

  constructor(
    readonly name: string,
    options: GdriveOptions,
    tokens: Tokens,
    chunkBytes: number,
  ) {
    this.#api = options.endpoints.api.replace(/\/+$/, '')
    this.#folderPath = options.folder
    this.#tokens = tokens
    this.#multipartLimit = options.multipartLimit ?? 5 * 1024 * 1024
    this.#chunkBytes = chunkBytes
    this.#cache = new Lru(options.cacheEntries ?? 10_000)
    // The client's own retries are off: providers/retry.ts is the one retry policy.
    this.#drive = drive({ version: 'v3', retry: false, rootUrl: `${this.#api}/` })
  }

  // --- requests ---------------------------------------------------------------------------------

  /** Per-call options: the address (media uploads ignore the client's), the token, no retries. */
  #options(token: string, extra: MethodOptions = {}): MethodOptions {
    return {
      rootUrl: `${this.#api}/`,
      retry: false,
      agent: (url: URL) => (url.protocol === 'http:' ? this.#httpAgent : this.#httpsAgent),
      ...extra,
      headers: { ...(extra.headers as Record<string, string> | undefined), Authorization: `Bearer ${token}` },
    }
  }

  /** Run a client call with a valid token (renewed once if refused); failures classified. */
  async #call<T>(what: string, run: (token: string) => Promise<T>): Promise<T> {
    for (let tries = 0; ; tries++) {
      const token = await this.#tokens.get()
      try {
        return await run(token)
      } catch (e) {
        const f = failureOf(e)
        if (f?.status === 401 && tries === 0) {
          this.#tokens.rejected(token)
          continue
        }
        throw this.#classify(what, e, f)
      }
    }
  }

  /** A fetch (resumable uploads) with a valid token, renewed once if refused; answers other than 401 are returned. */
  async #fetch(what: string, url: string, init: RequestInit): Promise<Response> {
    for (let tries = 0; ; tries++) {
      const token = await this.#tokens.get()
      let res: Response
      try {
        res = await fetch(url, {
          ...init,
          redirect: 'manual',
          headers: { ...(init.headers as Record<string, string>), Authorization: `Bearer ${token}` },
        })
      } catch (e) {
        throw this.#classify(what, e, undefined)
      }
      if (res.status === 401 && tries === 0) {
        await res.body?.cancel()
        this.#tokens.rejected(token)
        continue
      }
      return res
    }
  }

  async #failureOfResponse(res: Response): Promise<HttpFailure> {
    return failureFromBody(res.status, await res.text().catch(() => ''), res.headers.get('retry-after'))
  }

  /** What a failure means for Cloudy. */
  #classify(what: string, e: unknown, f: HttpFailure | undefined): Error {
    if (e instanceof CloudyError) return e
    // The client's error holds the request (its token redacted, but still): only the facts go on.
    if (!f) {
      if (isConnectionFailure(e)) {
        const cause = new Error(`${connectionCode(e)}: ${e instanceof Error ? e.message : String(e)}`)
        return new TransientError(this.name, `${what}: no answer from Google Drive (${connectionCode(e)})`, { cause })
      }
      return e instanceof Error ? e : new Error(String(e))
    }
    const cause = new Error(`HTTP ${f.status}${f.reason ? ` ${f.reason}` : ''}${f.message ? `: ${f.message}` : ''}`)
    const said = f.message ? `: ${f.message}` : ''
    switch (f.reason) {
      case 'storageQuotaExceeded':
      case 'quotaExceeded':
      case 'teamDriveFileLimitExceeded':
        return new ProviderError(
          this.name,
          `${what}: the Google Drive account is full (storage quota exceeded); free space in Drive or get more storage, then run again: nothing stored so far is lost`,
          { cause, kind: 'quota' },
        )
      case 'rateLimitExceeded':
      case 'userRateLimitExceeded':
      case 'sharingRateLimitExceeded':
      case 'backendError':
        return new TransientError(this.name, `${what}: Google Drive asks to slow down (${f.reason})`, {
          cause,
          retryAfterMs: f.retryAfterMs,
        })
      case 'dailyLimitExceeded':
        return new ProviderError(
          this.name,
          `${what}: the daily Drive API quota of your Google Cloud project is used up; run again tomorrow, or raise the quota in the Google Cloud console`,
          { cause, kind: 'quota' },
        )
      case 'accessNotConfigured':
        return new ProviderError(
          this.name,
          `${what}: the Google Drive API is not enabled for your OAuth client's Google Cloud project; enable it in the Google Cloud console${said}`,
          { cause, kind: 'refused' },
        )
      case 'insufficientPermissions':
      case 'insufficientFilePermissions':
      case 'appNotAuthorizedToFile':
        return new ProviderError(this.name, `${what}: Cloudy's access to this Drive does not allow it${said}; ${LOGIN_HINT}`, {
          cause,
          kind: 'auth',
        })
    }
    if (f.status === 404) return new Missing(what)
    if (f.status === 401) {
      return new ProviderError(
        this.name,
        `${what}: Google Drive refused this computer's access (the sign-in was revoked or has expired); ${LOGIN_HINT}`,
        {
          cause,
          kind: 'auth',
        },
      )
    }
    if (f.status === 429 || f.status === 408 || f.status >= 500) {
      return new TransientError(this.name, `${what}: Google Drive is busy (HTTP ${f.status}${f.reason ? `, ${f.reason}` : ''})`, {
        cause,
        retryAfterMs: f.retryAfterMs,
      })
    }
    return new ProviderError(this.name, `${what}: Google Drive refused (HTTP ${f.status}${f.reason ? `, ${f.reason}` : ''})${said}`, {
      cause,
      kind: 'refused',
    })
  }

  /** A folder deleted under a running operation, found out where no caller expected it: try again. */
  async #guard<T>(what: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run()
    } catch (e) {
      if (e instanceof Missing) throw new TransientError(this.name, `${what}: a folder of the vault was deleted meanwhile`)
      throw e
    }
  }

  // --- paths and ids ----------------------------------------------------------------------------

  #full(rel: string[]): string[] {
    return [...this.#folderPath, ...rel]
  }

  /** Every file (or folder) of `name` in folder `parent`, oldest first. */
  async #named(what: string, parent: string, name: string, kind: 'file' | 'folder'): Promise<drive_v3.Schema$File[]> {
    const q = `name = ${literal(name)} and ${literal(parent)} in parents and trashed = false and mimeType ${kind === 'folder' ? '=' : '!='} '${FOLDER}'`
    const out: drive_v3.Schema$File[] = []
    let pageToken: string | undefined
    do {
      const res = await this.#call(what, (token) =>
        this.#drive.files.list(
          { q, fields: `nextPageToken,files(${FILE_FIELDS})`, pageSize: 1000, pageToken, spaces: 'drive' },
          this.#options(token),
        ),
      )
      out.push(...(res.data.files ?? []))
      pageToken = res.data.nextPageToken ?? undefined
    } while (pageToken)
    return out.sort(byAge)
  }

  /** The id of the folder at `path` (from My Drive's root), made when `create`; undefined if absent. */
  #folder(path: string[], create: boolean): Promise<string | undefined> {
    if (path.length === 0) return Promise.resolve('root')
    const p = path.join('/')
    const cached = this.#cache.get(`d:${p}`)
    if (cached) return Promise.resolve(cached)
    // One resolution per folder at a time in this process: 200 puts into a new folder make it once.
    const flight = `${create ? '+' : '?'}${p}`
    let pending = this.#resolving.get(flight)
    if (!pending) {
      pending = this.#resolveFolder(path, create).finally(() => this.#resolving.delete(flight))
      this.#resolving.set(flight, pending)
    }
    return pending
  }

  async #resolveFolder(path: string[], create: boolean): Promise<string | undefined> {
    const p = path.join('/')
    const parent = await this.#folder(path.slice(0, -1), create)
    if (!parent) return undefined
    const name = path[path.length - 1]!
    const what = `finding folder ${p}`
    let found: drive_v3.Schema$File | undefined
    try {
      found = (await this.#named(what, parent, name, 'folder'))[0]
    } catch (e) {
      if (e instanceof Missing) return this.#forgetFolder(path.slice(0, -1))
      throw e
    }
    if (!found && create) {
      let made: drive_v3.Schema$File
      try {
        made = (
          await this.#call(`creating folder ${p}`, (token) =>
            this.#drive.files.create(
              { requestBody: { name, mimeType: FOLDER, parents: [parent] }, fields: 'id,createdTime' },
              this.#options(token),
            ),
          )
        ).data
      } catch (e) {
        if (e instanceof Missing) throw new TransientError(this.name, `creating folder ${p}: the folder above it was just deleted`)
        throw e
      }
      // Another computer may have made it at the same moment: the oldest is the one.
      found = (await this.#named(what, parent, name, 'folder'))[0] ?? made
      if (found.id !== made.id) await this.#dropEmptyFolder(made.id!)
    }
    if (!found?.id) return undefined
    this.#cache.set(`d:${p}`, found.id)
    return found.id
  }

  /** Delete our duplicate folder, unless something went into it already (then it stays, unused). */
  async #dropEmptyFolder(id: string): Promise<void> {
    try {
      const inside = await this.#call('removing a duplicate folder', (token) =>
        this.#drive.files.list({ q: `${literal(id)} in parents`, fields: 'files(id)', pageSize: 1, spaces: 'drive' }, this.#options(token)),
      )
      if ((inside.data.files ?? []).length > 0) return
      await this.#call('removing a duplicate folder', (token) => this.#drive.files.delete({ fileId: id }, this.#options(token)))
    } catch {
      // A duplicate left behind is harmless: everyone takes the oldest.
    }
  }

  /** A cached folder id turned out stale: forget it and everything below. */
  #forgetFolder(path: string[]): undefined {
    const p = path.join('/')
    this.#cache.deleteUnder(`d:${p}`)
    this.#cache.deleteUnder(`f:${p}/`)
    return undefined
  }

  #split(key: string): { dir: string[]; base: string; path: string } {
    const parts = key.split('/')
    const base = parts.pop()!
    return { dir: this.#full(parts), base, path: this.#full(key.split('/')).join('/') }
  }

  /** The oldest file at `key` (looked up afresh), cached. */
  async #lookup(what: string, key: string): Promise<drive_v3.Schema$File | undefined> {
    const { dir, base, path } = this.#split(key)
    const parent = await this.#folder(dir, false)
    if (!parent) return undefined
    let file: drive_v3.Schema$File | undefined
    try {
      file = (await this.#named(what, parent, base, 'file'))[0]
    } catch (e) {
      if (e instanceof Missing) return this.#forgetFolder(dir)
      throw e
    }
    if (file?.id) this.#cache.set(`f:${path}`, file.id)
    else this.#cache.delete(`f:${path}`)
    return file
  }

  // --- get ----------------------------------------------------------------------------------

  get(key: string, range?: ByteRange): Promise<Uint8Array> {
    return this.#guard(`reading ${key}`, () => this.#get(key, range))
  }

  async #get(key: string, range?: ByteRange): Promise<Uint8Array> {
    assertKey(this.name, key)
    const what = `reading ${key}`
    if (range && range.length <= 0) {
      if (!(await this.#stat(key))) throw new NotFoundError(this.name, key)
      return new Uint8Array(0)
    }
    const path = this.#split(key).path
    for (let fresh = false; ; fresh = true) {
      const id = (!fresh && this.#cache.get(`f:${path}`)) || (await this.#lookup(what, key))?.id
      if (!id) throw new NotFoundError(this.name, key)
      try {
        return await this.#download(what, id, range)
      } catch (e) {
        if (!(e instanceof Missing)) throw e
        this.#cache.delete(`f:${path}`)
        if (fresh) throw new NotFoundError(this.name, key)
      }
    }
  }

  async #download(what: string, id: string, range?: ByteRange): Promise<Uint8Array> {
    const headers = range ? { Range: `bytes=${range.offset}-${range.offset + range.length - 1}` } : undefined
    const res = await this.#call(what, (token) =>
      this.#drive.files.get(
        { fileId: id, alt: 'media' },
        this.#options(token, { responseType: 'arraybuffer', headers, validateStatus: (s) => (s >= 200 && s < 300) || s === 416 }),
      ),
    )
    // 416: the range starts at or past the end, so there is nothing to read.
    if (res.status === 416) return new Uint8Array(0)
    const data = Buffer.from(res.data as unknown as ArrayBuffer)
    // A server that ignores Range sends the whole file (status 200): cut it here.
    if (range && res.status === 200) return data.subarray(range.offset, range.offset + range.length)
    return data
  }

  // --- stat ---------------------------------------------------------------------------------

  stat(key: string): Promise<ObjectInfo | undefined> {
    return this.#guard(`looking up ${key}`, () => this.#stat(key))
  }

  async #stat(key: string): Promise<ObjectInfo | undefined> {
    assertKey(this.name, key)
    const what = `looking up ${key}`
    const path = this.#split(key).path
    const cached = this.#cache.get(`f:${path}`)
    if (cached) {
      try {
        const res = await this.#call(what, (token) =>
          this.#drive.files.get({ fileId: cached, fields: 'id,size,modifiedTime,trashed' }, this.#options(token)),
        )
        if (!res.data.trashed) return this.#info(key, res.data)
      } catch (e) {
        if (!(e instanceof Missing)) throw e
      }
      this.#cache.delete(`f:${path}`)
    }
    const file = await this.#lookup(what, key)
    return file && this.#info(key, file)
  }

  #info(key: string, f: drive_v3.Schema$File): ObjectInfo {
    const mtime = Date.parse(f.modifiedTime ?? '')
    return { key, size: Number(f.size ?? 0), ...(Number.isNaN(mtime) ? {} : { mtimeMs: mtime }) }
  }

  // --- put ----------------------------------------------------------------------------------

  put(key: string, body: PutBody, options: PutOptions = {}): Promise<void> {
    return this.#guard(`writing ${key}`, () => this.#put(key, body, options))
  }

  async #put(key: string, body: PutBody, options: PutOptions): Promise<void> {
    assertKey(this.name, key)
    // A re-listing after this must see it: kept pages of broken-off listings go.
    this.#listings.clear()
    const what = `writing ${key}`
    const { dir, base, path } = this.#split(key)
    const reader = new BodyReader(body)
    // Read up to the multipart limit first: a body that fits goes in one request.
    const head = await reader.read(this.#multipartLimit + 1)
    const whole = head.length <= this.#multipartLimit ? head : undefined

    // A file or folder deleted meanwhile (by another computer) is looked up again, a few times.
    for (let round = 0; round < 3; round++) {
      const parent = await this.#folder(dir, true)
      if (!parent) throw new TransientError(this.name, `${what}: its folder could not be made`)
      const cached = options.ifAbsent ? undefined : this.#cache.get(`f:${path}`)
      const existing = cached ?? (await this.#lookup(what, key))?.id
      if (existing) {
        if (options.ifAbsent) throw new AlreadyExistsError(this.name, key)
        try {
          await this.#send(what, { update: existing }, whole, head, reader)
          return
        } catch (e) {
          // Only ever before any byte of a stream was sent (the session's start, or a whole body).
          if (!(e instanceof Missing)) throw e
          this.#cache.delete(`f:${path}`)
          continue
        }
      }
      let mine: drive_v3.Schema$File
      try {
        mine = await this.#send(what, { create: { parent, name: base } }, whole, head, reader)
      } catch (e) {
        if (!(e instanceof Missing)) throw e
        this.#forgetFolder(dir)
        continue
      }
      await this.#settle(what, key, parent, base, mine, options.ifAbsent === true)
      return
    }
    throw new TransientError(this.name, `${what}: its folder or file kept being deleted while writing`)
  }

  /**
   * Drive has no conditional create, so a new file is settled after the fact: list the name;
   * if an older file of that name exists (createdTime, then id: what every reader takes), ours
   * was too late: it is deleted, and an if-absent put fails with AlreadyExistsError (a plain put
   * counts as done, overwritten at once by the concurrent one). Each racer creates before it
   * lists, so the first file created is seen by every later one, and exactly one wins. If the
   * listing fails, ours stays: when it is the oldest it is the object, and the retry policy
   * finds its own bytes there; when not, it is never read and goes with the key's next delete.
   * Drive's createdTime has millisecond resolution: two creates in the same millisecond are
   * ordered by id, and then a racer that listed before the other's create landed may also have
   * won: a window we accept.
   */
  async #settle(what: string, key: string, parent: string, name: string, mine: drive_v3.Schema$File, ifAbsent: boolean): Promise<void> {
    const path = this.#split(key).path
    const first = (await this.#named(what, parent, name, 'file'))[0] ?? mine
    this.#cache.set(`f:${path}`, first.id!)
    if (first.id === mine.id) return
    await this.#call(`removing a duplicate of ${key}`, (token) =>
      this.#drive.files.delete({ fileId: mine.id! }, this.#options(token)),
    ).catch(() => {})
    if (ifAbsent) throw new AlreadyExistsError(this.name, key)
  }

  /** Store the body: one request when whole, else resumable. */
  async #send(what: string, target: Target, whole: Buffer | undefined, head: Buffer, reader: BodyReader): Promise<drive_v3.Schema$File> {
    if (whole) {
      const media = () => ({ mimeType: CONTENT_TYPE, body: Readable.from(whole.length ? [whole] : [], { objectMode: false }) })
      const res = await this.#call(what, (token) =>
        'update' in target
          ? this.#drive.files.update({ fileId: target.update, media: media(), fields: 'id,createdTime' }, this.#options(token))
          : this.#drive.files.create(
              { requestBody: { name: target.create.name, parents: [target.create.parent] }, media: media(), fields: 'id,createdTime' },
              this.#options(token),
            ),
      )
      return res.data
    }
    return this.#resumable(what, target, head, reader)
  }

  /** Drive's resumable upload: a session, then chunks; a broken chunk goes on from what the server holds. */
  async #resumable(what: string, target: Target, head: Buffer, reader: BodyReader): Promise<drive_v3.Schema$File> {
    const start =
      'update' in target
        ? { url: `${this.#api}/upload/drive/v3/files/${encodeURIComponent(target.update)}`, method: 'PATCH', meta: {} }
        : { url: `${this.#api}/upload/drive/v3/files`, method: 'POST', meta: { name: target.create.name, parents: [target.create.parent] } }
    const res = await this.#fetch(what, `${start.url}?uploadType=resumable&fields=id,createdTime`, {
      method: start.method,
      headers: { 'content-type': 'application/json; charset=UTF-8', 'x-upload-content-type': CONTENT_TYPE },
      body: JSON.stringify(start.meta),
    })
    const session = res.headers.get('location')
    if (res.status !== 200 || !session) {
      const f = await this.#failureOfResponse(res)
      throw this.#classify(what, undefined, res.status === 200 ? { status: 502, message: 'no upload session address' } : f)
    }
    await res.body?.cancel()
    try {
      let offset = 0
      let rest = head
      for (;;) {
        let chunk: Buffer
        if (rest.length >= this.#chunkBytes) {
          chunk = rest.subarray(0, this.#chunkBytes)
          rest = rest.subarray(this.#chunkBytes)
        } else {
          const more = await reader.read(this.#chunkBytes - rest.length)
          chunk = rest.length ? Buffer.concat([rest, more]) : more
          rest = Buffer.alloc(0)
        }
        const last = chunk.length < this.#chunkBytes || (rest.length === 0 && (await reader.atEnd()))
        const done = await this.#chunk(what, session, chunk, offset, last ? offset + chunk.length : undefined)
        offset += chunk.length
        if (last) {
          if (!done) throw new TransientError(this.name, `${what}: the upload did not complete`)
          return done
        }
      }
    } catch (e) {
      // Nothing is stored until the last chunk lands; ending the session frees it at once.
      void fetch(session, { method: 'DELETE' }).then(
        (r) => r.body?.cancel(),
        () => {},
      )
      throw e
    }
  }

  /** Send one chunk (bytes `start`… of the body); the file once the last chunk is in. */
  async #chunk(
    what: string,
    session: string,
    chunk: Buffer,
    start: number,
    total: number | undefined,
  ): Promise<drive_v3.Schema$File | undefined> {
    const end = start + chunk.length
    let held = start
    let failures = 0
    let ask = false
    for (;;) {
      let res: Response
      try {
        res = ask
          ? await this.#fetch(what, session, { method: 'PUT', headers: { 'content-range': `bytes */${total ?? '*'}` } })
          : await this.#fetch(what, session, {
              method: 'PUT',
              headers: { 'content-type': CONTENT_TYPE, 'content-range': `bytes ${held}-${end - 1}/${total ?? '*'}` },
              body: chunk.subarray(held - start),
            })
      } catch (e) {
        if (!isTransient(e) || ++failures > CHUNK_RESUMES) throw e
        ask = true
        continue
      }
      if (res.status === 200 || res.status === 201) {
        const file = (await res.json()) as drive_v3.Schema$File
        if (total === undefined) throw new ProviderError(this.name, `${what}: Google Drive ended the upload before its last chunk`)
        return file
      }
      if (res.status === 308) {
        await res.body?.cancel()
        const range = /bytes=0-(\d+)/.exec(res.headers.get('range') ?? '')
        const got = range ? Number(range[1]) + 1 : 0
        // Bytes before this chunk are no longer at hand: the put starts over.
        if (got < start) throw new TransientError(this.name, `${what}: the upload server lost bytes it had taken`)
        ask = false
        if (got >= end) {
          if (total === undefined) return undefined
          // All of it is there but not finished: ask again for the file.
          if (++failures > CHUNK_RESUMES) throw new TransientError(this.name, `${what}: the upload did not complete`)
          ask = true
          continue
        }
        held = got
        continue
      }
      const f = await this.#failureOfResponse(res)
      if (f.status === 404 || f.status === 410) throw new TransientError(this.name, `${what}: the upload session expired`)
      const e = this.#classify(what, undefined, f)
      if (!isTransient(e) || ++failures > CHUNK_RESUMES) throw e
      const wait = e instanceof TransientError ? (e.retryAfterMs ?? 0) : 0
      if (wait > CHUNK_WAIT_LIMIT_MS) throw e
      await sleep(wait)
      ask = true
    }
  }

  // --- list ---------------------------------------------------------------------------------

  /**
   * Breadth first, the children of up to 50 folders per query (as rclone does): a vault's
   * `s/<tag>/packs/<xx>/` tree takes a handful of requests, not one per folder. Pages are kept
   * until the listing ends; a listing that breaks off keeps them a few seconds more, so the
   * retry policy's re-listing replays them and goes on from where it broke instead of starting
   * over (with many pages and a high failure rate, starting over would never finish).
   */
  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    assertKey(this.name, prefix, true)
    const slash = prefix.lastIndexOf('/')
    const base = slash < 0 ? [] : prefix.slice(0, slash).split('/')
    let memo = this.#listings.get(prefix)
    if (!memo || memo.until < Date.now()) memo = { pages: new Map(), until: Infinity }
    memo.until = Infinity
    this.#listings.set(prefix, memo)
    let ended = false
    try {
      const id = await this.#guard(`listing ${prefix}`, () => this.#folder(this.#full(base), false))
      if (id) yield* this.#walk(id, base.join('/'), prefix, memo.pages)
      ended = true
    } finally {
      if (!ended) memo.until = Date.now() + LISTING_RESUME_MS
      else if (this.#listings.get(prefix) === memo) this.#listings.delete(prefix)
    }
  }

  async *#walk(baseId: string, baseRel: string, prefix: string, memo: Map<string, drive_v3.Schema$FileList>): AsyncGenerator<ObjectInfo> {
    const what = `listing ${prefix || 'the vault'}`
    let level = [{ id: baseId, rel: baseRel }]
    while (level.length > 0) {
      const next: { id: string; rel: string }[] = []
      for (let i = 0; i < level.length; i += LIST_GROUP) {
        const group = level.slice(i, i + LIST_GROUP)
        const relOf = new Map(group.map((f) => [f.id, f.rel]))
        const q = `(${group.map((f) => `${literal(f.id)} in parents`).join(' or ')}) and trashed = false`
        // Oldest first: the first of each name in a folder is the one that counts; later duplicates are skipped.
        const seen = new Set<string>()
        let pageToken: string | undefined
        do {
          const at = `${q}\n${pageToken ?? ''}`
          let page = memo.get(at)
          if (!page) {
            const token = pageToken
            page = (
              await this.#call(what, (t) =>
                this.#drive.files.list(
                  {
                    q,
                    fields: `nextPageToken,files(${FILE_FIELDS},parents)`,
                    orderBy: 'createdTime',
                    pageSize: 1000,
                    pageToken: token,
                    spaces: 'drive',
                  },
                  this.#options(t),
                ),
              ).catch((e: unknown) => {
                if (!(e instanceof Missing)) throw e
                // A folder went away under the listing (cached ids are stale): list again from scratch.
                this.#forgetFolder(this.#full(baseRel ? baseRel.split('/') : []))
                throw new TransientError(this.name, `${what}: a folder of the vault was deleted meanwhile`)
              })
            ).data
            memo.set(at, page)
          }
          for (const f of page.files ?? []) {
            const parent = f.parents?.find((p) => relOf.has(p))
            if (!f.id || !f.name || parent === undefined) continue
            const isFolder = f.mimeType === FOLDER
            const mark = `${parent}/${isFolder ? 'd' : 'f'}:${f.name}`
            if (seen.has(mark)) continue
            seen.add(mark)
            const rel = relOf.get(parent)!
            const key = rel ? `${rel}/${f.name}` : f.name
            const full = this.#full(key.split('/')).join('/')
            if (isFolder) {
              this.#cache.set(`d:${full}`, f.id)
              if (`${key}/`.startsWith(prefix) || prefix.startsWith(`${key}/`)) next.push({ id: f.id, rel: key })
            } else if (key.startsWith(prefix) && !f.mimeType?.startsWith('application/vnd.google-apps.')) {
              this.#cache.set(`f:${full}`, f.id)
              yield this.#info(key, f)
            }
          }
          pageToken = page.nextPageToken ?? undefined
        } while (pageToken)
      }
      level = next
    }
  }

  // --- delete -------------------------------------------------------------------------------

  delete(key: string): Promise<void> {
    return this.#guard(`deleting ${key}`, () => this.#delete(key))
  }

  async #delete(key: string): Promise<void> {
    assertKey(this.name, key)
    this.#listings.clear()
    const what = `deleting ${key}`
    const { dir, base, path } = this.#split(key)
    this.#cache.delete(`f:${path}`)
    const parent = await this.#folder(dir, false)
    if (!parent) return
    let files: drive_v3.Schema$File[]
    try {
      files = await this.#named(what, parent, base, 'file')
    } catch (e) {
      if (e instanceof Missing) return this.#forgetFolder(dir)
      throw e
    }
    // Every file of the name goes, so no leftover duplicate surfaces as the object later.
    for (const f of files) {
      try {
        await this.#call(what, (token) => this.#drive.files.delete({ fileId: f.id! }, this.#options(token)))
      } catch (e) {
        if (!(e instanceof Missing)) throw e
      }
    }
  }

  // --- watch --------------------------------------------------------------------------------

  async watch(
    prefix: string,
    onChange: (change: ProviderChange) => void | Promise<void>,
    signal: AbortSignal,
    options: { intervalMs?: number } = {},
  ): Promise<void> {
    assertKey(this.name, prefix, true)
    const interval = options.intervalMs ?? 10_000
    const what = 'watching for changes'
    /** Keys of file ids seen, so a deletion (reported by id alone) can be named. */
    const keys = new Lru<string>(100_000)
    /** Folder id → its path below the vault ('' = the vault), or null when outside it. */
    const folders = new Lru<string | null>(10_000)
    const folderRel = async (id: string, depth = 0): Promise<string | null> => {
      const vault = await this.#folder(this.#folderPath, false)
      if (vault === undefined) return null
      if (id === vault) return ''
      const known = folders.get(id)
      if (known !== undefined) return known
      if (depth > 64) return null
      let f: drive_v3.Schema$File
      try {
        f = (await this.#call(what, (token) => this.#drive.files.get({ fileId: id, fields: 'id,name,parents' }, this.#options(token)))).data
      } catch (e) {
        if (e instanceof Missing) return null
        throw e
      }
      const parent = f.parents?.[0]
      const above = parent ? await folderRel(parent, depth + 1) : null
      const rel = above === null ? null : above ? `${above}/${f.name}` : (f.name ?? null)
      folders.set(id, rel)
      return rel
    }
    const changeOf = async (c: drive_v3.Schema$Change): Promise<ProviderChange | undefined> => {
      const f = c.file
      if (!c.fileId) return undefined
      if (c.removed || !f || f.trashed) {
        const key = keys.get(c.fileId)
        if (key === undefined) return undefined
        keys.delete(c.fileId)
        return key.startsWith(prefix) ? { type: 'delete', key } : undefined
      }
      if (f.mimeType === FOLDER) {
        folders.delete(c.fileId)
        return undefined
      }
      const parent = f.parents?.[0]
      const rel = parent ? await folderRel(parent) : null
      if (rel === null || !f.name) return undefined
      const key = rel ? `${rel}/${f.name}` : f.name
      keys.set(c.fileId, key)
      if (!key.startsWith(prefix)) return undefined
      const mtime = Date.parse(f.modifiedTime ?? '')
      return { type: 'put', key, size: Number(f.size ?? 0), ...(Number.isNaN(mtime) ? {} : { mtimeMs: mtime }) }
    }
    const startToken = async () =>
      (await this.#call(what, (token) => this.#drive.changes.getStartPageToken({ fields: 'startPageToken' }, this.#options(token)))).data
        .startPageToken!

    let wait = interval
    let token: string | undefined
    while (!signal.aborted) {
      try {
        token ??= await startToken()
        let page = token
        for (;;) {
          let res: drive_v3.Schema$ChangeList
          try {
            res = (
              await this.#call(what, (t) =>
                this.#drive.changes.list(
                  {
                    pageToken: page,
                    pageSize: 1000,
                    includeRemoved: true,
                    spaces: 'drive',
                    fields:
                      'nextPageToken,newStartPageToken,changes(fileId,removed,file(id,name,mimeType,parents,trashed,size,modifiedTime))',
                  },
                  this.#options(t),
                ),
              )
            ).data
          } catch (e) {
            // The page token is no longer valid: start afresh and tell the caller to look again.
            if (e instanceof Missing || (e instanceof ProviderError && e.kind === 'refused')) {
              token = await startToken()
              await onChange({ type: 'resync' })
              break
            }
            throw e
          }
          for (const c of res.changes ?? []) {
            if (signal.aborted) return
            const change = await changeOf(c)
            if (change) await onChange(change)
          }
          if (res.nextPageToken) page = res.nextPageToken
          else {
            token = res.newStartPageToken ?? page
            break
          }
        }
        wait = interval
      } catch (e) {
        if (!isTransient(e)) throw e
        // Rides out a bad spell by itself, slower each time, as Retry-After asks.
        wait = Math.max(Math.min(wait * 2, 5 * 60_000), e instanceof TransientError ? (e.retryAfterMs ?? 0) : 0)
      }
      await sleep(wait, signal)
    }
  }

  async close(): Promise<void> {
    this.#httpAgent.destroy()
    this.#httpsAgent.destroy()
  }
}

// ---------------------------------------------------------------------------------------------
// Opening and login

/** The folder names of a `gdrive:/path` URL. */
function urlFolder(url: string): string[] {
  urlParams(url, [])
  const m = /^gdrive:([^?#]*)/.exec(url)
  if (!m) throw new UsageError(`--provider ${url}: a Google Drive URL is gdrive:/folder/path`)
  const out: string[] = []
  for (const raw of m[1]!.split('/')) {
    if (!raw) continue
    let name: string
    try {
      name = decodeURIComponent(raw)
    } catch {
      name = raw
    }
    if (name === '.' || name === '..') throw new UsageError(`--provider ${url}: the folder path may not contain "." or ".."`)
    out.push(name)
  }
  return out
}

/** `gdrive:/path`: the vault is the folder `/path/<root>` of My Drive. */
export async function openGdrive(url: string, context: RemoteContext): Promise<GdriveProvider> {
  const folder = [...urlFolder(url), ...context.root.split('/').filter(Boolean)]
  return gdrive({ folder, credentials: context.credentials, endpoints: gdriveEndpoints(context.env) })
}

/**
 * `cloudy provider login gdrive`: OAuth in the browser with the user's own OAuth client
 * (`--client-id`, `--client-secret`, else the ones already in credentials.toml); the tokens go
 * to the [gdrive] table.
 */
export async function loginGdrive(context: LoginContext): Promise<void> {
  const table = (await context.credentials.section('gdrive')) ?? {}
  const clientId = context.options['client-id'] ?? table.client_id
  const clientSecret = context.options['client-secret'] ?? (clientId === table.client_id ? table.client_secret : undefined)
  if (!clientId) throw new UsageError(CLIENT_HINT)
  if (!clientSecret) {
    throw new UsageError(
      `--client-secret is needed with --client-id: it is shown beside the client id in the Google Cloud console (Credentials page)`,
    )
  }
  const ep = gdriveEndpoints(context.env)
  const tokens = await login(context, {
    provider: 'gdrive',
    // Google shows no code on its page: without a browser here, it sends the browser elsewhere
    // to a loopback address that does not answer, and the user pastes that address.
    redirectUri: 'http://127.0.0.1:53682/callback',
    authorizeUrl: (redirectUri, challenge, state) => {
      const u = new URL(ep.authorize)
      u.search = new URLSearchParams({
        client_id: clientId,
        redirect_uri: redirectUri!,
        response_type: 'code',
        scope: SCOPE,
        code_challenge: challenge,
        code_challenge_method: 'S256',
        state,
        // A refresh token, every time: offline access, and the consent asked again.
        access_type: 'offline',
        prompt: 'consent',
      }).toString()
      return u.toString()
    },
    exchange: (code, redirectUri, verifier) =>
      tokenRequest(
        'gdrive',
        ep.token,
        {
          grant_type: 'authorization_code',
          code,
          redirect_uri: redirectUri!,
          client_id: clientId,
          client_secret: clientSecret,
          code_verifier: verifier,
        },
        'Google refused the login code; run "cloudy provider login gdrive" again',
      ),
    onAuthorizeUrl: (url) =>
      context.say(
        /^https?:/.test(url)
          ? `Open this address in a browser${context.noBrowser ? ' (on any device)' : ''} and allow Cloudy to use Google Drive:\n\n  ${url}\n`
          : url,
      ),
  })
  if (!tokens.refresh_token) {
    throw new ProviderError(
      'gdrive',
      'Google gave no refresh token; remove Cloudy at https://myaccount.google.com/permissions, then run "cloudy provider login gdrive" again',
      { kind: 'auth' },
    )
  }
  await context.credentials.update('gdrive', {
    client_id: clientId,
    client_secret: clientSecret,
    refresh_token: tokens.refresh_token,
    access_token: tokens.access_token,
    expires_at: new Date(Date.now() + (tokens.expires_in ?? 3600) * 1000).toISOString(),
  })
}
