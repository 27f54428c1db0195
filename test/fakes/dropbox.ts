/**
 * A fake of the Dropbox API v2, exactly the endpoints Cloudy's Dropbox provider uses, behaving
 * as the HTTP documentation describes: RPC calls take JSON bodies; content calls take their
 * arguments in the `Dropbox-API-Arg` header and give download metadata in `Dropbox-API-Result`;
 * endpoint errors are 409 with `error_summary` and a tagged `error`; 401 for expired or revoked
 * tokens; 429 with Retry-After; paths are case-insensitive and case-preserving; folders appear
 * implicitly on upload and stay when emptied; files commit only at upload or session finish;
 * listings page with `cursor` / `has_more`, and the same cursors feed `list_folder/continue`
 * (changes since) and `list_folder/longpoll` (no auth). OAuth: `/oauth2/authorize` answers at
 * once as if the user clicked Allow (redirecting to `redirect_uri`, or, without one, showing
 * the code on the page for the user to copy), `/oauth2/token` takes the authorization-code
 * grant with PKCE and the refresh-token grant of a public client.
 *
 * One account, in memory, on 127.0.0.1. The provider reaches it through
 * `CLOUDY_DROPBOX_API_URL`, which stands for every Dropbox host at once (the paths of the
 * api, content and notify hosts do not overlap).
 */
import { createHash, randomBytes } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { TestServer } from '../../scripts/servers/test-server.js'
import { readRange } from './http-range.js'

export interface DropboxFakeOptions {
  /** The app key of the one registered app. Default `cloudy-test-app`. */
  appKey?: string
  /** How long an access token lives, in ms. Default 4 hours, as Dropbox's. */
  tokenLifetimeMs?: number
  /** Most entries in one list_folder page (a smaller `limit` wins). Default 100. */
  pageSize?: number
  /** Share of API calls (0..1) answered 429 too_many_requests at random. Default 0. */
  rateLimit?: number
  /** The Retry-After of those 429s, in seconds. Default 1. */
  retryAfterSeconds?: number
  /** Space of the account, in bytes. Default unlimited. */
  quotaBytes?: number
}

/** One request as the fake saw it. */
export interface FakeHit {
  /** The path, e.g. `/2/files/upload`. */
  endpoint: string
  /** The status answered (0 while it is still waiting, as a long poll does). */
  status: number
  /** Bytes of the request body. */
  bytes: number
}

interface FileEntry {
  tag: 'file'
  display: string
  id: string
  rev: string
  content: Buffer
  modified: string
}
interface FolderEntry {
  tag: 'folder'
  display: string
  id: string
}
type Entry = FileEntry | FolderEntry

/** An upload session: bytes received so far, committed only at finish. */
interface Session {
  parts: Buffer[]
  size: number
  closed: boolean
  expires: number
}

/** One change of the account: an entry's new state, or its deletion (`entry` undefined). */
interface LogRecord {
  seq: number
  lower: string
  display: string
  entry: Entry | undefined
}

/** What a cursor stands for: the changes under `p` in (`f`, `t`], from the `o`-th on. */
interface Cursor {
  p: string
  r: boolean
  f: number
  t?: number
  o: number
  l: number
}

class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
    readonly headers: Record<string, string> = {},
  ) {
    super(typeof body === 'string' ? body : JSON.stringify(body))
  }
}

const MAX_BODY = 150 * 1024 * 1024
const SESSION_LIFETIME_MS = 7 * 24 * 3600_000

/** `path/not_found/..`: the summary of a nested union, with Dropbox's varying tail of dots. */
function conflict409(parts: string[], error: unknown): ApiError {
  return new ApiError(409, { error_summary: `${parts.join('/')}/${'.'.repeat(2 + Math.floor(Math.random() * 2))}`, error })
}

/** A LookupError or WriteError: its tag path and its JSON. */
type Union = { parts: string[]; json: Record<string, unknown> }
const lookup = (tag: 'not_found' | 'not_file' | 'not_folder' | 'malformed_path'): Union => ({
  parts: [tag],
  json: tag === 'malformed_path' ? { '.tag': tag, malformed_path: null } : { '.tag': tag },
})
const writeConflict = (what: 'file' | 'folder' | 'file_ancestor'): Union => ({
  parts: ['conflict', what],
  json: { '.tag': 'conflict', conflict: { '.tag': what } },
})
const insufficientSpace: Union = { parts: ['insufficient_space'], json: { '.tag': 'insufficient_space' } }
const malformedWrite: Union = { parts: ['malformed_path'], json: { '.tag': 'malformed_path', malformed_path: null } }

