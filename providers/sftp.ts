/**
 * The SFTP provider: a folder on any SSH server, through ssh2-sftp-client over one SSH connection
 * that is opened on first use and opened again when it drops (a drop is a `TransientError`, so
 * the retry policy tries the operation again on the new connection).
 *
 * The server must prove it is the one in known_hosts: an unknown or changed host key is refused
 * with its fingerprint and the command that accepts it, never trusted on first use. Logging in
 * offers the configured key (or ~/.ssh/id_ed25519, id_ecdsa, id_rsa), then ssh-agent, then a
 * password from credentials.toml.
 *
 * Objects are written to `<vault>/.tmp/<random>` and then moved into place in one step:
 * `posix-rename@openssh.com` replaces an existing object atomically (plain SFTP rename refuses
 * to), and an if-absent put links the temp file under the final name (`hardlink@openssh.com`,
 * or plain SFTP v3 rename, which the protocol defines to fail on an existing name): of twenty
 * concurrent if-absent puts exactly one link succeeds. Reads and writes are pipelined (many
 * requests in flight on one handle): SFTP answers each request in one round trip, and one at a
 * time would cap throughput at a block per round trip.
 */
import { createHash, createHmac, randomBytes } from 'node:crypto'
import { constants } from 'node:fs'
import { access, readFile } from 'node:fs/promises'
import { connect as tcpConnect, type Socket } from 'node:net'
import { homedir, userInfo } from 'node:os'
import { dirname, isAbsolute, join, posix } from 'node:path'
import type { AnyAuthMethod, ConnectConfig, FileEntryWithStats, ServerHostKeyAlgorithm, SFTPWrapper, Stats } from 'ssh2'
import SftpClient from 'ssh2-sftp-client'
import { AlreadyExistsError, CloudyError, ConfigError, NotFoundError, ProviderError, TransientError, UsageError } from '../lib/errors.js'
import { describeProvider, urlParams, type RemoteContext } from './index.js'
import { assertKey } from './keys.js'
import type { ByteRange, ObjectInfo, Provider, PutBody, PutOptions } from './provider.js'
import { isTransient, Limiter } from './retry.js'

/** Options of the SFTP provider. */
export interface SftpOptions {
  /** Server name or address. */
  host: string
  /** SSH port. Default 22. */
  port?: number
  /** Login name on the server. */
  user: string
  /**
   * An existing folder on the server that holds the vault's folder: absolute, or relative to the
   * login folder ('' is the login folder itself).
   */
  base: string
  /** The vault's folder inside `base`, created on first write. Default `Cloudy`. */
  root?: string
  /** known_hosts file holding the server's host key (plain or hashed entries). */
  knownHosts: string
  /** Private key files to offer, in order. A passphrase-protected key must be loaded in ssh-agent. */
  identityFiles?: string[]
  /** ssh-agent's socket (SSH_AUTH_SOCK), offered after the key files. */
  agent?: string
  /** Password, offered last (password and keyboard-interactive). */
  password?: string
  /** Where the user sets the above, named in advice. Default: "the [sftp] table of credentials.toml". */
  settingsHint?: string
  /** Make the base folder (and those above it) where it is missing, as `init` asks; else a missing one is a wrong URL. */
  createBase?: boolean
  /** No SSH handshake within this long is a transient failure. Default 20 s. */
  readyTimeoutMs?: number
  /**
   * Use the OpenSSH extensions a server offers (posix-rename, hardlink, fsync, statvfs). Default
   * true; false works as with a plain SFTP v3 server, which is how the fallbacks are tested.
   */
  extensions?: boolean
}

const DEFAULT_KEYS = ['id_ed25519', 'id_ecdsa', 'id_rsa']
const TMP = '.tmp'
/** Requests in flight on one connection (reads and writes of every operation together). */
const IO_SLOTS = 48
/** Writes in flight for one put: leaves room for the others sharing the connection. */
const PUT_WINDOW = 16
/** Readdirs in flight for one listing. */
const LIST_PARALLEL = 8

// ---------------------------------------------------------------------------------------------
// URLs and settings

/** `sftp://user@host:port/path`: what it names, and where the vault lives on the server. */
export interface SftpUrl {
  user: string
  host: string
  port: number
  /** Absolute, or relative to the login folder (`/~/path` in the URL, or no path at all). */
  base: string
}

export function parseSftpUrl(url: string): SftpUrl {
  const shown = describeProvider(url)
  urlParams(url, [])
  let u: URL
  try {
    u = new URL(url)
  } catch {
    throw new UsageError(`--provider ${shown}: not a valid SFTP URL; write it as sftp://user@host:port/path`)
  }
  if (u.protocol !== 'sftp:' || !u.hostname) {
    throw new UsageError(`--provider ${shown}: not a valid SFTP URL; write it as sftp://user@host:port/path`)
  }
  if (u.password) {
    throw new UsageError(
      `--provider ${shown}: a password does not belong in the URL (it would be kept in config.toml); ` +
        'put it in the [sftp] table of credentials.toml as password = "…", or better, use an SSH key',
    )
  }
  let path: string, username: string
  try {
    path = decodeURIComponent(u.pathname)
    username = decodeURIComponent(u.username)
  } catch {
    throw new UsageError(`--provider ${shown}: a %-escape in the URL is not valid UTF-8`)
  }
  // Like curl: `/~/dir` is relative to the login folder, and so is no path at all.
  let base = path === '' || path === '/~' ? '' : path.startsWith('/~/') ? path.slice(3) : path
  base = base === '' ? '' : posix.normalize(base).replace(/(.)\/+$/, '$1')
  return {
    user: username || userInfo().username,
    host: u.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: u.port ? Number(u.port) : 22,
    base,
  }
}

