/**
 * A fake Google Drive (API v3) and Google OAuth 2 server for tests: exactly the endpoints Cloudy's
 * Drive provider uses, answering as the documented API does, so the provider is driven through
 * the real `@googleapis/drive` client and its own resumable-upload code.
 *
 *   GET    /drive/v3/files                   files.list: q, fields, orderBy, pageSize, pageToken
 *   POST   /drive/v3/files                   files.create, metadata only (folders)
 *   GET    /drive/v3/files/ID                files.get: metadata, or alt=media with Range
 *   DELETE /drive/v3/files/ID                files.delete (a folder with everything in it)
 *   POST   /upload/drive/v3/files            uploadType=media | multipart | resumable
 *   PATCH  /upload/drive/v3/files/ID         files.update of the content, same upload types
 *   PUT    <session URI>                     resumable chunks (Content-Range), 308 Resume Incomplete
 *   DELETE <session URI>                     cancel a resumable upload (499)
 *   GET    /drive/v3/changes/startPageToken  changes.getStartPageToken
 *   GET    /drive/v3/changes                 changes.list
 *   GET    /o/oauth2/v2/auth                 the consent page: redirects at once to redirect_uri
 *   POST   /token                            authorization_code (PKCE S256) and refresh_token grants
 *
 * Like Drive, it allows several files of one name in one folder, sends errors as
 * `{ error: { code, message, errors: [{ domain, reason, message }] } }`, answers 401 to an expired
 * or revoked access token, 403 `storageQuotaExceeded` past the quota, 403/429 rate limits (at a
 * set rate or on demand), and pages listings with `nextPageToken`. Its one clock gives strictly
 * increasing `createdTime`s (one server, one clock), which real Drive does not promise within a
 * millisecond. Everything lives in memory.
 */
import { createHash, randomBytes } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { TestServer } from '../../scripts/servers/test-server.js'
import { readRange } from './http-range.js'

export const FOLDER = 'application/vnd.google-apps.folder'
/** Resumable chunks other than the last must be multiples of this (Drive's documented rule). */
export const CHUNK_UNIT = 256 * 1024

export interface GdriveFakeOptions {
  /** Lifetime of access tokens, in ms. Default one hour, as Google's. */
  tokenLifetimeMs?: number
  /** Largest page files.list and changes.list return, whatever pageSize asks. Default 1000 (Drive's maximum). */
  maxPageSize?: number
  /** Share of Drive API requests refused with a rate-limit error (403 or 429), 0..1. Default 0. */
  rateLimitRate?: number
  /** Retry-After, in seconds, sent with those refusals; none by default (Drive seldom sends one). */
  retryAfterSeconds?: number
  /** Storage quota of the account in bytes. Default unlimited. */
  quotaBytes?: number
}

/** A file or folder as the fake keeps it. */
export interface FakeFile {
  id: string
  name: string
  mimeType: string
  parents: string[]
  data: Buffer
  createdTime: number
  modifiedTime: number
  trashed: boolean
}

/** A failure to serve on demand to the next matching requests. */
export interface InjectedFailure {
  /** HTTP status: 403, 429, 500, 503… */
  status: number
  /** Drive's error reason, e.g. `rateLimitExceeded`, `userRateLimitExceeded`, `backendError`. */
  reason: string
  retryAfterSeconds?: number
  /** Only requests of this operation (see `stats.ops` for the names). Default: any Drive request. */
  op?: string
}

interface Session {
  id: string
  /** The file being replaced (an update), else a new file is created at the end. */
  fileId?: string
  meta: { name: string; parents: string[]; mimeType: string }
  fields: string | undefined
  pieces: Buffer[]
  received: number
  done?: FakeFile
}

interface Change {
  fileId: string
  removed: boolean
  time: number
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
    readonly headers: Record<string, string> = {},
    readonly domain = 'global',
  ) {
    super(message)
  }
}

const notFound = (id: string) => new HttpError(404, 'notFound', `File not found: ${id}.`)
const invalid = (what: string) => new HttpError(400, 'invalid', `Invalid Value: ${what}`)

// ---------------------------------------------------------------------------------------------
// Partial responses (`fields`)

type Selector = Map<string, Selector | true>

/** Parse a `fields` value: `nextPageToken,files(id,name)`, `*`, `files/id`. */
export function parseFields(spec: string): Selector {
  let i = 0
  const bad = () => invalid(`fields "${spec}"`)
  const merge = (out: Selector, name: string, sub: Selector | true) => {
    const had = out.get(name)
    out.set(name, had === true || sub === true ? true : had ? new Map([...had, ...sub]) : sub)
  }
  const item = (out: Selector): void => {
    let name = ''
    while (i < spec.length && !',()/'.includes(spec[i]!)) name += spec[i++]
    name = name.trim()
    if (!name) throw bad()
    if (spec[i] === '(') {
      i++
      const sub = list()
      if (spec[i++] !== ')') throw bad()
      merge(out, name, sub)
    } else if (spec[i] === '/') {
      i++
      const sub: Selector = new Map()
      item(sub)
      merge(out, name, sub)
    } else merge(out, name, true)
  }
  const list = (): Selector => {
    const out: Selector = new Map()
    item(out)
    while (spec[i] === ',') {
      i++
      item(out)
    }
    return out
  }
  const sel = list()
  if (i !== spec.length) throw bad()
  return sel
}

/** The fields each resource has; a selection naming another is refused, as Drive does. */
const SCHEMA: Record<string, Record<string, string | true>> = {
  file: {
    kind: true,
    id: true,
    name: true,
    mimeType: true,
    parents: true,
    size: true,
    md5Checksum: true,
    createdTime: true,
    modifiedTime: true,
    trashed: true,
    explicitlyTrashed: true,
    version: true,
  },
  fileList: { kind: true, nextPageToken: true, incompleteSearch: true, files: 'file' },
  change: { kind: true, changeType: true, time: true, removed: true, fileId: true, file: 'file' },
  changeList: { kind: true, nextPageToken: true, newStartPageToken: true, changes: 'change' },
  startPageToken: { kind: true, startPageToken: true },
}