/** Dropbox's content hash: SHA-256 over the SHA-256 of each 4 MiB block. */
function contentHash(data: Buffer): string {
  const block = 4 * 1024 * 1024
  const outer = createHash('sha256')
  for (let i = 0; i < data.length; i += block)
    outer.update(
      createHash('sha256')
        .update(data.subarray(i, i + block))
        .digest(),
    )
  return outer.digest('hex')
}

/** A DropboxTimestamp: ISO 8601 to the second, UTC. */
const timestamp = () => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z')

/** JSON safe in an HTTP header: non-ASCII escaped, as the API does. */
const headerJson = (v: unknown) =>
  JSON.stringify(v).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)

const base64url = (b: Buffer) => b.toString('base64url')

/** `/a/b` → `/a` ; `/a` → `` (the root). */
const parentOf = (lower: string) => lower.slice(0, lower.lastIndexOf('/'))

export class DropboxFake implements TestServer {
  readonly appKey: string
  /** Every request in arrival order. */
  readonly hits: FakeHit[] = []
  credentials: Record<string, Record<string, string>> = {}
  env: Record<string, string> = {}
  /** The base address standing for every Dropbox host. */
  url = ''

  tokenLifetimeMs: number
  pageSize: number
  rateLimit: number
  retryAfterSeconds: number
  quotaBytes: number

  readonly #server: Server
  readonly #entries = new Map<string, Entry>()
  readonly #log: LogRecord[] = []
  #seq = 0
  #folderCount = 0
  readonly #accessTokens = new Map<string, number>()
  readonly #refreshTokens = new Set<string>()
  readonly #codes = new Map<string, { challenge: string; method: string; redirectUri: string; offline: boolean; expires: number }>()
  readonly #sessions = new Map<string, Session>()
  readonly #waiters = new Set<() => void>()
  #throttle: { count: number; retryAfter: number } | undefined
  #failures: { count: number; status: number } | undefined
  #denyLogin = false

