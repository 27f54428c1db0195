/**
 * The Dropbox provider: the vault is a folder of the user's Dropbox, `dropbox:/path` →
 * `/path/<root>`, reached through the official SDK (`dropbox` 10). Keys are paths below that
 * folder; Dropbox makes the folders above a file by itself, so nothing is created up front.
 *
 * Tokens come from the [dropbox] table of credentials.toml, put there by
 * `cloudy provider login dropbox` (OAuth 2 with PKCE: Cloudy is a public client, it holds an app
 * key and no secret). The short-lived access token is refreshed with the refresh token when it
 * is missing, about to expire, or refused as expired, and written back for the next run.
 *
 * This module only says what a failure means (`TransientError` for what another try may cure,
 * `ProviderError` with a kind for the rest); the retry policy of `providers/retry.ts` decides
 * when to try again.
 *
 * Beyond the Provider interface, the provider has `watch(prefix, onChange, signal)`: Dropbox's
 * change feed (list_folder/longpoll), for real-time down-sync.
 */
import { Dropbox, DropboxAuth, DropboxResponseError, type files } from 'dropbox'
import type { CredentialStore } from '../lib/credentials.js'
import { AlreadyExistsError, CloudyError, NotFoundError, ProviderError, TransientError, UsageError } from '../lib/errors.js'
import { urlParams, type RemoteContext } from './index.js'
import { assertKey } from './keys.js'
import { login, type LoginContext, type OAuthTokens } from './oauth.js'
import type { ByteRange, ListOptions, ObjectInfo, Provider, ProviderChange, PutBody, PutOptions } from './provider.js'
import { isTransient } from './retry.js'

/**
 * Cloudy's Dropbox app key. PLACEHOLDER: it must be replaced with the app key of Cloudy's app
 * registered at https://www.dropbox.com/developers/apps (scoped access, permissions
 * files.metadata.read, files.content.read and files.content.write, PKCE, redirect
 * http://127.0.0.1). Until then `cloudy provider login dropbox --app-key KEY` names the user's own app.
 */
export const DEFAULT_APP_KEY: string = 'cloudy-unregistered-app-key'
const UNREGISTERED_APP_KEY = 'cloudy-unregistered-app-key'

/** Environment variable: one base address standing for every Dropbox host (tests, proxies). */
export const API_URL_VARIABLE = 'CLOUDY_DROPBOX_API_URL'

/** The hosts the SDK and the login talk to, as the override replaces them. */
const HOSTS = ['https://api.dropboxapi.com', 'https://content.dropboxapi.com', 'https://notify.dropboxapi.com', 'https://www.dropbox.com']
const TOKEN_URL = 'https://api.dropboxapi.com/oauth2/token'
const AUTHORIZE_URL = 'https://www.dropbox.com/oauth2/authorize'

/** A put up to this size is one upload call; a larger one an upload session in parts of this size. */
const CHUNK_BYTES = 8 * 1024 * 1024
/** An access token this close to its expiry is refreshed before use (as the SDK itself does). */
const REFRESH_MARGIN_MS = 5 * 60_000
/** How long one long poll of the change feed waits (the API allows 30–480 s). */
const LONGPOLL_SECONDS = 120

const LOGIN_HINT = 'run "cloudy provider login dropbox" to connect this computer to Dropbox again'

export interface DropboxProvider extends Provider {
  /**
   * Report changes of objects under `prefix` made from now on (by any client, this one too),
   * until `signal` aborts; then the promise resolves. Changes come in order, one `onChange`
   * at a time (a returned promise is awaited). The feed rides out network failures and rate
   * limits by itself (it is not under the retry policy, which wraps single operations); a
   * permanent failure (auth, the vault folder gone) rejects the promise.
   */
  watch(prefix: string, onChange: (change: ProviderChange) => void | Promise<void>, signal: AbortSignal): Promise<void>
}

/** Options of `dropbox()`. */
export interface DropboxOptions {
  /** The vault folder in the Dropbox, `/`-rooted, e.g. `/Backups/Cloudy`. */
  folder: string
  /** credentials.toml: the [dropbox] tokens are read from it, and refreshed ones written back. */
  credentials: CredentialStore
  /** One base address for every Dropbox host (`CLOUDY_DROPBOX_API_URL`). Default: Dropbox's own. */
  apiUrl?: string
}