const DEFAULT_FIELDS: Record<string, string> = {
  file: 'kind,id,name,mimeType',
  fileList: 'kind,nextPageToken,incompleteSearch,files(kind,id,name,mimeType)',
  change: 'kind,changeType,time,removed,fileId,file(kind,id,name,mimeType)',
  changeList: 'kind,nextPageToken,newStartPageToken,changes(kind,changeType,time,removed,fileId,file(kind,id,name,mimeType))',
  startPageToken: 'kind,startPageToken',
}

function select(value: unknown, sel: Selector, type: string): unknown {
  if (Array.isArray(value)) return value.map((v) => select(v, sel, type))
  if (typeof value !== 'object' || value === null) return value
  const schema = SCHEMA[type]!
  const obj = value as Record<string, unknown>
  const out: Record<string, unknown> = {}
  for (const [name, sub] of sel) {
    if (name === '*') {
      Object.assign(out, obj)
      continue
    }
    const kind = schema[name]
    if (kind === undefined) throw new HttpError(400, 'invalidParameter', `Invalid field selection ${name}`)
    if (!(name in obj)) continue
    out[name] = sub === true || kind === true ? obj[name] : select(obj[name], sub, kind)
  }
  return out
}

function shape(value: unknown, fields: string | undefined, type: string): unknown {
  return select(value, parseFields(fields ?? DEFAULT_FIELDS[type]!), type)
}

// ---------------------------------------------------------------------------------------------
// Search queries (`q`)

type Query =
  | { op: 'and' | 'or'; a: Query; b: Query }
  | { op: 'not'; a: Query }
  | { op: 'in'; value: string; field: string }
  | { op: 'cmp'; field: string; cmp: string; value: string | boolean }

/** Parse the subset of Drive's query language the provider may use. */
export function parseQuery(q: string): Query {
  const tokens: string[] = []
  const re = /\s*(?:('(?:[^'\\]|\\.)*')|(!=|<=|>=|=|<|>|\(|\))|([A-Za-z_][A-Za-z0-9_.]*))/y
  let m: RegExpExecArray | null
  let pos = 0
  while (pos < q.length && (m = re.exec(q))) {
    tokens.push(m[1] ?? m[2] ?? m[3]!)
    pos = re.lastIndex
    if (/^\s*$/.test(q.slice(pos))) break
  }
  if (!/^\s*$/.test(q.slice(pos))) throw invalid(`q "${q}"`)
  let i = 0
  const peek = () => tokens[i]
  const next = () => {
    const t = tokens[i++]
    if (t === undefined) throw invalid(`q "${q}"`)
    return t
  }
  const str = (t: string) => {
    if (!t.startsWith("'")) throw invalid(`q "${q}"`)
    return t.slice(1, -1).replace(/\\(.)/g, '$1')
  }
  const or = (): Query => {
    let a = and()
    while (peek()?.toLowerCase() === 'or') {
      i++
      a = { op: 'or', a, b: and() }
    }
    return a
  }
  const and = (): Query => {
    let a = unary()
    while (peek()?.toLowerCase() === 'and') {
      i++
      a = { op: 'and', a, b: unary() }
    }
    return a
  }
  const unary = (): Query => {
    const t = next()
    if (t.toLowerCase() === 'not') return { op: 'not', a: unary() }
    if (t === '(') {
      const e = or()
      if (next() !== ')') throw invalid(`q "${q}"`)
      return e
    }
    if (t.startsWith("'")) {
      if (next().toLowerCase() !== 'in') throw invalid(`q "${q}"`)
      const field = next()
      if (field !== 'parents') throw invalid(`q "${q}"`)
      return { op: 'in', value: str(t), field }
    }
    const field = t
    const cmp = next()
    const raw = next()
    if (field === 'trashed') {
      if (cmp !== '=' && cmp !== '!=') throw invalid(`q "${q}"`)
      if (raw !== 'true' && raw !== 'false') throw invalid(`q "${q}"`)
      return { op: 'cmp', field, cmp, value: raw === 'true' }
    }
    if (field === 'name' || field === 'mimeType') {
      if (!['=', '!=', 'contains'].includes(cmp) || (cmp === 'contains' && field !== 'name')) throw invalid(`q "${q}"`)
      return { op: 'cmp', field, cmp, value: str(raw) }
    }
    if (field === 'createdTime' || field === 'modifiedTime') {
      if (!['=', '!=', '<', '<=', '>', '>='].includes(cmp)) throw invalid(`q "${q}"`)
      return { op: 'cmp', field, cmp, value: str(raw) }
    }
    throw invalid(`q "${q}"`)
  }
  const e = or()
  if (i !== tokens.length) throw invalid(`q "${q}"`)
  return e
}

/** A parent every match must have, when the query says so at its top level (the fake's index). */
function requiredParent(q: Query): string | undefined {
  if (q.op === 'in') return q.value
  if (q.op === 'and') return requiredParent(q.a) ?? requiredParent(q.b)
  return undefined
}

// ---------------------------------------------------------------------------------------------

function iso(ms: number): string {
  return new Date(ms).toISOString()
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const parts: Buffer[] = []
  for await (const p of req) parts.push(p as Buffer)
  return Buffer.concat(parts)
}