function expandHome(p: string, home: string, relativeTo: string): string {
  if (p === '~') return home
  if (p.startsWith('~/')) return join(home, p.slice(2))
  return isAbsolute(p) ? p : join(relativeTo, p)
}

async function readable(file: string): Promise<boolean> {
  return access(file, constants.R_OK).then(
    () => true,
    () => false,
  )
}

/** The provider for an `sftp://` URL, with the [sftp] table of credentials.toml. */
export async function openSftp(url: string, context: RemoteContext): Promise<Provider> {
  const target = parseSftpUrl(url)
  const section = (await context.credentials.section('sftp')) ?? {}
  const file = context.credentials.file
  const home = context.env.HOME || homedir()
  const here = dirname(file)
  let identityFiles: string[]
  if (section.identity_file) {
    const key = expandHome(section.identity_file, home, here)
    if (!(await readable(key))) {
      throw new ConfigError(`sftp.identity_file: cannot read the key ${key}; fix the path or remove the line to use ~/.ssh/id_ed25519`, {
        file,
        key: 'sftp.identity_file',
      })
    }
    identityFiles = [key]
  } else {
    const found = await Promise.all(DEFAULT_KEYS.map(async (k) => ((await readable(join(home, '.ssh', k))) ? join(home, '.ssh', k) : '')))
    identityFiles = found.filter(Boolean)
  }
  return sftp({
    ...target,
    root: context.root,
    knownHosts: expandHome(section.known_hosts || '~/.ssh/known_hosts', home, here),
    identityFiles,
    agent: context.env.SSH_AUTH_SOCK || undefined,
    password: section.password || undefined,
    settingsHint: `the [sftp] table of ${file}`,
    createBase: context.create,
  })
}

// ---------------------------------------------------------------------------------------------
// known_hosts

/** One line of a known_hosts file. */
export interface KnownHost {
  /** `revoked` or `cert-authority` for lines starting with `@revoked` / `@cert-authority`. */
  marker?: string
  /** Host patterns (`a,b,[c]:2222`, wildcards, `!negation`) or one hashed name (`|1|salt|hash`). */
  hosts: string
  type: string
  key: Buffer
  /** Line number, from 1. */
  line: number
}

export function parseKnownHosts(text: string): KnownHost[] {
  const out: KnownHost[] = []
  text.split(/\r?\n/).forEach((raw, i) => {
    const fields = raw.trim().split(/\s+/)
    if (!fields[0] || fields[0].startsWith('#')) return
    const marker = fields[0].startsWith('@') ? fields.shift()!.slice(1) : undefined
    const [hosts, type, b64] = fields
    if (!hosts || !type || !b64) return
    const key = Buffer.from(b64, 'base64')
    if (key.length > 0) out.push({ marker, hosts, type, key, line: i + 1 })
  })
  return out
}

function glob(pattern: string, name: string): boolean {
  const re = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.')
  return new RegExp(`^${re}$`, 'i').test(name)
}

/** Whether a known_hosts host field names `name` (`host`, or `[host]:port` off port 22). */
export function hostMatches(hosts: string, name: string): boolean {
  if (hosts.startsWith('|1|')) {
    const [, , salt = '', hash = ''] = hosts.split('|')
    return createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64') === hash
  }
  let matched = false
  for (const pattern of hosts.split(',')) {
    if (pattern.startsWith('!')) {
      if (glob(pattern.slice(1), name)) return false
    } else if (glob(pattern, name)) matched = true
  }
  return matched
}

/** The name ssh looks a host up by in known_hosts. */
export function knownHostsName(host: string, port: number): string {
  const h = host.toLowerCase()
  return port === 22 ? h : `[${h}]:${port}`
}

/** `SHA256:…` as ssh prints it. */
export function fingerprint(key: Buffer): string {
  return 'SHA256:' + createHash('sha256').update(key).digest('base64').replace(/=+$/, '')
}

/** The algorithm name inside an SSH public key blob (`ssh-ed25519`, `ssh-rsa`, …). */
function blobType(key: Buffer): string {
  if (key.length < 4) return ''
  const n = key.readUInt32BE(0)
  return key.subarray(4, 4 + n).toString('latin1')
}

const TYPE_LABEL: Record<string, string> = {
  'ssh-ed25519': 'ED25519',
  'ssh-rsa': 'RSA',
  'ecdsa-sha2-nistp256': 'ECDSA',
  'ecdsa-sha2-nistp384': 'ECDSA',
  'ecdsa-sha2-nistp521': 'ECDSA',
  'ssh-dss': 'DSA',
}

/** Host key algorithms of each key type, as ssh2 names them. */
const TYPE_ALGORITHMS: Record<string, ServerHostKeyAlgorithm[]> = {
  'ssh-ed25519': ['ssh-ed25519'],
  'ssh-rsa': ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'],
  'ecdsa-sha2-nistp256': ['ecdsa-sha2-nistp256'],
  'ecdsa-sha2-nistp384': ['ecdsa-sha2-nistp384'],
  'ecdsa-sha2-nistp521': ['ecdsa-sha2-nistp521'],
}