// ---------------------------------------------------------------------------------------------
// HTTP: the fetch the SDK is given

/** What the SDK reads of a response (10.34 calls node-fetch v2's `buffer()` for downloads). */
interface SdkResponse {
  ok: boolean
  status: number
  statusText: string
  headers: Headers
  text(): Promise<string>
  json(): Promise<unknown>
  buffer(): Promise<Buffer>
  arrayBuffer(): Promise<ArrayBuffer>
}
type SdkFetch = (url: string, init?: RequestInit) => Promise<SdkResponse>

/** The address to use for `url`: the same, or moved onto the override base. */
function address(url: string, apiUrl: string | undefined): string {
  if (!apiUrl) return url
  const host = HOSTS.find((h) => url.startsWith(`${h}/`))
  // Anything else would leave the override and reach the real internet: refused.
  if (!host) throw new Error(`dropbox: no route for ${url.replace(/\?.*$/, '')} through ${API_URL_VARIABLE}`)
  return apiUrl + url.slice(host.length)
}

/** A dropped connection, a reset, a failed lookup: worth another try, unless we hung up. */
function networkFailure(name: string, e: unknown, signal: AbortSignal): Error {
  if (signal.aborted) return new ProviderError(name, 'the connection to Dropbox was closed', { cause: e })
  const cause = (e as { cause?: { code?: unknown; message?: unknown } }).cause
  const what = typeof cause?.code === 'string' ? cause.code : typeof cause?.message === 'string' ? cause.message : (e as Error).message
  return new TransientError(name, `network error talking to Dropbox (${what})`, { cause: e })
}