  constructor(options: DropboxFakeOptions = {}) {
    this.appKey = options.appKey ?? 'cloudy-test-app'
    this.tokenLifetimeMs = options.tokenLifetimeMs ?? 4 * 3600_000
    this.pageSize = options.pageSize ?? 100
    this.rateLimit = options.rateLimit ?? 0
    this.retryAfterSeconds = options.retryAfterSeconds ?? 1
    this.quotaBytes = options.quotaBytes ?? Number.POSITIVE_INFINITY
    this.#server = createServer((req, res) => void this.#handle(req, res))
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject)
      this.#server.listen(0, '127.0.0.1', () => resolve())
    })
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`
    this.env = { CLOUDY_DROPBOX_API_URL: this.url }
    this.credentials = { dropbox: { app_key: this.appKey, refresh_token: this.grant() } }
    return this
  }

  /** A fresh, empty folder of the account, as a provider URL. */
  newUrl(): string {
    return `dropbox:/test-${++this.#folderCount}-${randomBytes(4).toString('hex')}`
  }

  async stop(): Promise<void> {
    // Hanging up ends the waiting long polls too (their responses close).
    this.#server.closeAllConnections()
    await new Promise<void>((r) => this.#server.close(() => r()))
  }

  // ---- test controls ----

  /** A new refresh token, as if the user had authorised the app once more. */
  grant(): string {
    const token = `rt.${base64url(randomBytes(32))}`
    this.#refreshTokens.add(token)
    return token
  }

  /** An access token that expires after `lifetimeMs` (negative: already expired). */
  accessToken(lifetimeMs = this.tokenLifetimeMs): string {
    const token = `sl.${base64url(randomBytes(48))}`
    this.#accessTokens.set(token, Date.now() + lifetimeMs)
    return token
  }

  /**
   * The user disconnects the app: every token given so far, access and refresh, stops working.
   * `credentials` then hold a new grant, so computers set up later still connect.
   */
  revoke(): void {
    this.#accessTokens.clear()
    this.#refreshTokens.clear()
    this.credentials = { dropbox: { app_key: this.appKey, refresh_token: this.grant() } }
  }

  /** The next `count` API calls are answered 429 with this Retry-After. */
  throttle(count: number, retryAfterSeconds = this.retryAfterSeconds): void {
    this.#throttle = { count, retryAfter: retryAfterSeconds }
  }

  /** The next `count` API calls fail with this server error. */
  failNext(count: number, status = 503): void {
    this.#failures = { count, status }
  }

  /** The next login is refused, as if the user clicked Cancel. */
  denyNextLogin(): void {
    this.#denyLogin = true
  }

  /** How many requests reached this endpoint (e.g. `/2/files/upload_session/start`), with this answer if given. */
  count(endpoint: string, status?: number): number {
    return this.hits.filter((h) => h.endpoint === endpoint && (status === undefined || h.status === status)).length
  }

  /** A file's bytes, by path (any case), or undefined. */
  file(path: string): Buffer | undefined {
    const e = this.#entries.get(path.toLowerCase())
    return e?.tag === 'file' ? e.content : undefined
  }

  /** Write a file as another Dropbox client would (the desktop app, the web site). */
  writeFile(path: string, content: Buffer): void {
    const r = this.#commit(path, content, 'overwrite', false)
    if ('error' in r) throw new Error(`writeFile ${path}: ${r.error.parts.join('/')}`)
  }

  /** Long polls waiting for a change right now. */
  get waiting(): number {
    return this.#waiters.size
  }

  /** Bytes in use. */
  get used(): number {
    let n = 0
    for (const e of this.#entries.values()) if (e.tag === 'file') n += e.content.length
    return n
  }

  // ---- HTTP ----

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1')
    const endpoint = url.pathname
    // Recorded on arrival, so a test can see a long poll that is still waiting.
    const hit: FakeHit = { endpoint, status: 0, bytes: 0 }
    this.hits.push(hit)
    let status = 500
    try {
      const body = await readBody(req)
      hit.bytes = body.length
      if (endpoint === '/oauth2/authorize' && req.method === 'GET') {
        status = this.#authorize(url, res)
      } else if (endpoint === '/oauth2/token' && req.method === 'POST') {
        status = this.#token(url, req, body, res)
      } else if (endpoint.startsWith('/2/') && (req.method === 'POST' || (req.method === 'GET' && endpoint === '/2/files/download'))) {
        status = await this.#api(endpoint.slice(3), url, req, body, res)
      } else {
        throw new ApiError(404, `Unknown endpoint ${endpoint}`)
      }
    } catch (e) {
      if (!(e instanceof ApiError)) {
        status = 500
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' }).end(`Internal error: ${(e as Error).message}`)
        else res.destroy()
      } else {
        status = e.status
        const text = typeof e.body === 'string'
        res
          .writeHead(e.status, { 'content-type': text ? 'text/plain; charset=utf-8' : 'application/json', ...e.headers })
          .end(text ? e.body : JSON.stringify(e.body))
      }
    }
    hit.status = status
  }

  #authorize(url: URL, res: ServerResponse): number {
    const q = url.searchParams
    if (q.get('client_id') !== this.appKey) throw new ApiError(400, 'Invalid client_id')
    if (q.get('response_type') !== 'code') throw new ApiError(400, 'response_type must be "code" for this app')
    const redirectUri = q.get('redirect_uri') ?? ''
    // Without a redirect, the page shows the code for the user to copy (the no-browser flow).
    if (redirectUri !== '' && !/^http:\/\/(127\.0\.0\.1|localhost)(:\d+)?\//.test(redirectUri))
      throw new ApiError(400, 'Invalid redirect_uri')
    const challenge = q.get('code_challenge')
    const method = q.get('code_challenge_method') ?? 'plain'
    if (!challenge || !['S256', 'plain'].includes(method)) throw new ApiError(400, 'code_challenge is required for apps without a secret')
    const back = new URL(redirectUri || 'http://127.0.0.1/')
    const state = q.get('state')
    if (state !== null) back.searchParams.set('state', state)
    if (this.#denyLogin) {
      this.#denyLogin = false
      back.searchParams.set('error', 'access_denied')
      back.searchParams.set('error_description', 'The user chose not to give your app access to their Dropbox account.')
    } else {
      const code = base64url(randomBytes(24))
      this.#codes.set(code, {
        challenge,
        method,
        redirectUri,
        offline: q.get('token_access_type') === 'offline',
        expires: Date.now() + 600_000,
      })
      back.searchParams.set('code', code)
      if (!redirectUri) {
        res
          .writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
          .end(`<!doctype html><p>Enter this code into Cloudy to finish connecting: <code>${code}</code></p>`)
        return 200
      }
    }
    res.writeHead(302, { location: back.toString() }).end()
    return 302
  }

  #token(url: URL, req: IncomingMessage, body: Buffer, res: ServerResponse): number {
    // Parameters go in the form body or the query string; the API takes either.
    const params = new URLSearchParams(url.search)
    if ((req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')) {
      for (const [k, v] of new URLSearchParams(body.toString('utf8'))) params.set(k, v)
    }
    const fail = (error: string, description: string) => new ApiError(400, { error, error_description: description })
    if (params.get('client_id') !== this.appKey) throw fail('invalid_client', 'Invalid client_id or client_secret')
    const expiresIn = Math.max(1, Math.round(this.tokenLifetimeMs / 1000))
    let answer: Record<string, unknown>
    switch (params.get('grant_type')) {
      case 'authorization_code': {
        const code = params.get('code') ?? ''
        const grant = this.#codes.get(code)
        this.#codes.delete(code)
        if (!grant || grant.expires < Date.now()) throw fail('invalid_grant', "code doesn't exist or has expired")
        if ((params.get('redirect_uri') ?? '') !== grant.redirectUri) throw fail('invalid_grant', 'redirect_uri mismatch')
        const verifier = params.get('code_verifier') ?? ''
        const computed = grant.method === 'S256' ? base64url(createHash('sha256').update(verifier).digest()) : verifier
        if (!verifier || computed !== grant.challenge) throw fail('invalid_grant', 'invalid code verifier')
        answer = {
          access_token: this.accessToken(),
          token_type: 'bearer',
          expires_in: expiresIn,
          scope: 'files.content.read files.content.write files.metadata.read',
          uid: '12345',
          account_id: 'dbid:AAfake',
          ...(grant.offline ? { refresh_token: this.grant() } : {}),
        }
        break
      }
      case 'refresh_token':
        if (!this.#refreshTokens.has(params.get('refresh_token') ?? '')) throw fail('invalid_grant', 'refresh token is invalid or revoked')
        answer = { access_token: this.accessToken(), token_type: 'bearer', expires_in: expiresIn }
        break
      default:
        throw fail('unsupported_grant_type', 'grant_type must be authorization_code or refresh_token')
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer))
    return 200
  }

  async #api(route: string, url: URL, req: IncomingMessage, body: Buffer, res: ServerResponse): Promise<number> {
    const content = [
      'files/upload',
      'files/upload_session/start',
      'files/upload_session/append_v2',
      'files/upload_session/finish',
      'files/download',
    ].includes(route)
    const noAuth = route === 'files/list_folder/longpoll'
    const bad = (why: string) => new ApiError(400, `Error in call to API function "${route}": ${why}`)
    const auth = req.headers.authorization
    if (noAuth) {
      if (auth) throw bad('Your request includes an Authorization header, but this function does not use it.')
    } else {
      if (!auth) throw bad('Must provide HTTP header "Authorization" or URL parameter "authorization".')
      const token = /^Bearer (\S+)$/.exec(auth)?.[1]
      const expires = token === undefined ? undefined : this.#accessTokens.get(token)
      if (expires === undefined)
        throw new ApiError(401, { error_summary: 'invalid_access_token/...', error: { '.tag': 'invalid_access_token' } })
      if (expires <= Date.now())
        throw new ApiError(401, { error_summary: 'expired_access_token/...', error: { '.tag': 'expired_access_token' } })
    }
    if (this.#failures && this.#failures.count > 0) {
      this.#failures.count--
      throw new ApiError(this.#failures.status, 'Service Unavailable', this.#failures.status === 503 ? { 'retry-after': '0' } : {})
    }
    let retryAfter: number | undefined
    if (this.#throttle && this.#throttle.count > 0) {
      this.#throttle.count--
      retryAfter = this.#throttle.retryAfter
    } else if (!noAuth && Math.random() < this.rateLimit) retryAfter = this.retryAfterSeconds
    if (retryAfter !== undefined) {
      throw new ApiError(
        429,
        { error_summary: 'too_many_requests/..', error: { reason: { '.tag': 'too_many_requests' }, retry_after: retryAfter } },
        { 'retry-after': String(retryAfter) },
      )
    }

    let arg: Record<string, unknown>
    if (content) {
      const type = req.headers['content-type']
      if (route !== 'files/download' && type !== 'application/octet-stream') {
        throw bad(
          `Bad HTTP "Content-Type" header: "${type ?? ''}". Expecting one of "application/octet-stream", "text/plain; charset=dropbox-cors-hack".`,
        )
      }
      const raw = (req.headers['dropbox-api-arg'] as string | undefined) ?? url.searchParams.get('arg')
      if (raw === null || raw === undefined) throw bad('Must provide HTTP header "Dropbox-API-Arg" or URL parameter "arg".')
      arg = parseArg(raw, () => bad('HTTP header "Dropbox-API-Arg": could not decode input as JSON'))
    } else {
      if (!(req.headers['content-type'] ?? '').startsWith('application/json')) {
        throw bad(`Bad HTTP "Content-Type" header: "${req.headers['content-type'] ?? ''}". Expecting one of "application/json".`)
      }
      arg = parseArg(body.toString('utf8'), () => bad('request body: could not decode input as JSON'))
    }

    let result: unknown
    switch (route) {
      case 'files/upload':
        result = this.#upload(arg, body, bad)
        break
      case 'files/upload_session/start':
        result = this.#sessionStart(arg, body)
        break
      case 'files/upload_session/append_v2':
        result = this.#sessionAppend(arg, body, bad)
        break
      case 'files/upload_session/finish':
        result = this.#sessionFinish(arg, body, bad)
        break
      case 'files/download':
        return this.#download(arg, req, res, bad)
      case 'files/get_metadata':
        result = this.#getMetadata(arg, bad)
        break
      case 'files/list_folder':
        result = this.#listFolder(arg, bad)
        break
      case 'files/list_folder/continue':
        result = this.#listContinue(arg, bad)
        break
      case 'files/list_folder/get_latest_cursor':
        result = this.#latestCursor(arg, bad)
        break
      case 'files/list_folder/longpoll':
        result = await this.#longpoll(arg, res, bad)
        break
      case 'files/delete_v2':
        result = this.#delete(arg, bad)
        break
      default:
        throw new ApiError(400, `Unknown API function: "${route}"`)
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(result))
    return 200
  }

  // ---- the store ----

  /** A path argument checked as the API does: `/`-rooted, no empty, `.` or `..` segment. */
  #path(arg: Record<string, unknown>, bad: (why: string) => ApiError, allowRoot = false): string | undefined {
    const p = arg.path
    if (typeof p !== 'string') throw bad('path: missing required field')
    if (p === '' && allowRoot) return ''
    if (!p.startsWith('/')) throw bad(`path: '${p}' did not match pattern '(/(.|[\\r\\n])*)|id:.*|(ns:[0-9]+(/.*)?)'`)
    const segs = p.split('/').slice(1)
    if (segs.some((s) => s === '' || s === '.' || s === '..')) return undefined
    return p
  }

  #meta(e: Entry): Record<string, unknown> {
    const name = e.display.slice(e.display.lastIndexOf('/') + 1)
    const common = { name, path_lower: e.display.toLowerCase(), path_display: e.display, id: e.id }
    if (e.tag === 'folder') return { '.tag': 'folder', ...common }
    return {
      '.tag': 'file',
      ...common,
      client_modified: e.modified,
      server_modified: e.modified,
      rev: e.rev,
      size: e.content.length,
      is_downloadable: true,
      content_hash: contentHash(e.content),
    }
  }

  #record(lower: string, display: string, entry: Entry | undefined): void {
    if (entry) this.#entries.set(lower, entry)
    else this.#entries.delete(lower)
    this.#log.push({ seq: ++this.#seq, lower, display, entry })
    for (const wake of this.#waiters) wake()
  }

  /** Store a file atomically; folders above it appear as needed, keeping their case. */
  #commit(path: string, content: Buffer, mode: string, strictConflict: boolean): { meta: Record<string, unknown> } | { error: Union } {
    const segs = path.split('/').slice(1)
    if (segs.some((s) => s === '' || s === '.' || s === '..')) return { error: malformedWrite }
    const lower = path.toLowerCase()
    let display = ''
    for (let i = 0; i < segs.length - 1; i++) {
      const at = `/${segs.slice(0, i + 1).join('/')}`.toLowerCase()
      const e = this.#entries.get(at)
      if (e?.tag === 'file') return { error: writeConflict('file_ancestor') }
      display = e ? e.display : `${display}/${segs[i]}`
    }
    const existing = this.#entries.get(lower)
    if (existing?.tag === 'folder') return { error: writeConflict('folder') }
    if (existing && mode === 'add') {
      // Without strict_conflict, an upload of the very same bytes is no conflict.
      if (!strictConflict && existing.content.equals(content)) return { meta: this.#meta(existing) }
      return { error: writeConflict('file') }
    }
    if (Number.isFinite(this.quotaBytes) && this.used - (existing?.content.length ?? 0) + content.length > this.quotaBytes) {
      return { error: insufficientSpace }
    }
    for (let i = 0; i < segs.length - 1; i++) {
      const at = `/${segs.slice(0, i + 1).join('/')}`
      if (!this.#entries.has(at.toLowerCase())) {
        const parentDisplay = i === 0 ? '' : (this.#entries.get(parentOf(at.toLowerCase()))?.display ?? '')
        const folderDisplay = `${parentDisplay}/${segs[i]}`
        this.#record(at.toLowerCase(), folderDisplay, { tag: 'folder', display: folderDisplay, id: `id:${base64url(randomBytes(9))}` })
      }
    }
    const fileDisplay = existing ? existing.display : `${display}/${segs[segs.length - 1]}`
    const entry: FileEntry = {
      tag: 'file',
      display: fileDisplay,
      id: existing?.id ?? `id:${base64url(randomBytes(9))}`,
      rev: `${(this.#seq + 1).toString(16).padStart(9, '0')}${randomBytes(4).toString('hex')}`,
      content,
      modified: timestamp(),
    }
    this.#record(lower, fileDisplay, entry)
    return { meta: this.#meta(entry) }
  }

  #writeMode(commit: Record<string, unknown>): { mode: string; strict: boolean } {
    const m = commit.mode
    const mode = typeof m === 'string' ? m : typeof m === 'object' && m !== null ? String((m as Record<string, unknown>)['.tag']) : 'add'
    return { mode, strict: commit.strict_conflict === true }
  }

  #upload(arg: Record<string, unknown>, body: Buffer, bad: (why: string) => ApiError): unknown {
    const path = this.#path(arg, bad)
    const sessionId = base64url(randomBytes(12))
    const fail = (u: Union) => conflict409(['path', ...u.parts], { '.tag': 'path', reason: u.json, upload_session_id: sessionId })
    if (path === undefined) throw fail(malformedWrite)
    const { mode, strict } = this.#writeMode(arg)
    if (arg.autorename === true) throw bad('autorename is not supported by this fake')
    const r = this.#commit(path, body, mode, strict)
    if ('error' in r) throw fail(r.error)
    return r.meta
  }

  #sessionStart(arg: Record<string, unknown>, body: Buffer): unknown {
    const id = base64url(randomBytes(16))
    this.#sessions.set(id, { parts: [body], size: body.length, closed: arg.close === true, expires: Date.now() + SESSION_LIFETIME_MS })
    return { session_id: id }
  }

  /** The session a cursor names, at the offset the cursor says, or the lookup error. */
  #session(cursor: unknown, bad: (why: string) => ApiError, finishing: boolean): { id: string; s: Session } | { error: Union } {
    if (typeof cursor !== 'object' || cursor === null) throw bad('cursor: missing required field')
    const { session_id: id, offset } = cursor as { session_id?: unknown; offset?: unknown }
    if (typeof id !== 'string' || typeof offset !== 'number') throw bad('cursor: session_id and offset are required')
    const s = this.#sessions.get(id)
    if (!s || s.expires < Date.now()) return { error: { parts: ['not_found'], json: { '.tag': 'not_found' } } }
    if (offset !== s.size) {
      return { error: { parts: ['incorrect_offset'], json: { '.tag': 'incorrect_offset', correct_offset: s.size } } }
    }
    // A closed session takes no more appends, but can still be finished.
    if (s.closed && !finishing) return { error: { parts: ['closed'], json: { '.tag': 'closed' } } }
    return { id, s }
  }

  #sessionAppend(arg: Record<string, unknown>, body: Buffer, bad: (why: string) => ApiError): unknown {
    const r = this.#session(arg.cursor, bad, false)
    if ('error' in r) throw conflict409(r.error.parts, r.error.json)
    r.s.parts.push(body)
    r.s.size += body.length
    if (arg.close === true) r.s.closed = true
    return null
  }

  #sessionFinish(arg: Record<string, unknown>, body: Buffer, bad: (why: string) => ApiError): unknown {
    const commit = arg.commit as Record<string, unknown> | undefined
    if (typeof commit !== 'object' || commit === null) throw bad('commit: missing required field')
    const r = this.#session(arg.cursor, bad, true)
    if ('error' in r) throw conflict409(['lookup_failed', ...r.error.parts], { '.tag': 'lookup_failed', lookup_failed: r.error.json })
    const path = this.#path(commit, bad)
    const fail = (u: Union) => conflict409(['path', ...u.parts], { '.tag': 'path', path: u.json })
    if (path === undefined) throw fail(malformedWrite)
    const { mode, strict } = this.#writeMode(commit)
    const result = this.#commit(path, Buffer.concat([...r.s.parts, body]), mode, strict)
    if ('error' in result) throw fail(result.error)
    this.#sessions.delete(r.id)
    return result.meta
  }

  #download(arg: Record<string, unknown>, req: IncomingMessage, res: ServerResponse, bad: (why: string) => ApiError): number {
    const path = this.#path(arg, bad)
    const notFound = (u: Union) => conflict409(['path', ...u.parts], { '.tag': 'path', path: u.json })
    if (path === undefined) throw notFound(lookup('malformed_path'))
    const e = this.#entries.get(path.toLowerCase())
    if (!e) throw notFound(lookup('not_found'))
    if (e.tag !== 'file') throw notFound(lookup('not_file'))
    const size = e.content.length
    const headers = { 'content-type': 'application/octet-stream', 'dropbox-api-result': headerJson(this.#meta(e)), etag: `W/"${e.rev}"` }
    const range = readRange(req.headers.range, size)
    if (range.kind === 'malformed') throw new ApiError(400, `Invalid Range header: ${req.headers.range}`)
    if (range.kind === 'unsatisfiable') throw new ApiError(416, '', { 'content-range': `bytes */${size}` })
    if (range.kind === 'whole') {
      res.writeHead(200, { ...headers, 'content-length': String(size) }).end(e.content)
      return 200
    }
    const { start, end } = range
    res
      .writeHead(206, { ...headers, 'content-range': `bytes ${start}-${end}/${size}`, 'content-length': String(end - start + 1) })
      .end(e.content.subarray(start, end + 1))
    return 206
  }

  #getMetadata(arg: Record<string, unknown>, bad: (why: string) => ApiError): unknown {
    const path = this.#path(arg, bad)
    const fail = (u: Union) => conflict409(['path', ...u.parts], { '.tag': 'path', path: u.json })
    if (path === undefined) throw fail(lookup('malformed_path'))
    const e = this.#entries.get(path.toLowerCase())
    if (!e) throw fail(lookup('not_found'))
    return this.#meta(e)
  }

  /** The folder a listing starts from, checked: '' for the root. */
  #listRoot(arg: Record<string, unknown>, bad: (why: string) => ApiError): string {
    const path = this.#path(arg, bad, true)
    const fail = (u: Union) => conflict409(['path', ...u.parts], { '.tag': 'path', path: u.json })
    if (path === undefined) throw fail(lookup('malformed_path'))
    const lower = path.toLowerCase()
    if (lower !== '') {
      const e = this.#entries.get(lower)
      if (!e) throw fail(lookup('not_found'))
      if (e.tag !== 'folder') throw fail(lookup('not_folder'))
    }
    return lower
  }

  #encode(c: Cursor): string {
    return `AAF${base64url(Buffer.from(JSON.stringify(c)))}`
  }

  #decode(cursor: unknown, bad: (why: string) => ApiError): Cursor {
    if (typeof cursor !== 'string' || !cursor.startsWith('AAF')) throw bad('cursor: invalid cursor')
    try {
      return JSON.parse(Buffer.from(cursor.slice(3), 'base64url').toString('utf8')) as Cursor
    } catch {
      throw bad('cursor: invalid cursor')
    }
  }

  /** What changed under `c.p` in (f, t], one record per path, oldest first; from 0, no deletions. */
  #changes(c: Cursor, to: number): LogRecord[] {
    const latest = new Map<string, LogRecord>()
    const inside = (lower: string) => {
      if (c.p === '') return c.r || parentOf(lower) === ''
      if (lower === c.p) return c.r
      return lower.startsWith(`${c.p}/`) && (c.r || parentOf(lower) === c.p)
    }
    for (const rec of this.#log) {
      if (rec.seq <= c.f || rec.seq > to) continue
      if (inside(rec.lower)) {
        latest.delete(rec.lower)
        latest.set(rec.lower, rec)
      }
    }
    const out = [...latest.values()]
    return c.f === 0 ? out.filter((r) => r.entry) : out
  }

  #page(c: Cursor): unknown {
    const to = c.t ?? this.#seq
    const all = this.#changes(c, to)
    const limit = Math.min(c.l, this.pageSize)
    const slice = all.slice(c.o, c.o + limit)
    const hasMore = c.o + limit < all.length
    const entries = slice.map((r) =>
      r.entry
        ? this.#meta(r.entry)
        : { '.tag': 'deleted', name: r.display.slice(r.display.lastIndexOf('/') + 1), path_lower: r.lower, path_display: r.display },
    )
    const next: Cursor = hasMore ? { ...c, t: to, o: c.o + limit } : { p: c.p, r: c.r, f: to, o: 0, l: c.l }
    return { entries, cursor: this.#encode(next), has_more: hasMore }
  }

  #listFolder(arg: Record<string, unknown>, bad: (why: string) => ApiError): unknown {
    const p = this.#listRoot(arg, bad)
    const limit = arg.limit === undefined ? 2000 : Number(arg.limit)
    if (!Number.isInteger(limit) || limit < 1 || limit > 2000) throw bad('limit: must be between 1 and 2000')
    return this.#page({ p, r: arg.recursive === true, f: 0, t: this.#seq, o: 0, l: limit })
  }

  #listContinue(arg: Record<string, unknown>, bad: (why: string) => ApiError): unknown {
    const c = this.#decode(arg.cursor, bad)
    // The folder listed went away: the cursor no longer means anything.
    if (c.p !== '' && this.#entries.get(c.p)?.tag !== 'folder') {
      throw conflict409(['path', 'not_found'], { '.tag': 'path', path: { '.tag': 'not_found' } })
    }
    return this.#page(c)
  }

  #latestCursor(arg: Record<string, unknown>, bad: (why: string) => ApiError): unknown {
    const p = this.#listRoot(arg, bad)
    return { cursor: this.#encode({ p, r: arg.recursive === true, f: this.#seq, o: 0, l: 2000 }) }
  }

  async #longpoll(arg: Record<string, unknown>, res: ServerResponse, bad: (why: string) => ApiError): Promise<unknown> {
    const c = this.#decode(arg.cursor, bad)
    const timeout = arg.timeout === undefined ? 30 : Number(arg.timeout)
    if (!Number.isInteger(timeout) || timeout < 30 || timeout > 480) throw bad('timeout: must be between 30 and 480')
    const changed = () => c.t !== undefined || this.#changes(c, this.#seq).length > 0
    if (changed()) return { changes: true }
    return await new Promise((resolve) => {
      const done = (changes: boolean) => {
        clearTimeout(timer)
        this.#waiters.delete(wake)
        resolve({ changes })
      }
      const wake = () => {
        if (changed()) done(true)
      }
      const timer = setTimeout(() => done(false), timeout * 1000)
      this.#waiters.add(wake)
      // A client that hangs up is no longer waiting.
      res.once('close', () => done(false))
    })
  }

  #delete(arg: Record<string, unknown>, bad: (why: string) => ApiError): unknown {
    const path = this.#path(arg, bad)
    const fail = (u: Union) => conflict409(['path_lookup', ...u.parts], { '.tag': 'path_lookup', path_lookup: u.json })
    if (path === undefined) throw fail(lookup('malformed_path'))
    const lower = path.toLowerCase()
    const e = this.#entries.get(lower)
    if (!e) throw fail(lookup('not_found'))
    if (typeof arg.parent_rev === 'string' && (e.tag !== 'file' || e.rev !== arg.parent_rev)) throw fail(lookup('not_found'))
    const meta = this.#meta(e)
    // Deleting a folder deletes everything in it.
    for (const [k, v] of this.#entries) if (k.startsWith(`${lower}/`)) this.#record(k, v.display, undefined)
    this.#record(lower, e.display, undefined)
    return { metadata: meta }
  }
}

function parseArg(raw: string, bad: () => ApiError): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(raw)
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as Record<string, unknown>
  } catch {
    // answered below
  }
  throw bad()
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const parts: Buffer[] = []
  let size = 0
  for await (const part of req as AsyncIterable<Buffer>) {
    size += part.length
    if (size > MAX_BODY) throw new ApiError(400, 'Request body too large (the API takes at most 150 MiB per call)')
    parts.push(part)
  }
  return Buffer.concat(parts)
}

/** Start a fake on 127.0.0.1 at a free port. */
export async function startDropboxFake(options: DropboxFakeOptions = {}): Promise<DropboxFake> {
  return new DropboxFake(options).start()
}