export type HostKeyVerdict =
  | { ok: true }
  | {
      ok: false
      /** `unknown`: no key of this type recorded; `changed`: another one is; `revoked`: marked @revoked. */
      problem: 'unknown' | 'changed' | 'revoked'
      type: string
      fingerprint: string
      /** known_hosts lines that record another key of this type for the host. */
      lines: number[]
    }

/** Check the key a server offers against known_hosts entries, as ssh's StrictHostKeyChecking does. */
export function checkHostKey(entries: KnownHost[], host: string, port: number, key: Buffer): HostKeyVerdict {
  const name = knownHostsName(host, port)
  const type = blobType(key)
  const mine = entries.filter((e) => hostMatches(e.hosts, name))
  const bad = (problem: 'unknown' | 'changed' | 'revoked', lines: number[] = []) =>
    ({ ok: false, problem, type, fingerprint: fingerprint(key), lines }) as const
  if (mine.some((e) => e.marker === 'revoked' && e.key.equals(key))) return bad('revoked')
  const plain = mine.filter((e) => e.marker === undefined)
  if (plain.some((e) => e.key.equals(key))) return { ok: true }
  const sameType = plain.filter((e) => blobType(e.key) === type)
  return sameType.length > 0
    ? bad(
        'changed',
        sameType.map((e) => e.line),
      )
    : bad('unknown')
}

/** Prefer the host key types known_hosts has for the host, as ssh does, so a known key is offered. */
function hostKeyAlgorithms(entries: KnownHost[], host: string, port: number): ConnectConfig['algorithms'] {
  const name = knownHostsName(host, port)
  const known = new Set(entries.filter((e) => e.marker === undefined && hostMatches(e.hosts, name)).map((e) => blobType(e.key)))
  const algos = [...known].flatMap((t) => TYPE_ALGORITHMS[t] ?? [])
  // `remove` first: ssh2's `prepend` skips a name already in the list, so it could not move it.
  return algos.length ? { serverHostKey: { remove: algos, prepend: algos, append: [] } } : undefined
}

// ---------------------------------------------------------------------------------------------
// Keys

/** Whether a private key file is protected by a passphrase (which Cloudy does not ask for). */
function isEncryptedKey(text: string): boolean {
  if (/Proc-Type: 4,ENCRYPTED|BEGIN ENCRYPTED PRIVATE KEY/.test(text)) return true
  const m = /-----BEGIN OPENSSH PRIVATE KEY-----([\s\S]*?)-----END/.exec(text)
  if (!m) return false
  const blob = Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64')
  const magic = 'openssh-key-v1\0'.length
  if (blob.length < magic + 4) return false
  const n = blob.readUInt32BE(magic)
  return blob.subarray(magic + 4, magic + 4 + n).toString('latin1') !== 'none'
}

// ---------------------------------------------------------------------------------------------
// One SSH connection

type SshError = Error & { level?: string; code?: unknown }

/** An open connection; `dead` once it closed or failed (the next operation opens another). */
class Session {
  dead = false
  constructor(
    readonly client: SftpClient,
    readonly sftp: SFTPWrapper,
    readonly sock: Socket,
    /** Which OpenSSH extensions the server offers. */
    readonly ext: { posixRename: boolean; hardlink: boolean; fsync: boolean; statvfs: boolean },
    /** Largest read and write a request may carry. */
    readonly maxRead: number,
    readonly maxWrite: number,
  ) {}

  async end(): Promise<void> {
    if (!this.dead) {
      this.dead = true
      let timer: NodeJS.Timeout | undefined
      await Promise.race([this.client.end().catch(() => {}), new Promise((r) => (timer = setTimeout(r, 2000)))])
      clearTimeout(timer)
    }
    this.sock.destroy()
  }
}

/** A request on a connection: rejects at once when it is gone (a request sent then is never answered). */
function request<T>(s: Session, send: (cb: (err: Error | null | undefined, value?: T) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    if (s.dead) return reject(Object.assign(new Error('the connection is closed'), { code: 'ENOTCONN' }))
    try {
      send((err, value) => (err ? reject(err) : resolve(value as T)))
    } catch (e) {
      reject(e)
    }
  })
}

const statusOf = (e: unknown): unknown => (e as { code?: unknown } | null)?.code

/** SFTP status codes (draft-ietf-secsh-filexfer-02, and the later drafts' disk-full ones). */
const NO_SUCH_FILE = 2
const PERMISSION_DENIED = 3
const FAILURE = 4
const NO_CONNECTION = 6
const CONNECTION_LOST = 7
const NO_SPACE = 14
const QUOTA_EXCEEDED = 15

function openTcp(host: string, port: number, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const sock = tcpConnect({ host, port })
    const timer = setTimeout(() => {
      sock.destroy()
      reject(Object.assign(new Error(`no answer within ${Math.round(timeoutMs / 1000)} s`), { code: 'ETIMEDOUT' }))
    }, timeoutMs)
    const failed = (e: Error) => {
      clearTimeout(timer)
      reject(e)
    }
    sock.once('error', failed)
    sock.once('connect', () => {
      clearTimeout(timer)
      sock.removeListener('error', failed)
      // ssh2 listens for errors from here on; this one only keeps a late one from being unhandled.
      sock.on('error', () => {})
      // SFTP is request/answer: Nagle's delay on each small request costs ~7x in throughput.
      sock.setNoDelay(true)
      resolve(sock)
    })
  })
}