/** Split a multipart/related body into its parts' headers and content. */
function multipart(body: Buffer, contentType: string): { type: string; content: Buffer }[] {
  const boundary = /boundary="?([^";]+)"?/i.exec(contentType)?.[1]
  if (!boundary) throw new HttpError(400, 'badContent', 'Missing multipart boundary')
  const delimiter = Buffer.from(`--${boundary}`)
  const out: { type: string; content: Buffer }[] = []
  let at = body.indexOf(delimiter)
  if (at < 0) throw new HttpError(400, 'badContent', 'Malformed multipart body')
  for (;;) {
    at += delimiter.length
    if (body.subarray(at, at + 2).toString() === '--') break
    const headEnd = body.indexOf('\r\n\r\n', at)
    if (headEnd < 0) throw new HttpError(400, 'badContent', 'Malformed multipart body')
    const head = body.subarray(at, headEnd).toString('latin1')
    const end = body.indexOf(Buffer.concat([Buffer.from('\r\n'), delimiter]), headEnd + 4)
    if (end < 0) throw new HttpError(400, 'badContent', 'Malformed multipart body')
    out.push({ type: /content-type:\s*([^\r\n]+)/i.exec(head)?.[1]?.trim() ?? '', content: body.subarray(headEnd + 4, end) })
    at = end + 2
  }
  return out
}

function parseContentRange(v: string | undefined): { start?: number; end?: number; total?: number } {
  const m = v && /^bytes (?:(\d+)-(\d+)|\*)\/(\d+|\*)$/.exec(v.trim())
  if (!m) throw new HttpError(400, 'badRequest', `Invalid Content-Range: ${v ?? '(none)'}`)
  return {
    start: m[1] === undefined ? undefined : Number(m[1]),
    end: m[2] === undefined ? undefined : Number(m[2]),
    total: m[3] === '*' ? undefined : Number(m[3]),
  }
}

export class GdriveFake implements TestServer {
  /** Base address serving the Drive API, the upload endpoint and OAuth (`CLOUDY_GDRIVE_API_URL`). */
  url = ''
  readonly clientId = `${randomBytes(6).toString('hex')}.apps.googleusercontent.com`
  readonly clientSecret = `GOCSPX-${randomBytes(12).toString('base64url')}`
  /** The pre-authorised account's refresh token (what `credentials` carries). */
  readonly refreshToken: string
  /** What the consent page answers: allow (a code) or deny (`error=access_denied`). */
  consent: 'allow' | 'deny' = 'allow'
  /** The query of the last consent page request, for tests to check. */
  lastAuthorize: URLSearchParams | undefined
  /** Counts per operation (`files.list`, `upload.chunk`, `token.refresh`, …) and other tallies. */
  readonly stats = {
    ops: new Map<string, number>(),
    rateLimited: 0,
    /** Bytes taken in by resumable chunk requests. */
    chunkBytes: 0,
    /** Folders created, by name (several for one name show a race). */
    folderCreates: new Map<string, number>(),
  }
  /** Told of each resumable chunk request as it starts (tests check streaming with it). */
  onChunk: ((info: { start: number; length: number }) => void) | undefined
  quotaBytes: number

  readonly #o: Required<Omit<GdriveFakeOptions, 'retryAfterSeconds' | 'quotaBytes'>> & { retryAfterSeconds?: number }
  readonly #files = new Map<string, FakeFile>()
  readonly #children = new Map<string, Set<string>>()
  readonly rootId = `0A${randomBytes(8).toString('hex')}`
  readonly #changes: Change[] = []
  readonly #refreshTokens = new Set<string>()
  readonly #accessTokens = new Map<string, number>()
  readonly #codes = new Map<string, { challenge: string; method: string; redirectUri: string; offline: boolean; scope: string }>()
  readonly #sessions = new Map<string, Session>()
  readonly #inject: (InjectedFailure & { count: number })[] = []
  #drop: number | undefined
  #clock = 0
  #server: Server | undefined
  #urls = 0