/** Node's fetch, moved onto the override base, with failures classified and `buffer()` added. */
function sdkFetch(name: string, apiUrl: string | undefined, signal: AbortSignal): SdkFetch {
  return async (url, init = {}) => {
    let res: Response
    try {
      res = await fetch(address(url, apiUrl), { ...init, signal })
    } catch (e) {
      throw networkFailure(name, e, signal)
    }
    const guard = async <T>(p: Promise<T>): Promise<T> => {
      try {
        return await p
      } catch (e) {
        throw networkFailure(name, e, signal)
      }
    }
    return {
      ok: res.ok,
      status: res.status,
      statusText: res.statusText,
      headers: res.headers,
      text: () => guard(res.text()),
      json: () => guard(res.json() as Promise<unknown>),
      arrayBuffer: () => guard(res.arrayBuffer()),
      buffer: async () => Buffer.from(await guard(res.arrayBuffer())),
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Errors

/** `path/not_found/..` → `path/not_found`; '' when the body is not a Dropbox error. */
function summaryOf(e: DropboxResponseError<unknown>): string {
  const body = e.error as { error_summary?: unknown } | undefined
  return typeof body?.error_summary === 'string' ? body.error_summary.replace(/\/[./]*$/, '') : ''
}

/** Whether the error's summary holds this tag at any depth (`path/conflict/file` has `conflict`). */
const has = (summary: string, tag: string) => summary.split('/').includes(tag)

const isApiError = (e: unknown, status?: number): e is DropboxResponseError<unknown> =>
  e instanceof DropboxResponseError && (status === undefined || e.status === status)

/** A lookup that found nothing at the path (or something that is not a file / folder). */
const notFound = (e: unknown) => isApiError(e, 409) && ['not_found', 'not_file', 'not_folder'].some((t) => has(summaryOf(e), t))

/** Milliseconds the server asked to wait: Retry-After (seconds or a date), else the body's retry_after. */
function retryAfterMs(e: DropboxResponseError<unknown>): number | undefined {
  const header = (e.headers as Headers | undefined)?.get?.('retry-after')
  if (header) {
    const s = Number(header)
    if (Number.isFinite(s)) return Math.max(0, s * 1000)
    const at = Date.parse(header)
    if (Number.isFinite(at)) return Math.max(0, at - Date.now())
  }
  const body = (e.error as { error?: { retry_after?: unknown } } | undefined)?.error
  return typeof body?.retry_after === 'number' ? body.retry_after * 1000 : undefined
}

/** Text of a plain-text error (400s), trimmed, with anything token-like taken out. */
function plainText(e: DropboxResponseError<unknown>): string {
  const text = typeof e.error === 'string' ? e.error : ''
  return text
    .replace(/Bearer\s+\S+/gi, 'Bearer ***')
    .replace(/[A-Za-z0-9._~+/=-]{40,}/g, '***')
    .slice(0, 200)
}

/** The 401s: the login no longer works, or lacks something. */
function authFailure(name: string, e: DropboxResponseError<unknown>): ProviderError {
  const summary = summaryOf(e)
  if (has(summary, 'missing_scope')) {
    return new ProviderError(
      name,
      "the Dropbox app lacks a permission Cloudy needs; enable files.metadata.read, files.content.read and files.content.write in the app's Permissions, then " +
        LOGIN_HINT,
      { cause: e, kind: 'auth' },
    )
  }
  if (has(summary, 'user_suspended')) {
    return new ProviderError(name, 'the Dropbox account is suspended; sign in at dropbox.com to see why', { cause: e, kind: 'auth' })
  }
  const why = has(summary, 'expired_access_token') ? 'the login has expired' : 'the login was revoked or is not valid'
  return new ProviderError(name, `Dropbox refuses this computer's login (${why}); ${LOGIN_HINT}`, { cause: e, kind: 'auth' })
}

/** What a failed API call means, for the retry policy and for the user. */
function classify(name: string, e: unknown): unknown {
  if (e instanceof CloudyError || !isApiError(e)) return e
  const summary = summaryOf(e)
  const detail = summary || `HTTP ${e.status}`
  if (e.status === 429 || has(summary, 'too_many_write_operations') || has(summary, 'too_many_requests')) {
    return new TransientError(name, `Dropbox asks to slow down (${detail})`, { cause: e, retryAfterMs: retryAfterMs(e) })
  }
  if (e.status >= 500)
    return new TransientError(name, `Dropbox had a server error (HTTP ${e.status})`, { cause: e, retryAfterMs: retryAfterMs(e) })
  if (e.status === 401) return authFailure(name, e)
  if (has(summary, 'insufficient_space')) {
    return new ProviderError(name, 'the Dropbox account is full: free some space in it or upgrade the plan, then run again', {
      cause: e,
      kind: 'quota',
    })
  }
  if (e.status === 403 || has(summary, 'no_write_permission')) {
    return new ProviderError(
      name,
      `Dropbox denies access to the vault folder (${detail}); check the folder's sharing settings or choose another folder`,
      {
        cause: e,
      },
    )
  }
  if (has(summary, 'malformed_path') || has(summary, 'disallowed_name')) {
    return new ProviderError(name, `Dropbox does not accept this folder name (${detail}); choose another with --provider dropbox:/PATH`, {
      cause: e,
    })
  }
  if (e.status === 400) {
    return new ProviderError(
      name,
      `Dropbox rejected a request as malformed (${plainText(e) || 'HTTP 400'}); this is a bug in Cloudy, please report it`,
      {
        cause: e,
      },
    )
  }
  return new ProviderError(name, `Dropbox refused the request (${detail})`, { cause: e })
}

// ---------------------------------------------------------------------------------------------
// Tokens

/** What the token endpoint gives. */
interface TokenAnswer extends OAuthTokens {
  token_type?: string
}

/** One call to /oauth2/token (form-encoded: secrets stay out of URLs and so out of any log). */
async function tokenRequest(name: string, fetchFn: SdkFetch, params: Record<string, string>, what: string): Promise<TokenAnswer> {
  const res = await fetchFn(TOKEN_URL, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(params).toString(),
  })
  const text = await res.text()
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {
    body = undefined
  }
  if (res.ok && typeof (body as TokenAnswer | undefined)?.access_token === 'string') return body as TokenAnswer
  if (res.status === 429 || res.status >= 500) {
    const e = new DropboxResponseError(res.status, res.headers, body ?? text)
    throw new TransientError(name, `Dropbox could not ${what} just now (HTTP ${res.status})`, { cause: e, retryAfterMs: retryAfterMs(e) })
  }
  // invalid_grant (revoked, expired code), invalid_client (unknown app key): only the code is told.
  const code =
    typeof (body as { error?: unknown } | undefined)?.error === 'string' ? (body as { error: string }).error : `HTTP ${res.status}`
  return Promise.reject(new ProviderError(name, `Dropbox refused to ${what} (${code.replace(/:.*/, '')}); ${LOGIN_HINT}`, { kind: 'auth' }))
}

/** `expires_at` as stored: an ISO time, or ms since the epoch; unreadable counts as expired. */
function parseExpiry(v: string | undefined): number | undefined {
  if (v === undefined || v === '') return undefined
  const n = /^\d+$/.test(v) ? Number(v) : Date.parse(v)
  return Number.isFinite(n) ? n : 0
}

/** The access token in use: refreshed once at a time, and written back to credentials.toml. */
class Tokens {
  #access: string | undefined
  #expiresAt: number | undefined
  #refreshing: Promise<void> | undefined

  constructor(
    private readonly name: string,
    private readonly auth: DropboxAuth,
    private readonly fetchFn: SdkFetch,
    private readonly credentials: CredentialStore,
    private readonly appKey: string,
    private readonly refreshToken: string | undefined,
    access: string | undefined,
    expiresAt: number | undefined,
  ) {
    this.#set(access, expiresAt)
  }

  get canRefresh(): boolean {
    return this.refreshToken !== undefined
  }

  #set(access: string | undefined, expiresAt: number | undefined): void {
    this.#access = access
    this.#expiresAt = expiresAt
    // The SDK puts whatever its auth holds into each request; it never refreshes by itself
    // (it has neither the refresh token nor the app key, and would put them in a URL).
    this.auth.setAccessToken(access as string)
  }

  /** A token good for a while yet; the one the request will carry. */
  async fresh(): Promise<string | undefined> {
    const expired = this.#expiresAt !== undefined && this.#expiresAt - Date.now() < REFRESH_MARGIN_MS
    if (this.#access && !expired) return this.#access
    if (!this.canRefresh) {
      if (this.#access) return this.#access // Dropbox will say whether it still works.
      throw new ProviderError(this.name, `this computer has no Dropbox login; ${LOGIN_HINT}`, { kind: 'auth' })
    }
    await this.refresh(this.#access)
    return this.#access
  }

  /** Replace `stale` by a new token, unless another call already did. */
  async refresh(stale: string | undefined): Promise<void> {
    if (this.#access !== stale && this.#access !== undefined) return
    this.#refreshing ??= this.#refresh().finally(() => (this.#refreshing = undefined))
    await this.#refreshing
  }

  async #refresh(): Promise<void> {
    const answer = await tokenRequest(
      this.name,
      this.fetchFn,
      { grant_type: 'refresh_token', refresh_token: this.refreshToken!, client_id: this.appKey },
      'renew the login',
    )
    const expiresAt = answer.expires_in === undefined ? undefined : Date.now() + answer.expires_in * 1000
    this.#set(answer.access_token, expiresAt)
    await this.credentials.update('dropbox', {
      access_token: answer.access_token,
      expires_at: expiresAt === undefined ? undefined : new Date(expiresAt).toISOString(),
    })
  }
}

// ---------------------------------------------------------------------------------------------
// Bodies

/**
 * The body in parts of `size` bytes, each flagged whether it is the last (an empty body is one
 * empty last part). A part is handed on only once a byte past it has arrived, so the last one
 * is known without reading ahead more than one part.
 */
async function* parts(body: PutBody, size: number): AsyncGenerator<{ data: Buffer; last: boolean }> {
  if (body instanceof Uint8Array) {
    const b = Buffer.from(body.buffer, body.byteOffset, body.byteLength)
    if (b.length === 0) yield { data: b, last: true }
    for (let i = 0; i < b.length; i += size) yield { data: b.subarray(i, i + size), last: i + size >= b.length }
    return
  }
  let held: Buffer[] = []
  let n = 0
  for await (const piece of body) {
    held.push(Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength))
    n += piece.byteLength
    if (n > size) {
      let all = Buffer.concat(held)
      while (all.length > size) {
        yield { data: all.subarray(0, size), last: false }
        all = all.subarray(size)
      }
      held = [all]
      n = all.length
    }
  }
  yield { data: Buffer.concat(held), last: true }
}

// ---------------------------------------------------------------------------------------------
// The provider

/** `/a/b` + `Cloudy` → `/a/b/Cloudy`; `/` + `Cloudy` → `/Cloudy`. */
function joinFolder(base: string, root: string): string {
  const segs = [...base.split('/'), ...root.split('/')].filter((s) => s !== '')
  return `/${segs.join('/')}`
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal.aborted) return resolve()
    const timer = setTimeout(done, ms)
    function done() {
      clearTimeout(timer)
      signal.removeEventListener('abort', done)
      resolve()
    }
    signal.addEventListener('abort', done)
  })

/** A Dropbox provider for the vault at `options.folder`. */
export async function dropbox(options: DropboxOptions): Promise<DropboxProvider> {
  const folder = options?.folder
  if (
    typeof folder !== 'string' ||
    !folder.startsWith('/') ||
    folder.split('/').some((s, i) => i > 0 && (s === '' || s === '.' || s === '..'))
  ) {
    throw new UsageError(`dropbox provider: folder must be a /-rooted path of plain names (got ${JSON.stringify(folder)})`)
  }
  const name = `dropbox:${folder}`
  const closed = new AbortController()
  const fetchFn = sdkFetch(name, options.apiUrl, closed.signal)
  const auth = new DropboxAuth({ fetch: fetchFn })
  const client = new Dropbox({ auth })

  const table = await options.credentials.section('dropbox')
  if (!table || (!table.refresh_token && !table.access_token)) {
    throw new ProviderError(name, `this computer has no Dropbox login in ${options.credentials.file}; ${LOGIN_HINT}`, { kind: 'auth' })
  }
  const tokens = new Tokens(
    name,
    auth,
    fetchFn,
    options.credentials,
    table.app_key || DEFAULT_APP_KEY,
    table.refresh_token || undefined,
    table.access_token || undefined,
    parseExpiry(table.expires_at),
  )

  /** Run one SDK call with a fresh token; a token refused as expired is renewed and the call made once more. */
  async function call<T>(fn: () => Promise<T>): Promise<T> {
    const used = await tokens.fresh()
    try {
      return await fn()
    } catch (e) {
      const stale = isApiError(e, 401) && ['expired_access_token', 'invalid_access_token'].some((t) => has(summaryOf(e), t))
      if (!stale || !tokens.canRefresh) throw e
      await tokens.refresh(used)
      return await fn()
    }
  }

  const pathOf = (key: string) => `${folder}/${key}`
  const depth = folder.split('/').length
  /** The key of a Dropbox path below the vault folder ('' for the folder itself). */
  const keyOf = (display: string) => display.split('/').slice(depth).join('/')

  /** Metadata at `path`, or undefined when nothing is there. */
  async function metadata(path: string) {
    try {
      return (await call(() => client.filesGetMetadata({ path }))).result
    } catch (e) {
      if (notFound(e)) return undefined
      throw classify(name, e)
    }
  }

  const info = (key: string, m: files.FileMetadata): ObjectInfo => {
    const mtimeMs = Date.parse(m.server_modified)
    return { key, size: m.size, ...(Number.isFinite(mtimeMs) ? { mtimeMs } : {}) }
  }

  /** A cursor on the vault folder from now on (for the change feed). */
  async function latestCursor(c: Dropbox): Promise<string> {
    try {
      return (await call(() => c.filesListFolderGetLatestCursor({ path: folder, recursive: true }))).result.cursor
    } catch (e) {
      if (notFound(e)) {
        throw new ProviderError(name, 'there is no vault folder to watch in this Dropbox; check --provider and --root', {
          cause: e,
          kind: 'missing',
        })
      }
      throw classify(name, e)
    }
  }

  return {
    name,
    // Dropbox serves each transfer at a modest rate; a few at once hide the round trips.
    parallelism: 4,

    async get(key: string, range?: ByteRange): Promise<Uint8Array> {
      assertKey(name, key)
      const path = pathOf(key)
      if (range && range.length <= 0) {
        const m = await metadata(path)
        if (m?.['.tag'] !== 'file') throw new NotFoundError(name, key)
        return new Uint8Array(0)
      }
      // The SDK has no range argument: a client of its own carries the Range header.
      const c = range ? new Dropbox({ auth, customHeaders: { Range: `bytes=${range.offset}-${range.offset + range.length - 1}` } }) : client
      try {
        const r = await call(() => c.filesDownload({ path }))
        const data = (r.result as files.FileMetadata & { fileBinary: Buffer }).fileBinary
        // A server (or proxy) that ignores Range sends the whole file.
        return range && r.status === 200 ? data.subarray(range.offset, range.offset + range.length) : data
      } catch (e) {
        if (notFound(e)) throw new NotFoundError(name, key)
        // A range that starts at or past the end: nothing there, but the file is.
        if (range && isApiError(e, 416)) return new Uint8Array(0)
        throw classify(name, e)
      }
    },

    async put(key: string, body: PutBody, opts: PutOptions = {}): Promise<void> {
      assertKey(name, key)
      const commit = (): files.CommitInfo => ({
        path: pathOf(key),
        // add + strict_conflict: any file already there is a conflict, even one with the same bytes.
        mode: opts.ifAbsent ? { '.tag': 'add' } : { '.tag': 'overwrite' },
        autorename: false,
        strict_conflict: opts.ifAbsent === true,
        mute: true,
      })
      try {
        // Dropbox commits a file only at upload or session finish: a body that fails before
        // then leaves nothing at the key (the session is dropped by Dropbox after a while).
        let session: string | undefined
        let offset = 0
        for await (const { data, last } of parts(body, CHUNK_BYTES)) {
          if (session === undefined && last) {
            await call(() => client.filesUpload({ ...commit(), contents: data }))
          } else if (session === undefined) {
            session = (await call(() => client.filesUploadSessionStart({ close: false, contents: data }))).result.session_id
          } else {
            const cursor = { session_id: session, offset }
            if (last) await call(() => client.filesUploadSessionFinish({ cursor, commit: commit(), contents: data }))
            else await call(() => client.filesUploadSessionAppendV2({ cursor, close: false, contents: data }))
          }
          offset += data.length
        }
      } catch (e) {
        if (isApiError(e, 409)) {
          const summary = summaryOf(e)
          if (opts.ifAbsent && has(summary, 'conflict') && has(summary, 'file')) throw new AlreadyExistsError(name, key)
          if (has(summary, 'conflict')) {
            throw new ProviderError(name, `cannot store ${key}: something else is in the way in the vault folder (${summary})`, {
              cause: e,
            })
          }
          // The session expired or lost track of the bytes: a new try starts a new one.
          if (has(summary, 'lookup_failed')) throw new TransientError(name, `upload of ${key} was interrupted (${summary})`, { cause: e })
        }
        throw classify(name, e)
      }
    },

    async *list(prefix: string, options?: ListOptions): AsyncIterable<ObjectInfo> {
      assertKey(name, prefix, true)
      // The deepest folder the prefix names in full; the rest is filtered here.
      const dir = prefix.slice(0, prefix.lastIndexOf('/') + 1).replace(/\/$/, '')
      const lowerPrefix = prefix.toLowerCase()
      let page: files.ListFolderResult
      // The cursor that fetched a page is where a broken listing picks up again ('' = the first).
      let fetchedWith = options?.resume ?? ''
      const first = async () => (await call(() => client.filesListFolder({ path: dir ? pathOf(dir) : folder, recursive: true }))).result
      try {
        // A cursor Dropbox has reset: the listing starts over.
        page = fetchedWith
          ? await call(() => client.filesListFolderContinue({ cursor: fetchedWith })).then(
              (r) => r.result,
              (e: unknown) => {
                if (!(isApiError(e, 409) && has(summaryOf(e), 'reset'))) throw e
                fetchedWith = ''
                return first()
              },
            )
          : await first()
      } catch (e) {
        // No folder yet is an empty vault: Dropbox makes folders only when a file goes in.
        if (notFound(e)) return
        throw classify(name, e)
      }
      for (;;) {
        for (const entry of page.entries) {
          if (entry['.tag'] !== 'file') continue
          const stored = keyOf(entry.path_display ?? entry.path_lower ?? '')
          // Dropbox ignores case: the prefix is matched so, and kept as the caller wrote it.
          if (!stored.toLowerCase().startsWith(lowerPrefix)) continue
          const key = prefix + stored.slice(prefix.length)
          try {
            assertKey(name, key)
          } catch {
            continue // not one of Cloudy's objects (a file some other app or the user put there)
          }
          yield { ...info(key, entry), resume: fetchedWith }
        }
        if (!page.has_more) return
        const cursor = page.cursor
        fetchedWith = cursor
        try {
          page = (await call(() => client.filesListFolderContinue({ cursor }))).result
        } catch (e) {
          if (isApiError(e, 409) && has(summaryOf(e), 'reset')) {
            throw new TransientError(name, 'Dropbox restarted the listing; listing again', { cause: e })
          }
          if (notFound(e)) return
          throw classify(name, e)
        }
      }
    },

    async delete(key: string): Promise<void> {
      assertKey(name, key)
      const path = pathOf(key)
      // Only a file is an object: delete_v2 on a folder would take all below it.
      const m = await metadata(path)
      if (m?.['.tag'] !== 'file') return
      try {
        // parent_rev: the file looked at is the one deleted, never a folder put there since.
        await call(() => client.filesDeleteV2({ path, parent_rev: m.rev }))
      } catch (e) {
        if (notFound(e)) return
        throw classify(name, e)
      }
    },

    async stat(key: string): Promise<ObjectInfo | undefined> {
      assertKey(name, key)
      const m = await metadata(pathOf(key))
      return m?.['.tag'] === 'file' ? info(key, m) : undefined
    },

    async watch(prefix: string, onChange: (change: ProviderChange) => void | Promise<void>, signal: AbortSignal): Promise<void> {
      assertKey(name, prefix, true)
      const stop = AbortSignal.any([signal, closed.signal])
      // Its own client, so stopping the watch hangs up its long poll and nothing else.
      const c = new Dropbox({ auth, fetch: sdkFetch(name, options.apiUrl, stop) })
      const lowerPrefix = prefix.toLowerCase()
      let cursor: string | undefined
      let failures = 0
      while (!stop.aborted) {
        try {
          cursor ??= await latestCursor(c)
          const poll = await c.filesListFolderLongpoll({ cursor, timeout: LONGPOLL_SECONDS })
          if (poll.result.changes) {
            let page: files.ListFolderResult
            do {
              const from: string = cursor
              page = (await call(() => c.filesListFolderContinue({ cursor: from }))).result
              for (const entry of page.entries) {
                const key = keyOf(entry.path_display ?? entry.path_lower ?? '')
                const lower = key.toLowerCase()
                if (entry['.tag'] === 'deleted') {
                  // A folder deleted above the prefix (a whole space, the vault folder) takes
                  // everything under the prefix with it.
                  if (lower.startsWith(lowerPrefix) || key === '' || lowerPrefix.startsWith(lower + '/'))
                    await onChange({ type: 'delete', key })
                  continue
                }
                if (key === '' || !lower.startsWith(lowerPrefix)) continue
                if (entry['.tag'] === 'file') await onChange({ type: 'put', ...info(key, entry) })
              }
              cursor = page.cursor
            } while (page.has_more)
          }
          failures = 0
          // Dropbox may ask a client to poll less often.
          if (poll.result.backoff) await sleep(poll.result.backoff * 1000, stop)
        } catch (e) {
          if (stop.aborted) return
          if (isApiError(e, 409) && has(summaryOf(e), 'reset')) {
            cursor = undefined
            await onChange({ type: 'resync' })
            continue
          }
          const failure = classify(name, e)
          if (!isTransient(failure)) throw failure
          failures++
          const asked = failure instanceof TransientError ? (failure.retryAfterMs ?? 0) : 0
          await sleep(Math.max(asked, Math.min(60_000, 500 * 2 ** failures)), stop)
        }
      }
    },

    close(): Promise<void> {
      closed.abort()
      return Promise.resolve()
    },
  }
}

/** The override base from the environment, checked; undefined for Dropbox's own hosts. */
function apiUrlFrom(env: NodeJS.ProcessEnv): string | undefined {
  const v = env[API_URL_VARIABLE]
  if (v === undefined || v === '') return undefined
  let u: URL
  try {
    u = new URL(v)
  } catch {
    throw new UsageError(`${API_URL_VARIABLE}: "${v}" is not an address; use http(s)://host:port`)
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:')
    throw new UsageError(`${API_URL_VARIABLE}: "${v}" must be an http or https address`)
  return v.replace(/\/+$/, '')
}

/** `dropbox:/path` (the whole Dropbox: `dropbox:/`). */
export async function openDropbox(url: string, context: RemoteContext): Promise<DropboxProvider> {
  urlParams(url, [])
  const raw = url.replace(/\?.*$/, '').slice('dropbox:'.length)
  if (raw !== '' && !raw.startsWith('/'))
    throw new UsageError(`--provider ${url}: a Dropbox folder is written dropbox:/path (from the top of the Dropbox)`)
  const segs = raw.split('/').filter((s, i, all) => !(s === '' && (i === 0 || i === all.length - 1)))
  let names: string[]
  try {
    names = segs.map((s) => decodeURIComponent(s))
  } catch {
    throw new UsageError(`--provider ${url}: the path has a broken %-escape`)
  }
  if (names.some((s) => s === '' || s === '.' || s === '..')) {
    throw new UsageError(`--provider ${url}: the Dropbox path must be plain folder names, without "//", "." or ".."`)
  }
  const folder = joinFolder(`/${names.join('/')}`, context.root)
  if (folder === '/')
    throw new UsageError(
      `--provider ${url}: the vault needs a folder of its own, not the top of the Dropbox; name one (dropbox:/PATH) or --root`,
    )
  return dropbox({
    folder,
    credentials: context.credentials,
    apiUrl: apiUrlFrom(context.env),
  })
}

/**
 * `cloudy provider login dropbox`: the user allows Cloudy in the browser (OAuth 2 with PKCE and
 * a loopback redirect, offline access), and the tokens go into the [dropbox] table.
 */
export async function loginDropbox(context: LoginContext): Promise<void> {
  const name = 'dropbox'
  const current = await context.credentials.section('dropbox')
  const appKey = context.options['app-key'] || current?.app_key || DEFAULT_APP_KEY
  if (appKey === UNREGISTERED_APP_KEY) {
    throw new UsageError(
      'this build of Cloudy has no Dropbox app key of its own yet: create an app at https://www.dropbox.com/developers/apps ' +
        '(scoped access; permissions files.metadata.read, files.content.read, files.content.write; redirect URI http://127.0.0.1) ' +
        'and run: cloudy provider login dropbox --app-key KEY. To join a vault another computer made, use its key: ' +
        '"cloudy provider key dropbox" on that computer prints it.',
    )
  }
  const apiUrl = apiUrlFrom(context.env)
  const fetchFn = sdkFetch(name, apiUrl, new AbortController().signal)
  const tokens = await login(context, {
    provider: name,
    // Without a redirect (no browser here), Dropbox shows the code on its page.
    authorizeUrl: (redirectUri, challenge, state) =>
      address(AUTHORIZE_URL, apiUrl) +
      '?' +
      new URLSearchParams({
        client_id: appKey,
        response_type: 'code',
        ...(redirectUri ? { redirect_uri: redirectUri } : {}),
        state,
        code_challenge: challenge,
        code_challenge_method: 'S256',
        token_access_type: 'offline',
      }).toString(),
    exchange: (code, redirectUri, verifier) =>
      tokenRequest(
        name,
        fetchFn,
        {
          grant_type: 'authorization_code',
          code,
          client_id: appKey,
          code_verifier: verifier,
          ...(redirectUri ? { redirect_uri: redirectUri } : {}),
        },
        'complete the login',
      ),
    onAuthorizeUrl: (url) =>
      context.say(
        /^https?:/.test(url)
          ? `To connect Cloudy to your Dropbox, open this address in a browser${context.noBrowser ? ' (on any device)' : ''} and allow access:\n\n  ${url}\n`
          : url,
      ),
  })
  if (!tokens.refresh_token) {
    throw new ProviderError(name, `Dropbox gave no refresh token (offline access); ${LOGIN_HINT}`, { kind: 'auth' })
  }
  await context.credentials.update('dropbox', {
    app_key: appKey,
    refresh_token: tokens.refresh_token,
    access_token: tokens.access_token,
    expires_at: tokens.expires_in === undefined ? undefined : new Date(Date.now() + tokens.expires_in * 1000).toISOString(),
  })
}