// ---------------------------------------------------------------------------------------------
// The provider

/** Thrown through the provider's error mapping untouched: the caller's body failed, not the server. */
class BodyFailure {
  constructor(readonly error: unknown) {}
}

export function sftp(options: SftpOptions): Provider {
  const port = options.port ?? 22
  const { host, user } = options
  const base = options.base
  const vault = base === '' ? (options.root ?? 'Cloudy') : posix.join(base, options.root ?? 'Cloudy')
  const tmpDir = `${vault}/${TMP}`
  const where = port === 22 ? host : `${host}:${port}`
  const name = `sftp://${user}@${host.includes(':') ? `[${host}]` : host}${port === 22 ? '' : `:${port}`}${vault.startsWith('/') ? '' : '/~/'}${vault}`
  const hint = options.settingsHint ?? 'the [sftp] table of credentials.toml'
  const baseShown = base === '' ? 'the login folder' : base
  const io = new Limiter(IO_SLOTS)

  let session: Promise<Session> | undefined
  let closed = false
  const dirs = new Map<string, Promise<void>>()
  let swept: Promise<void> | undefined

  // --- connecting ------------------------------------------------------------------------------

  function hostKeyError(v: Exclude<HostKeyVerdict, { ok: true }>): ProviderError {
    const label = TYPE_LABEL[v.type] ?? v.type
    const hostName = knownHostsName(host, port)
    const scan = `ssh-keyscan ${port === 22 ? '' : `-p ${port} `}-t ${label.toLowerCase()} ${host} >> ${options.knownHosts}`
    const check = `make sure it is the server's: its administrator can show it with ssh-keygen -lf /etc/ssh/ssh_host_${label.toLowerCase()}_key.pub`
    let message: string
    if (v.problem === 'unknown') {
      message =
        `the server's host key is not known, so Cloudy does not trust it (${label} key ${v.fingerprint}; ` +
        `no entry for ${hostName} in ${options.knownHosts}). To accept it, first ${check}; then add it: ${scan}`
    } else if (v.problem === 'changed') {
      message =
        `the server's host key has CHANGED (it offers ${label} key ${v.fingerprint}, but line ${v.lines.join(', ')} of ` +
        `${options.knownHosts} records another). Someone may be intercepting the connection, or the server was reinstalled; ` +
        `nothing was sent. Only if its administrator confirms the new key: ssh-keygen -R '${hostName}' -f ${options.knownHosts}, then ${scan}`
    } else {
      message = `the server's host key (${label} ${v.fingerprint}) is marked @revoked in ${options.knownHosts}: refusing to connect; ask the server's administrator`
    }
    return new ProviderError(name, message, { kind: 'hostkey' })
  }

  async function authMethods(): Promise<{ methods: AnyAuthMethod[]; tried: string[]; encrypted: string[] }> {
    const methods: AnyAuthMethod[] = []
    const tried: string[] = []
    const encrypted: string[] = []
    for (const file of options.identityFiles ?? []) {
      let text: string
      try {
        text = await readFile(file, 'utf8')
      } catch {
        continue
      }
      if (isEncryptedKey(text)) encrypted.push(file)
      else {
        methods.push({ type: 'publickey', username: user, key: text })
        tried.push(`the key ${file}`)
      }
    }
    if (options.agent) {
      methods.push({ type: 'agent', username: user, agent: options.agent })
      tried.push('the keys of ssh-agent')
    }
    if (options.password !== undefined) {
      const password = options.password
      methods.push({ type: 'password', username: user, password })
      methods.push({
        type: 'keyboard-interactive',
        username: user,
        prompt: (_n, _i, _l, prompts, finish) => finish(prompts.map(() => password)),
      })
      tried.push('the password')
    }
    return { methods, tried, encrypted }
  }

  function authError(tried: string[], encrypted: string[]): ProviderError {
    const locked = encrypted.length
      ? ` ${encrypted.join(', ')} is protected by a passphrase, which Cloudy does not ask for: load it into ssh-agent (ssh-add ${encrypted[0]}).`
      : ''
    if (tried.length === 0) {
      return new ProviderError(
        name,
        `no way to log in as ${user}: no usable SSH key, no ssh-agent (SSH_AUTH_SOCK) and no password.${locked} ` +
          `Set identity_file (or password) in ${hint}.`,
        { kind: 'auth' },
      )
    }
    const pub = (options.identityFiles ?? []).map((f) => `${f}.pub`)
    return new ProviderError(
      name,
      `the server at ${where} refused to log in as ${user} (tried ${tried.join(', ')}).${locked} ` +
        `Check that the public key${pub.length ? ` (${pub.join(', ')})` : ''} is in ~${user}/.ssh/authorized_keys on the server, ` +
        `or set identity_file or password in ${hint}.`,
      { kind: 'auth' },
    )
  }

  async function connect(): Promise<Session> {
    let known: KnownHost[] = []
    try {
      known = parseKnownHosts(await readFile(options.knownHosts, 'utf8'))
    } catch (e) {
      // No file is no known host: the key is then refused as unknown, with how to add it.
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new ProviderError(name, `cannot read ${options.knownHosts}: ${(e as Error).message}`, { cause: e, kind: 'hostkey' })
      }
    }
    const { methods, tried, encrypted } = await authMethods()
    if (methods.length === 0) throw authError(tried, encrypted)
    const readyTimeout = options.readyTimeoutMs ?? 20_000

    let sock: Socket
    try {
      sock = await openTcp(host, port, readyTimeout)
    } catch (e) {
      const code = statusOf(e)
      if (code === 'ENOTFOUND' || code === 'EAI_NONAME') {
        throw new ProviderError(name, `cannot find the host ${host}: check its name in the provider URL`, { cause: e, kind: 'unreachable' })
      }
      throw new TransientError(name, `cannot connect to ${where}: ${(e as Error).message}`, { cause: e })
    }

    const client = new SftpClient('cloudy', { error: () => {}, end: () => {}, close: () => {} })
    let sshError: SshError | undefined
    let verdict: HostKeyVerdict | undefined
    client.on('error', (e: SshError) => (sshError ??= e))
    let wire: SFTPWrapper
    try {
      wire = await client.connect({
        sock,
        host,
        port,
        username: user,
        authHandler: methods,
        hostVerifier: (key: Buffer) => (verdict = checkHostKey(known, host, port, key)).ok,
        algorithms: hostKeyAlgorithms(known, host, port),
        readyTimeout,
        // A server gone silent is found within ~40 s, before the retry policy's 60 s stall timeout
        // would try again on the same dead connection.
        keepaliveInterval: 10_000,
        keepaliveCountMax: 3,
      })
    } catch (e) {
      sock.destroy()
      if (verdict && !verdict.ok) throw hostKeyError(verdict)
      const err = sshError ?? (e as SshError)
      const level = sshError?.level
      if (level === 'client-authentication') throw authError(tried, encrypted)
      if (level === 'handshake' || level === 'protocol') {
        throw new ProviderError(name, `the SSH handshake with ${where} failed: ${err.message}`, { cause: e })
      }
      if (/subsystem/i.test((e as Error).message)) {
        throw new ProviderError(
          name,
          `the server at ${where} does not offer SFTP: enable it in its sshd_config (Subsystem sftp internal-sftp)`,
          {
            cause: e,
          },
        )
      }
      throw new TransientError(name, `the connection to ${where} broke while logging in: ${err.message}`, { cause: e })
    }
    // ssh2 keeps these private; they are what the server announced (and its limits@openssh.com).
    const inner = wire as unknown as { _extensions?: Record<string, string>; _maxReadLen?: number; _maxWriteLen?: number }
    const ext = options.extensions === false ? {} : (inner._extensions ?? {})
    const s = new Session(
      client,
      wire,
      sock,
      {
        posixRename: ext['posix-rename@openssh.com'] === '1',
        hardlink: ext['hardlink@openssh.com'] === '1',
        fsync: ext['fsync@openssh.com'] === '1',
        statvfs: ext['statvfs@openssh.com'] === '2',
      },
      inner._maxReadLen ?? 32 * 1024,
      inner._maxWriteLen ?? 32 * 1024,
    )
    const died = () => (s.dead = true)
    client.on('close', died)
    client.on('end', died)
    client.on('error', died)
    wire.on('close', died)
    wire.on('end', died)
    wire.on('error', died)

    // The base folder is the user's to make (a missing one is most likely a wrong URL), unless
    // init asked for it, as restic and rclone make it.
    try {
      if (options.createBase && base !== '') await makeBase(s)
      const st = await request<Stats>(s, (cb) => wire.stat(base === '' ? '.' : base, cb))
      if (!st.isDirectory())
        throw new ProviderError(name, `${baseShown} on ${where} is not a folder: fix the path in the provider URL`, { kind: 'missing' })
    } catch (e) {
      const told =
        statusOf(e) === NO_SUCH_FILE
          ? new ProviderError(
              name,
              `the folder ${baseShown} does not exist on ${where}: create it (ssh ${port === 22 ? '' : `-p ${port} `}${user}@${host} mkdir -p '${base}') or fix the provider URL`,
              { cause: e, kind: 'missing' },
            )
          : await failure(s, e, `opening ${baseShown}`)
      await s.end()
      throw told
    }
    return s
  }

  /** The open connection, or a new one when there is none or it died. */
  function live(): Promise<Session> {
    if (closed) return Promise.reject(new Error(`${name}: the provider was closed`))
    const current = session
    if (current) {
      return current.then(
        (s) => (s.dead ? reopen(current) : s),
        () => reopen(current),
      )
    }
    return reopen(undefined)
  }

  function reopen(old: Promise<Session> | undefined): Promise<Session> {
    if (session !== old) return live()
    void old?.then((s) => s.end()).catch(() => {})
    const next = connect()
    session = next
    next.catch(() => {})
    return next
  }

  // --- errors ------------------------------------------------------------------------------------

  async function diskFull(s: Session): Promise<boolean> {
    if (!s.ext.statvfs || s.dead) return false
    try {
      const fs = await request<{ f_bavail: number; f_frsize: number; f_favail: number }>(s, (cb) => s.sftp.ext_openssh_statvfs(vault, cb))
      return fs.f_bavail * fs.f_frsize < 1024 * 1024 || fs.f_favail === 0
    } catch {
      return false
    }
  }

  /** What an SFTP failure means for the user and the retry policy. */
  async function failure(s: Session, e: unknown, what: string): Promise<unknown> {
    if (e instanceof CloudyError || e instanceof BodyFailure) return e
    const code = statusOf(e)
    const message = (e as Error)?.message ?? String(e)
    if (
      s.dead ||
      isTransient(e) ||
      code === NO_CONNECTION ||
      code === CONNECTION_LOST ||
      /No response from server|connection is closed/.test(message)
    ) {
      s.dead = true
      return new TransientError(name, `${what}: the connection to ${where} was lost (${message})`, { cause: e })
    }
    if (typeof code !== 'number') return e
    if (
      code === NO_SPACE ||
      code === QUOTA_EXCEEDED ||
      /quota|no space|disk full/i.test(message) ||
      (code === FAILURE && (await diskFull(s)))
    ) {
      return new ProviderError(
        name,
        `the server's disk is full (or the account's quota is used up) while ${what}: free some space on ${where}, then run again; nothing stored so far is lost`,
        { cause: e, kind: 'quota' },
      )
    }
    if (code === PERMISSION_DENIED) {
      return new ProviderError(name, `${what}: permission denied on the server; let ${user} read and write ${vault} on ${where}`, {
        cause: e,
      })
    }
    if (code === NO_SUCH_FILE) {
      return new ProviderError(
        name,
        `${what}: a folder of the vault disappeared from ${where} (${message}); check that ${baseShown} still exists`,
        {
          cause: e,
          kind: 'missing',
        },
      )
    }
    return new ProviderError(name, `${what}: the server refused (${message})`, { cause: e })
  }

  /** Run `op` on the live connection; failures come out classified. */
  async function run<T>(what: string, op: (s: Session) => Promise<T>): Promise<T> {
    const s = await live()
    try {
      return await op(s)
    } catch (e) {
      if (e instanceof BodyFailure) throw e.error
      throw await failure(s, e, what)
    }
  }

  // --- requests ------------------------------------------------------------------------------

  const open = (s: Session, path: string, flags: 'r' | 'wx') => request<Buffer>(s, (cb) => s.sftp.open(path, flags, cb))
  const closeHandle = (s: Session, h: Buffer) => request<void>(s, (cb) => s.sftp.close(h, cb))
  const unlink = (s: Session, path: string) => request<void>(s, (cb) => s.sftp.unlink(path, cb))
  const stat = (s: Session, path: string) => request<Stats>(s, (cb) => s.sftp.stat(path, cb))
  const readdir = (s: Session, path: string) => request<FileEntryWithStats[]>(s, (cb) => s.sftp.readdir(path, cb))

  async function statOrNone(s: Session, path: string): Promise<Stats | undefined> {
    try {
      return await stat(s, path)
    } catch (e) {
      if (statusOf(e) === NO_SUCH_FILE) return undefined
      throw e
    }
  }

  function read(s: Session, h: Buffer, buf: Buffer, off: number, len: number, position: number): Promise<number> {
    return new Promise((resolve, reject) => {
      if (s.dead) return reject(Object.assign(new Error('the connection is closed'), { code: 'ENOTCONN' }))
      try {
        s.sftp.read(h, buf, off, len, position, (err, n) => (err ? reject(err) : resolve(n)))
      } catch (e) {
        reject(e)
      }
    })
  }

  /** `length` bytes from `offset`, fewer at the end of the file; many reads in flight. */
  async function readAt(s: Session, h: Buffer, offset: number, length: number): Promise<Buffer> {
    if (length <= 0) return Buffer.alloc(0)
    const buf = Buffer.allocUnsafe(length)
    let end = length
    const piece = async (start: number, len: number) => {
      let got = 0
      while (got < len && start + got < end) {
        const n = await io.run(() => read(s, h, buf, start + got, len - got, offset + start + got))
        if (n === 0) break
        got += n
      }
      if (got < len) end = Math.min(end, start + got)
    }
    const pieces: Promise<void>[] = []
    for (let p = 0; p < length; p += s.maxRead) pieces.push(piece(p, Math.min(s.maxRead, length - p)))
    await Promise.all(pieces)
    return end === length ? buf : buf.subarray(0, end)
  }

  /**
   * Write the whole body at the start of the file, `PUT_WINDOW` requests in flight. ssh2 copies
   * a request's bytes when it sends it, so a buffer is free for reuse once its write has begun.
   */
  async function writeAll(s: Session, h: Buffer, body: PutBody): Promise<void> {
    const chunk = s.maxWrite
    const inflight = new Set<Promise<void>>()
    let failed: { error: unknown } | undefined
    // A function, so the type checker does not take `failed` for settled between awaits.
    const rethrow = () => {
      if (failed) throw failed.error
    }
    let position = 0

    const send = async (data: Buffer) => {
      const at = position
      position += data.length
      let begun!: () => void
      const started = new Promise<void>((r) => (begun = r))
      const done: Promise<void> = io
        .run(
          () =>
            new Promise<void>((resolve, reject) => {
              begun()
              if (s.dead) return reject(Object.assign(new Error('the connection is closed'), { code: 'ENOTCONN' }))
              try {
                s.sftp.write(h, data, 0, data.length, at, (err) => (err ? reject(err) : resolve()))
              } catch (e) {
                reject(e)
              }
            }),
        )
        .catch((e: unknown) => void (failed ??= { error: e }))
        .finally(() => inflight.delete(done))
      inflight.add(done)
      await started
      while (inflight.size >= PUT_WINDOW && !failed) await Promise.race(inflight)
      rethrow()
    }

    // Small pieces are gathered into whole requests; big ones are sent in place.
    let acc = Buffer.allocUnsafe(0)
    let accLen = 0
    try {
      const parts: AsyncIterable<Uint8Array> | Uint8Array[] = body instanceof Uint8Array ? [body] : body
      try {
        for await (const part of parts) {
          if (failed) break
          let p = Buffer.from(part.buffer, part.byteOffset, part.byteLength)
          while (p.length > 0) {
            if (accLen === 0 && p.length >= chunk) {
              await send(p.subarray(0, chunk))
              p = p.subarray(chunk)
              continue
            }
            if (acc.length === 0) acc = Buffer.allocUnsafe(chunk)
            const n = p.copy(acc, accLen)
            accLen += n
            p = p.subarray(n)
            if (accLen === chunk) {
              await send(acc)
              accLen = 0
            }
          }
        }
      } catch (e) {
        rethrow()
        // `send` only throws `failed`; anything else came from the caller's body.
        throw new BodyFailure(e)
      }
      rethrow()
      if (accLen > 0) await send(acc.subarray(0, accLen))
    } finally {
      await Promise.all(inflight)
    }
    rethrow()
  }

  // --- folders -------------------------------------------------------------------------------

  /** `mkdir -p` of the base folder, one component at a time (SFTP v3 has no recursive mkdir). */
  async function makeBase(s: Session): Promise<void> {
    const parts = base.split('/')
    for (let i = 1; i <= parts.length; i++) {
      const dir = parts.slice(0, i).join('/')
      if (dir === '' || dir === '~') continue
      if ((await statOrNone(s, dir))?.isDirectory()) continue
      await request<void>(s, (cb) => s.sftp.mkdir(dir, cb)).catch(async (e: unknown) => {
        if (!(await statOrNone(s, dir))?.isDirectory()) throw e
      })
    }
  }

  /** Make `dir` and its parents up to `base` (which must exist); each folder once per process. */
  function ensureDir(s: Session, dir: string): Promise<void> {
    let p = dirs.get(dir)
    if (!p) {
      p = mkdirs(s, dir)
      dirs.set(dir, p)
      p.catch(() => dirs.delete(dir))
    }
    return p
  }

  async function mkdirs(s: Session, dir: string): Promise<void> {
    if (dir === base || dir === '' || dir === '.' || dir === '/') return
    const mkdir = () => request<void>(s, (cb) => s.sftp.mkdir(dir, cb))
    const isDir = async () => (await statOrNone(s, dir))?.isDirectory() === true
    try {
      await mkdir()
      return
    } catch (e) {
      if (statusOf(e) !== NO_SUCH_FILE) {
        // Most likely it exists already (another put made it); SFTP v3 has no "exists" status.
        if (await isDir()) return
        throw e
      }
    }
    const parent = posix.dirname(dir)
    if (parent === base || (base === '' && parent === '.')) {
      throw new ProviderError(name, `the folder ${baseShown} no longer exists on ${where}: create it again or fix the provider URL`, {
        kind: 'missing',
      })
    }
    await ensureDir(s, parent)
    try {
      await mkdir()
    } catch (e) {
      if (!(await isDir())) throw e
    }
  }

  /** Remove temp files of puts that died with their connection more than a day ago. */
  async function sweep(s: Session): Promise<void> {
    try {
      const dayAgo = Date.now() / 1000 - 24 * 3600
      for (const e of await readdir(s, tmpDir)) {
        if (e.attrs.isFile() && e.attrs.mtime < dayAgo) await unlink(s, `${tmpDir}/${e.filename}`).catch(() => {})
      }
    } catch {
      // Nothing to sweep, or no right to: neither stops a put.
    }
  }

  // --- moving a finished temp file into place -----------------------------------------------

  /** Replace whatever is at `final` in one step. */
  async function replace(s: Session, tmp: string, final: string): Promise<void> {
    if (s.ext.posixRename) {
      await request<void>(s, (cb) => s.sftp.ext_openssh_rename(tmp, final, cb))
      return
    }
    // Without posix-rename (not OpenSSH): SFTP v3 rename refuses an existing name, so the old
    // object goes first; a reader may then briefly find no object, never a partial one.
    try {
      await request<void>(s, (cb) => s.sftp.rename(tmp, final, cb))
    } catch (e) {
      if (!(await statOrNone(s, final))) throw e
      await unlink(s, final)
      await request<void>(s, (cb) => s.sftp.rename(tmp, final, cb))
    }
  }

  /** Put the temp file at `final` only if nothing is there: link (or v3 rename) fails on an existing name. */
  async function claim(s: Session, tmp: string, final: string, key: string): Promise<void> {
    const taken = async (e: unknown) => statusOf(e) === FAILURE && !!(await statOrNone(s, final))
    if (s.ext.hardlink) {
      try {
        await request<void>(s, (cb) => s.sftp.ext_openssh_hardlink(tmp, final, cb))
        await unlink(s, tmp).catch(() => {})
        return
      } catch (e) {
        if (await taken(e)) throw new AlreadyExistsError(name, key)
        // A file system without hard links (FAT, exFAT, some NAS mounts) refuses link(): the
        // v3 rename below refuses an existing name just the same (OpenSSH tries link, then
        // checks and renames).
      }
    }
    try {
      await request<void>(s, (cb) => s.sftp.rename(tmp, final, cb))
    } catch (e) {
      if (await taken(e)) throw new AlreadyExistsError(name, key)
      throw e
    }
  }

  /** Run `step`; if a folder it needs vanished (removed on the server), make the folders again once. */
  async function again<T>(s: Session, folder: string, step: () => Promise<T>): Promise<T> {
    try {
      return await step()
    } catch (e) {
      if (statusOf(e) !== NO_SUCH_FILE) throw e
      dirs.clear()
      await ensureDir(s, folder)
      return step()
    }
  }

  const pathOf = (key: string) => `${vault}/${key}`

  return {
    name,
    // Requests of several packs share the one connection's window: a few at once hide its round trips.
    parallelism: 4,

    async get(key: string, range?: ByteRange): Promise<Uint8Array> {
      assertKey(name, key)
      return run(`reading ${key}`, async (s) => {
        let h: Buffer
        try {
          h = await open(s, pathOf(key), 'r')
        } catch (e) {
          if (statusOf(e) === NO_SUCH_FILE) throw new NotFoundError(name, key)
          throw e
        }
        try {
          const size = async () => (await request<Stats>(s, (cb) => s.sftp.fstat(h, cb))).size
          // A long range is cut to the file first, so the buffer is not bigger than what exists.
          const length = !range
            ? await size()
            : range.length > 1024 * 1024
              ? Math.min(range.length, (await size()) - range.offset)
              : range.length
          return await readAt(s, h, range?.offset ?? 0, length)
        } finally {
          // Not waited for: the server answers in order, and a read handle has nothing to flush.
          closeHandle(s, h).catch(() => {})
        }
      })
    },

    async put(key: string, body: PutBody, opts: PutOptions = {}): Promise<void> {
      assertKey(name, key)
      const final = pathOf(key)
      await run(`writing ${key}`, async (s) => {
        await (swept ??= sweep(s))
        if (opts.ifAbsent && (await statOrNone(s, final))) throw new AlreadyExistsError(name, key)
        await Promise.all([ensureDir(s, tmpDir), ensureDir(s, posix.dirname(final))])
        const tmp = `${tmpDir}/${randomBytes(12).toString('hex')}`
        const h = await again(s, tmpDir, () => open(s, tmp, 'wx'))
        try {
          try {
            await writeAll(s, h, body)
            // Durable before it is visible, as the local provider does with fsync.
            if (s.ext.fsync) await request<void>(s, (cb) => s.sftp.ext_openssh_fsync(h, cb))
          } catch (e) {
            await closeHandle(s, h).catch(() => {})
            throw e
          }
          await closeHandle(s, h)
          await again(s, posix.dirname(final), () => (opts.ifAbsent ? claim(s, tmp, final, key) : replace(s, tmp, final)))
        } catch (e) {
          // Told apart first: removing the temp file frees the space a full disk lacked.
          const told = await failure(s, e, `writing ${key}`)
          await unlink(s, tmp).catch(() => {})
          throw told
        }
      })
    },

    async *list(prefix: string): AsyncIterable<ObjectInfo> {
      assertKey(name, prefix, true)
      const slash = prefix.lastIndexOf('/')
      const waiting = [slash < 0 ? '' : prefix.slice(0, slash)]
      const running = new Map<number, Promise<[number, string, FileEntryWithStats[]]>>()
      let ids = 0
      const start = () => {
        while (running.size < LIST_PARALLEL && waiting.length > 0) {
          const rel = waiting.shift()!
          const id = ids++
          const entries = run(`listing ${prefix || 'the vault'}`, async (s) => {
            try {
              return await readdir(s, rel ? pathOf(rel) : vault)
            } catch (e) {
              if (statusOf(e) === NO_SUCH_FILE) return []
              throw e
            }
          })
          running.set(
            id,
            entries.then((list) => [id, rel, list]),
          )
        }
      }
      try {
        start()
        while (running.size > 0) {
          const [id, rel, entries] = await Promise.race(running.values())
          running.delete(id)
          const files: ObjectInfo[] = []
          for (const e of entries) {
            if (e.filename === '.' || e.filename === '..' || (!rel && e.filename === TMP)) continue
            const key = rel ? `${rel}/${e.filename}` : e.filename
            if (e.attrs.isDirectory()) {
              if (prefix.startsWith(key + '/') || key.startsWith(prefix)) waiting.push(key)
            } else if (e.attrs.isFile() && key.startsWith(prefix)) {
              files.push({ key, size: e.attrs.size, mtimeMs: e.attrs.mtime * 1000 })
            }
          }
          start()
          yield* files
        }
      } finally {
        // A listing abandoned mid-way leaves readdirs running: their failures are nobody's.
        for (const p of running.values()) p.catch(() => {})
      }
    },

    async delete(key: string): Promise<void> {
      assertKey(name, key)
      await run(`deleting ${key}`, async (s) => {
        try {
          await unlink(s, pathOf(key))
        } catch (e) {
          if (statusOf(e) !== NO_SUCH_FILE) throw e
        }
      })
    },

    async stat(key: string): Promise<ObjectInfo | undefined> {
      assertKey(name, key)
      return run(`looking up ${key}`, async (s) => {
        const st = await statOrNone(s, pathOf(key))
        return st?.isFile() ? { key, size: st.size, mtimeMs: st.mtime * 1000 } : undefined
      })
    },

    async close(): Promise<void> {
      closed = true
      const current = session
      session = undefined
      const s = await current?.catch(() => undefined)
      await s?.end()
    },
  }
}