  constructor(options: GdriveFakeOptions = {}) {
    this.#o = {
      tokenLifetimeMs: options.tokenLifetimeMs ?? 3600_000,
      maxPageSize: options.maxPageSize ?? 1000,
      rateLimitRate: options.rateLimitRate ?? 0,
      retryAfterSeconds: options.retryAfterSeconds,
    }
    this.quotaBytes = options.quotaBytes ?? Infinity
    this.refreshToken = this.issueRefreshToken()
    const now = this.#tick()
    this.#files.set(this.rootId, {
      id: this.rootId,
      name: 'My Drive',
      mimeType: FOLDER,
      parents: [],
      data: Buffer.alloc(0),
      createdTime: now,
      modifiedTime: now,
      trashed: false,
    })
  }

  async start(): Promise<this> {
    const server = createServer((req, res) => void this.#handle(req, res))
    this.#server = server
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(0, '127.0.0.1', () => resolve())
    })
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    return this
  }

  // --- TestServer ---------------------------------------------------------------------------

  newUrl(): string {
    return `gdrive:/t${++this.#urls}-${randomBytes(4).toString('hex')}`
  }

  get credentials(): Record<string, Record<string, string>> {
    return { gdrive: { client_id: this.clientId, client_secret: this.clientSecret, refresh_token: this.refreshToken } }
  }

  get env(): Record<string, string> {
    return { CLOUDY_GDRIVE_API_URL: this.url }
  }

  async stop(): Promise<void> {
    const server = this.#server
    if (!server) return
    this.#server = undefined
    server.closeAllConnections()
    await new Promise<void>((r) => server.close(() => r()))
  }

  // --- controls for tests -------------------------------------------------------------------

  /** Another refresh token for the same account (another computer's login). */
  issueRefreshToken(): string {
    const t = `1//${randomBytes(24).toString('base64url')}`
    this.#refreshTokens.add(t)
    return t
  }

  /** The user removed Cloudy's access: every token stops working. */
  revoke(): void {
    this.#refreshTokens.clear()
    this.#accessTokens.clear()
  }

  /** Every access token handed out so far expires now. */
  expireAccessTokens(): void {
    for (const t of this.#accessTokens.keys()) this.#accessTokens.set(t, 0)
  }

  /** Fail the next `count` matching Drive requests with `failure`. */
  failNext(count: number, failure: InjectedFailure): void {
    this.#inject.push({ ...failure, count })
  }

  /** Break the connection of the next resumable chunk request after `afterBytes` of its body. */
  dropNextChunk(afterBytes: number): void {
    this.#drop = afterBytes
  }

  count(op: string): number {
    return this.stats.ops.get(op) ?? 0
  }

  file(id: string): FakeFile | undefined {
    return this.#files.get(id)
  }

  /** The files and folders in folder `id` (not trashed). */
  children(id: string): FakeFile[] {
    return [...(this.#children.get(id) ?? [])].map((c) => this.#files.get(c)!).filter((f) => !f.trashed)
  }

  /** Every folder or file at a `/`-separated path from My Drive (all of each name). */
  at(path: string): FakeFile[] {
    let level = [this.#files.get(this.rootId)!]
    for (const name of path.split('/').filter(Boolean)) level = level.flatMap((f) => this.children(f.id).filter((c) => c.name === name))
    return level
  }

  // --- plumbing -----------------------------------------------------------------------------

  #tick(): number {
    this.#clock = Math.max(Date.now(), this.#clock + 1)
    return this.#clock
  }

  #count(op: string): void {
    this.stats.ops.set(op, this.count(op) + 1)
  }

  #json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    const text = JSON.stringify(body)
    res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8', 'content-length': Buffer.byteLength(text), ...headers })
    res.end(text)
  }

  #error(res: ServerResponse, e: HttpError): void {
    const error = { code: e.status, message: e.message, errors: [{ message: e.message, domain: e.domain, reason: e.reason }] }
    this.#json(res, e.status, { error }, e.headers)
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.url)
    try {
      if (url.pathname === '/token' && req.method === 'POST') return await this.#token(req, res)
      if (url.pathname === '/o/oauth2/v2/auth' && req.method === 'GET') return this.#authorize(url, res)
      const session = url.searchParams.get('upload_id')
      if (session !== null && url.pathname.startsWith('/upload/drive/v3/files')) {
        // The session URI is the credential of a resumable upload, as in Drive.
        const op =
          req.method === 'DELETE'
            ? 'upload.cancel'
            : (req.headers['content-range'] ?? '').startsWith('bytes */')
              ? 'upload.status'
              : 'upload.chunk'
        this.#count(op)
        this.#limit(op)
        if (req.method === 'PUT') return await this.#chunk(session, req, res)
        if (req.method === 'DELETE') {
          if (!this.#sessions.delete(session)) throw notFound(session)
          res.writeHead(499).end()
          return
        }
        throw new HttpError(405, 'methodNotAllowed', 'Method not allowed')
      }
      this.#authenticate(req)
      const route = this.#route(req.method ?? 'GET', url)
      if (!route) throw new HttpError(404, 'notFound', `Not Found: ${req.method} ${url.pathname}`)
      this.#count(route.op)
      this.#limit(route.op)
      await route.run(req, res, url)
    } catch (e) {
      if (res.headersSent) return
      // The answer comes after the request's body, as the client expects it.
      if (!req.complete && !req.destroyed) for await (const _ of req);
      this.#error(res, e instanceof HttpError ? e : new HttpError(500, 'backendError', `Backend Error: ${(e as Error).message}`))
    }
  }

  #authenticate(req: IncomingMessage): void {
    const header = req.headers.authorization
    if (!header) {
      throw new HttpError(401, 'required', 'Login Required.', { 'www-authenticate': 'Bearer realm="https://accounts.google.com/"' })
    }
    const token = /^Bearer (.+)$/.exec(header)?.[1]
    const expires = token === undefined ? undefined : this.#accessTokens.get(token)
    if (expires === undefined || expires <= Date.now()) {
      throw new HttpError(401, 'authError', 'Invalid Credentials', {
        'www-authenticate': 'Bearer realm="https://accounts.google.com/", error="invalid_token"',
      })
    }
  }

  /** Injected failures: those asked for on demand first, then rate limits at the configured rate. */
  #limit(op: string): void {
    const i = this.#inject.findIndex((f) => f.op === undefined || f.op === op)
    let failure: InjectedFailure | undefined
    if (i >= 0) {
      failure = this.#inject[i]!
      if (--this.#inject[i]!.count <= 0) this.#inject.splice(i, 1)
    } else if (this.#o.rateLimitRate > 0 && Math.random() < this.#o.rateLimitRate) {
      const pick = Math.floor(Math.random() * 3)
      failure =
        pick === 0
          ? { status: 429, reason: 'rateLimitExceeded' }
          : { status: 403, reason: pick === 1 ? 'userRateLimitExceeded' : 'rateLimitExceeded' }
      failure.retryAfterSeconds = this.#o.retryAfterSeconds
    }
    if (!failure) return
    this.stats.rateLimited++
    const headers: Record<string, string> =
      failure.retryAfterSeconds === undefined ? {} : { 'retry-after': String(failure.retryAfterSeconds) }
    const message =
      failure.reason === 'userRateLimitExceeded'
        ? 'User Rate Limit Exceeded'
        : failure.reason === 'rateLimitExceeded'
          ? failure.status === 429
            ? 'Too Many Requests'
            : 'Rate Limit Exceeded'
          : failure.reason === 'backendError'
            ? 'Backend Error'
            : failure.reason
    throw new HttpError(
      failure.status,
      failure.reason,
      message,
      headers,
      failure.reason.includes('RateLimit') || failure.reason.includes('rateLimit') ? 'usageLimits' : 'global',
    )
  }

  #route(
    method: string,
    url: URL,
  ): { op: string; run: (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<void> | void } | undefined {
    const path = url.pathname
    if (path === '/drive/v3/files') {
      if (method === 'GET') return { op: 'files.list', run: (_q, res, url) => this.#list(res, url) }
      if (method === 'POST') return { op: 'files.create', run: (req, res, url) => this.#createMetadata(req, res, url) }
    }
    if (path === '/drive/v3/changes/startPageToken' && method === 'GET') {
      return {
        op: 'changes.getStartPageToken',
        run: (_q, res, url) =>
          this.#json(
            res,
            200,
            shape(
              { kind: 'drive#startPageToken', startPageToken: String(this.#changes.length + 1) },
              url.searchParams.get('fields') ?? undefined,
              'startPageToken',
            ),
          ),
      }
    }
    if (path === '/drive/v3/changes' && method === 'GET') return { op: 'changes.list', run: (_q, res, url) => this.#listChanges(res, url) }
    const file = /^\/drive\/v3\/files\/([^/]+)$/.exec(path)
    if (file) {
      const id = decodeURIComponent(file[1]!)
      const op = url.searchParams.get('alt') === 'media' ? 'files.download' : 'files.get'
      if (method === 'GET') return { op, run: (req, res, url) => this.#get(id, req, res, url) }
      if (method === 'DELETE') return { op: 'files.delete', run: (_q, res) => this.#delete(id, res) }
    }
    if (path === '/upload/drive/v3/files' && method === 'POST')
      return { op: 'upload.create', run: (req, res, url) => this.#upload(undefined, req, res, url) }
    const upload = /^\/upload\/drive\/v3\/files\/([^/]+)$/.exec(path)
    if (upload && (method === 'PATCH' || method === 'PUT')) {
      const id = decodeURIComponent(upload[1]!)
      return { op: 'upload.update', run: (req, res, url) => this.#upload(id, req, res, url) }
    }
    return undefined
  }

  // --- OAuth ----------------------------------------------------------------------------------

  #authorize(url: URL, res: ServerResponse): void {
    this.#count('oauth.authorize')
    const p = url.searchParams
    this.lastAuthorize = p
    const page = (status: number, text: string) => {
      res.writeHead(status, { 'content-type': 'text/html; charset=utf-8' }).end(`<!doctype html><title>Sign in</title><p>${text}</p>`)
    }
    if (p.get('client_id') !== this.clientId) return page(401, 'Error 401: invalid_client. The OAuth client was not found.')
    const redirect = p.get('redirect_uri') ?? ''
    let target: URL
    try {
      target = new URL(redirect)
    } catch {
      return page(400, 'Error 400: redirect_uri_mismatch')
    }
    if (target.protocol !== 'http:' || !['127.0.0.1', 'localhost', '[::1]'].includes(target.hostname)) {
      return page(400, 'Error 400: redirect_uri_mismatch')
    }
    const scope = p.get('scope') ?? ''
    if (p.get('response_type') !== 'code' || !scope.split(' ').some((s) => s.startsWith('https://www.googleapis.com/auth/drive'))) {
      return page(400, 'Error 400: invalid_request')
    }
    const challenge = p.get('code_challenge')
    const method = p.get('code_challenge_method') ?? 'plain'
    if (!challenge || (method !== 'S256' && method !== 'plain')) return page(400, 'Error 400: invalid_request (code_challenge)')
    const state = p.get('state')
    if (this.consent === 'deny') target.searchParams.set('error', 'access_denied')
    else {
      const code = `4/${randomBytes(24).toString('base64url')}`
      this.#codes.set(code, { challenge, method, redirectUri: redirect, offline: p.get('access_type') === 'offline', scope })
      target.searchParams.set('code', code)
      target.searchParams.set('scope', scope)
    }
    if (state !== null) target.searchParams.set('state', state)
    res.writeHead(302, { location: target.toString() }).end()
  }

  async #token(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const form = new URLSearchParams((await readBody(req)).toString('utf8'))
    const oauthError = (status: number, error: string, description: string) =>
      this.#json(res, status, { error, error_description: description })
    let clientId = form.get('client_id')
    let clientSecret = form.get('client_secret')
    const basic = /^Basic (.+)$/.exec(req.headers.authorization ?? '')?.[1]
    if (basic) [clientId, clientSecret] = Buffer.from(basic, 'base64').toString().split(':') as [string, string]
    if (clientId !== this.clientId || clientSecret !== this.clientSecret) return oauthError(401, 'invalid_client', 'Unauthorized')
    const grant = form.get('grant_type')
    if (grant === 'authorization_code') {
      this.#count('token.code')
      const code = this.#codes.get(form.get('code') ?? '')
      if (!code) return oauthError(400, 'invalid_grant', 'Malformed auth code.')
      this.#codes.delete(form.get('code')!)
      if (form.get('redirect_uri') !== code.redirectUri) return oauthError(400, 'redirect_uri_mismatch', 'Bad Request')
      const verifier = form.get('code_verifier') ?? ''
      const expect = code.method === 'S256' ? createHash('sha256').update(verifier).digest('base64url') : verifier
      if (!verifier || expect !== code.challenge) return oauthError(400, 'invalid_grant', 'Invalid code verifier.')
      const body: Record<string, unknown> = this.#accessToken(code.scope)
      if (code.offline) body.refresh_token = this.issueRefreshToken()
      return this.#json(res, 200, body)
    }
    if (grant === 'refresh_token') {
      this.#count('token.refresh')
      if (!this.#refreshTokens.has(form.get('refresh_token') ?? ''))
        return oauthError(400, 'invalid_grant', 'Token has been expired or revoked.')
      return this.#json(res, 200, this.#accessToken('https://www.googleapis.com/auth/drive.file'))
    }
    return oauthError(400, 'unsupported_grant_type', `Invalid grant_type: ${grant ?? ''}`)
  }

  #accessToken(scope: string): Record<string, unknown> {
    const token = `ya29.${randomBytes(32).toString('base64url')}`
    this.#accessTokens.set(token, Date.now() + this.#o.tokenLifetimeMs)
    return { access_token: token, expires_in: Math.round(this.#o.tokenLifetimeMs / 1000), scope, token_type: 'Bearer' }
  }

  // --- files ----------------------------------------------------------------------------------

  #resource(f: FakeFile): Record<string, unknown> {
    const r: Record<string, unknown> = {
      kind: 'drive#file',
      id: f.id,
      name: f.name,
      mimeType: f.mimeType,
      parents: f.parents,
      createdTime: iso(f.createdTime),
      modifiedTime: iso(f.modifiedTime),
      trashed: f.trashed,
      explicitlyTrashed: f.trashed,
      version: String(f.modifiedTime),
    }
    if (f.mimeType !== FOLDER) {
      r.size = String(f.data.length)
      r.md5Checksum = createHash('md5').update(f.data).digest('hex')
    }
    return r
  }

  #resolve(id: string): FakeFile | undefined {
    return this.#files.get(id === 'root' ? this.rootId : id)
  }

  #folder(id: string): FakeFile {
    const f = this.#resolve(id)
    if (!f || f.mimeType !== FOLDER) throw notFound(id)
    return f
  }

  #used(): number {
    let n = 0
    for (const f of this.#files.values()) n += f.data.length
    return n
  }

  #checkQuota(adding: number, replacing = 0): void {
    if (this.#used() - replacing + adding > this.quotaBytes) {
      throw new HttpError(403, 'storageQuotaExceeded', "The user's Drive storage quota has been exceeded.", {}, 'usageLimits')
    }
  }

  #add(meta: { name: string; parents: string[]; mimeType: string }, data: Buffer): FakeFile {
    const parents = meta.parents.map((p) => this.#folder(p).id)
    const now = this.#tick()
    const f: FakeFile = {
      id: randomBytes(16).toString('base64url').replace(/[-_]/g, 'x'),
      ...meta,
      parents,
      data,
      createdTime: now,
      modifiedTime: now,
      trashed: false,
    }
    this.#files.set(f.id, f)
    for (const p of parents) {
      let set = this.#children.get(p)
      if (!set) this.#children.set(p, (set = new Set()))
      set.add(f.id)
    }
    if (f.mimeType === FOLDER) this.stats.folderCreates.set(f.name, (this.stats.folderCreates.get(f.name) ?? 0) + 1)
    this.#changes.push({ fileId: f.id, removed: false, time: now })
    return f
  }

  #replace(f: FakeFile, data: Buffer): void {
    f.data = data
    f.modifiedTime = this.#tick()
    this.#changes.push({ fileId: f.id, removed: false, time: f.modifiedTime })
  }

  #metadata(raw: unknown): { name: string; parents: string[]; mimeType?: string } {
    const m = (raw ?? {}) as { name?: unknown; parents?: unknown; mimeType?: unknown }
    if (m.name !== undefined && typeof m.name !== 'string') throw invalid('name')
    if (m.parents !== undefined && (!Array.isArray(m.parents) || m.parents.some((p) => typeof p !== 'string'))) throw invalid('parents')
    if (Array.isArray(m.parents) && m.parents.length > 1) {
      throw new HttpError(403, 'cannotAddParent', 'Increasing the number of parents is not allowed.')
    }
    if (m.mimeType !== undefined && typeof m.mimeType !== 'string') throw invalid('mimeType')
    return {
      name: (m.name as string | undefined) ?? 'Untitled',
      parents: (m.parents as string[] | undefined)?.length ? (m.parents as string[]) : [this.rootId],
      mimeType: m.mimeType as string | undefined,
    }
  }

  async #createMetadata(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const body = await readBody(req)
    let raw: unknown
    try {
      raw = body.length ? JSON.parse(body.toString('utf8')) : {}
    } catch {
      throw new HttpError(400, 'parseError', 'Parse Error')
    }
    const meta = this.#metadata(raw)
    const f = this.#add({ ...meta, mimeType: meta.mimeType ?? 'application/octet-stream' }, Buffer.alloc(0))
    this.#json(res, 200, shape(this.#resource(f), url.searchParams.get('fields') ?? undefined, 'file'))
  }

  #list(res: ServerResponse, url: URL): void {
    const p = url.searchParams
    const q = p.get('q')
    const query = q ? parseQuery(q) : undefined
    const orderBy = (p.get('orderBy') ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean)
      .map((s) => {
        const [field, dir] = s.split(/\s+/)
        if (!['createdTime', 'modifiedTime', 'name', 'folder'].includes(field!) || (dir && dir !== 'desc')) throw invalid(`orderBy "${s}"`)
        return { field: field!, desc: dir === 'desc' }
      })
    const sizeParam = p.get('pageSize')
    const asked = sizeParam === null ? 100 : Number(sizeParam)
    if (!Number.isInteger(asked) || asked < 1 || asked > 1000) throw invalid(`pageSize ${sizeParam}`)
    const pageSize = Math.min(asked, this.#o.maxPageSize)

    const parent = query && requiredParent(query)
    const pool = parent === undefined ? [...this.#files.keys()] : [...(this.#children.get(this.#resolve(parent)?.id ?? parent) ?? [])]
    const matches = pool.map((id) => this.#files.get(id)!).filter((f) => f.id !== this.rootId && (!query || this.#match(f, query)))
    const key = (f: FakeFile): (string | number)[] => [
      ...orderBy.map((o) => {
        const v =
          o.field === 'folder'
            ? f.mimeType === FOLDER
              ? 0
              : 1
            : o.field === 'name'
              ? f.name
              : o.field === 'createdTime'
                ? f.createdTime
                : f.modifiedTime
        return o.desc && typeof v === 'number' ? -v : v
      }),
      f.createdTime,
      f.id,
    ]
    const cmp = (a: (string | number)[], b: (string | number)[]) => {
      for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! < b[i]! ? -1 : 1
      return 0
    }
    matches.sort((a, b) => cmp(key(a), key(b)))
    const signature = `${q ?? ''}|${p.get('orderBy') ?? ''}`
    let from = 0
    const token = p.get('pageToken')
    if (token) {
      let after: (string | number)[]
      try {
        const t = JSON.parse(Buffer.from(token, 'base64url').toString()) as { s: string; k: (string | number)[] }
        if (t.s !== signature) throw new Error()
        after = t.k
      } catch {
        throw invalid('pageToken')
      }
      // Pages continue after the last item handed out, whatever changed since (Drive's tokens
      // are opaque; this keeps every file that stayed in place listed once).
      from = matches.findIndex((f) => cmp(key(f), after) > 0)
      if (from < 0) from = matches.length
    }
    const page = matches.slice(from, from + pageSize)
    const body: Record<string, unknown> = { kind: 'drive#fileList', incompleteSearch: false, files: page.map((f) => this.#resource(f)) }
    if (from + pageSize < matches.length)
      body.nextPageToken = Buffer.from(JSON.stringify({ s: signature, k: key(page[page.length - 1]!) })).toString('base64url')
    this.#json(res, 200, shape(body, p.get('fields') ?? undefined, 'fileList'))
  }

  #match(f: FakeFile, q: Query): boolean {
    switch (q.op) {
      case 'and':
        return this.#match(f, q.a) && this.#match(f, q.b)
      case 'or':
        return this.#match(f, q.a) || this.#match(f, q.b)
      case 'not':
        return !this.#match(f, q.a)
      case 'in': {
        const id = q.value === 'root' ? this.rootId : q.value
        return f.parents.includes(id)
      }
      case 'cmp': {
        let have: string | number | boolean
        let want: string | number | boolean = q.value
        if (q.field === 'trashed') have = f.trashed
        else if (q.field === 'name') have = f.name
        else if (q.field === 'mimeType') have = f.mimeType
        else {
          have = q.field === 'createdTime' ? f.createdTime : f.modifiedTime
          want = Date.parse(q.value as string)
        }
        switch (q.cmp) {
          case '=':
            return have === want
          case '!=':
            return have !== want
          case 'contains':
            return (have as string).includes(want as string)
          case '<':
            return have < want
          case '<=':
            return have <= want
          case '>':
            return have > want
          default:
            return have >= want
        }
      }
    }
  }

  #get(id: string, req: IncomingMessage, res: ServerResponse, url: URL): void {
    const f = this.#resolve(id)
    if (!f) throw notFound(id)
    if (url.searchParams.get('alt') !== 'media') {
      this.#json(res, 200, shape(this.#resource(f), url.searchParams.get('fields') ?? undefined, 'file'))
      return
    }
    if (f.mimeType === FOLDER || f.mimeType.startsWith('application/vnd.google-apps.')) {
      throw new HttpError(
        403,
        'fileNotDownloadable',
        'Only files with binary content can be downloaded. Use Export with Docs Editors files.',
      )
    }
    const size = f.data.length
    // Drive serves a header it cannot read as no Range at all.
    const range = readRange(req.headers.range, size)
    if (range.kind === 'whole' || range.kind === 'malformed') {
      res.writeHead(200, { 'content-type': f.mimeType, 'content-length': size }).end(f.data)
      return
    }
    if (range.kind === 'unsatisfiable') {
      res.writeHead(416, { 'content-range': `bytes */${size}`, 'content-type': 'text/plain' }).end('Requested range not satisfiable')
      return
    }
    const { start, end } = range
    res
      .writeHead(206, { 'content-type': f.mimeType, 'content-length': end - start + 1, 'content-range': `bytes ${start}-${end}/${size}` })
      .end(f.data.subarray(start, end + 1))
  }

  #delete(id: string, res: ServerResponse): void {
    const f = this.#resolve(id)
    if (!f || f.id === this.rootId) throw notFound(id)
    const remove = (x: FakeFile) => {
      for (const c of this.#children.get(x.id) ?? []) remove(this.#files.get(c)!)
      this.#children.delete(x.id)
      for (const p of x.parents) this.#children.get(p)?.delete(x.id)
      this.#files.delete(x.id)
      this.#changes.push({ fileId: x.id, removed: true, time: this.#tick() })
    }
    remove(f)
    res.writeHead(204).end()
  }

  async #upload(id: string | undefined, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const type = url.searchParams.get('uploadType')
    const fields = url.searchParams.get('fields') ?? undefined
    const existing = id === undefined ? undefined : this.#resolve(id)
    if (id !== undefined && !existing) throw notFound(id)
    if (existing?.mimeType === FOLDER) throw new HttpError(403, 'fileNotWritable', 'A folder has no content to upload.')
    const body = await readBody(req)
    if (type === 'resumable') {
      let raw: unknown
      try {
        raw = body.length ? JSON.parse(body.toString('utf8')) : {}
      } catch {
        throw new HttpError(400, 'parseError', 'Parse Error')
      }
      const meta = this.#metadata(raw)
      if (id === undefined) for (const p of meta.parents) this.#folder(p)
      const length = req.headers['x-upload-content-length']
      if (length !== undefined) this.#checkQuota(Number(length), existing?.data.length ?? 0)
      const sid = randomBytes(18).toString('base64url')
      this.#sessions.set(sid, {
        id: sid,
        fileId: existing?.id,
        meta: {
          name: meta.name,
          parents: meta.parents,
          mimeType: meta.mimeType ?? String(req.headers['x-upload-content-type'] ?? 'application/octet-stream'),
        },
        fields,
        pieces: [],
        received: 0,
      })
      const location = new URL(url.pathname, this.url)
      location.searchParams.set('uploadType', 'resumable')
      location.searchParams.set('upload_id', sid)
      res.writeHead(200, { location: location.toString(), 'content-length': 0 }).end()
      return
    }
    let meta: { name: string; parents: string[]; mimeType?: string }
    let data: Buffer
    if (type === 'multipart') {
      const parts = multipart(body, String(req.headers['content-type'] ?? ''))
      if (parts.length !== 2) throw new HttpError(400, 'badContent', 'A multipart upload has a metadata part and a media part.')
      try {
        meta = this.#metadata(JSON.parse(parts[0]!.content.toString('utf8')))
      } catch (e) {
        if (e instanceof HttpError) throw e
        throw new HttpError(400, 'parseError', 'Parse Error')
      }
      meta.mimeType ??= parts[1]!.type || 'application/octet-stream'
      data = Buffer.from(parts[1]!.content)
    } else if (type === 'media') {
      meta = { name: 'Untitled', parents: [this.rootId], mimeType: String(req.headers['content-type'] ?? 'application/octet-stream') }
      data = body
    } else throw invalid(`uploadType "${type ?? ''}"`)
    this.#checkQuota(data.length, existing?.data.length ?? 0)
    let f: FakeFile
    if (existing) {
      this.#replace(existing, data)
      f = existing
    } else f = this.#add({ name: meta.name, parents: meta.parents, mimeType: meta.mimeType ?? 'application/octet-stream' }, data)
    this.#json(res, 200, shape(this.#resource(f), fields, 'file'))
  }

  async #chunk(sid: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const s = this.#sessions.get(sid)
    if (!s) throw notFound(sid)
    const range = parseContentRange(req.headers['content-range'])
    const finish = () => {
      if (!s.done) {
        const data = Buffer.concat(s.pieces)
        const existing = s.fileId === undefined ? undefined : this.#files.get(s.fileId)
        if (s.fileId !== undefined && !existing) throw notFound(s.fileId)
        this.#checkQuota(data.length, existing?.data.length ?? 0)
        if (existing) {
          this.#replace(existing, data)
          s.done = existing
        } else s.done = this.#add(s.meta, data)
        s.pieces = []
      }
      this.#json(res, 200, shape(this.#resource(s.done), s.fields, 'file'))
    }
    const incomplete = () => {
      const headers: Record<string, string> = { 'content-length': '0' }
      if (s.received > 0) headers.range = `bytes=0-${s.received - 1}`
      res.writeHead(308, headers).end()
    }
    if (range.start === undefined) {
      // A status query: how much arrived (or the finished file).
      await readBody(req)
      if (s.done || (range.total !== undefined && range.total === s.received)) return finish()
      return incomplete()
    }
    if (s.done) {
      await readBody(req)
      return finish()
    }
    const start = range.start
    const end = range.end!
    const length = end - start + 1
    const final = range.total !== undefined && end + 1 === range.total
    if (range.total !== undefined && end + 1 > range.total)
      throw new HttpError(400, 'badRequest', 'Content-Range goes past the total size.')
    if (start > s.received) {
      throw new HttpError(400, 'badRequest', `Invalid request. The upload offset is ${start} but ${s.received} bytes were received.`)
    }
    if (!final && length % CHUNK_UNIT !== 0) {
      throw new HttpError(
        400,
        'badRequest',
        `Invalid request. The number of bytes uploaded is required to be a multiple of ${CHUNK_UNIT}, except for the final request. The received request contained ${length} bytes.`,
      )
    }
    this.onChunk?.({ start, length })
    const drop = this.#drop
    this.#drop = undefined
    const pieces: Buffer[] = []
    let got = 0
    for await (const p of req) {
      const piece = p as Buffer
      pieces.push(piece)
      got += piece.length
      this.stats.chunkBytes += piece.length
      if (drop !== undefined && got >= drop) {
        // The connection breaks mid-chunk: what arrived is kept up to a whole 256 KiB unit, as a
        // resumable upload server persists it, and the client must ask where to go on from.
        const body = Buffer.concat(pieces)
        const upTo = Math.floor((start + Math.min(got, drop)) / CHUNK_UNIT) * CHUNK_UNIT
        if (upTo > s.received) {
          s.pieces.push(body.subarray(s.received - start, upTo - start))
          s.received = upTo
        }
        req.socket.destroy()
        return
      }
    }
    const body = Buffer.concat(pieces)
    if (body.length !== length)
      throw new HttpError(400, 'badRequest', `Content-Range says ${length} bytes but the body has ${body.length}.`)
    if (end + 1 > s.received) {
      s.pieces.push(body.subarray(s.received - start))
      s.received = end + 1
    }
    if (final) return finish()
    return incomplete()
  }

  // --- changes --------------------------------------------------------------------------------

  #listChanges(res: ServerResponse, url: URL): void {
    const p = url.searchParams
    const token = p.get('pageToken')
    if (token === null) throw new HttpError(400, 'required', 'Required parameter: pageToken')
    const from = Number(token)
    if (!Number.isInteger(from) || from < 1 || from > this.#changes.length + 1) throw invalid('pageToken')
    const asked = p.get('pageSize') === null ? 100 : Number(p.get('pageSize'))
    if (!Number.isInteger(asked) || asked < 1 || asked > 1000) throw invalid('pageSize')
    const size = Math.min(asked, this.#o.maxPageSize)
    const slice = this.#changes.slice(from - 1, from - 1 + size)
    const changes = slice.map((c) => {
      const f = this.#files.get(c.fileId)
      const change: Record<string, unknown> = {
        kind: 'drive#change',
        changeType: 'file',
        time: iso(c.time),
        removed: c.removed || !f,
        fileId: c.fileId,
      }
      if (f && !c.removed) change.file = this.#resource(f)
      return change
    })
    const body: Record<string, unknown> = { kind: 'drive#changeList', changes }
    const next = from + slice.length
    if (next <= this.#changes.length) body.nextPageToken = String(next)
    else body.newStartPageToken = String(next)
    this.#json(res, 200, shape(body, p.get('fields') ?? undefined, 'changeList'))
  }
}

/** Start a fake on 127.0.0.1 at a free port. */
export function startGdriveFake(options: GdriveFakeOptions = {}): Promise<GdriveFake> {
  return new GdriveFake(options).start()
}
