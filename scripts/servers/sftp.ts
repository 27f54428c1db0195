/**
 * A private SFTP server for tests, the bench and manual use: Debian's own OpenSSH `sshd`, run in
 * the foreground on 127.0.0.1 and a free high port with its own host key, client key,
 * authorized_keys and config, all in one temp folder removed on stop. Never the system sshd,
 * never port 22.
 *
 * Run on its own (`node dist/scripts/servers/sftp.js`), it prints the provider URL and the
 * credentials.toml table to use, and stops on Ctrl-C or SIGTERM.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir, userInfo } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import type { TestServer } from './test-server.js'

const SSHD = '/usr/sbin/sshd'
const SSH_KEYGEN = '/usr/bin/ssh-keygen'
const HOST = '127.0.0.1'

/** What the SFTP test server offers beyond a `TestServer`. */
export interface SftpServer extends TestServer {
  readonly host: string
  readonly port: number
  /** The login name (the user running the server: it can only serve as itself). */
  readonly user: string
  /** The client's private key, listed in the server's authorized_keys. */
  readonly identityFile: string
  /** A known_hosts file that holds the server's host key as `[127.0.0.1]:PORT`. */
  readonly knownHosts: string
  /** The server's host key, as a known_hosts line would give it (`ssh-ed25519 AAAA…`). */
  readonly hostKey: string
  /** `SHA256:…`, as ssh prints it. */
  readonly hostKeyFingerprint: string
  /** The folder under which `newUrl()` makes its fresh folders. */
  readonly dataDir: string
  /** Kill every open connection (the per-connection sshd processes); returns how many there were. */
  dropConnections(): Promise<number>
  /** sshd's log so far (stderr), for a failing test's diagnostics. */
  log(): string
}

/** Options of `startSftpServer`. */
export interface SftpServerOptions {
  /** Port to listen on; default a free one. */
  port?: number
}

const run = promisify(execFile)

async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, HOST, () => {
      const { port } = srv.address() as { port: number }
      srv.close(() => resolvePort(port))
    })
  })
}

async function keygen(file: string, comment: string): Promise<void> {
  await run(SSH_KEYGEN, ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', file])
}

/** The pids of the processes whose parent is `pid`, read from /proc (no `ps` needed). */
function children(pid: number): number[] {
  const out: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    let stat: string
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
    } catch {
      continue
    }
    // "pid (comm) state ppid …": comm may hold spaces and parentheses, so parse after the last ')'.
    const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    if (Number(ppid) === pid && state !== 'Z') out.push(Number(entry))
  }
  return out
}

function descendants(pid: number): number[] {
  const out: number[] = []
  for (const c of children(pid)) out.push(c, ...descendants(c))
  return out
}

/** Whether `pid` is still running (a zombie is not: it only waits to be reaped). */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z'
  } catch {
    return false
  }
}

async function gone(pids: number[], ms: number): Promise<void> {
  const until = Date.now() + ms
  while (pids.some(running) && Date.now() < until) await new Promise((r) => setTimeout(r, 20))
}

function kill(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal)
  } catch {
    // Already gone.
  }
}

/**
 * Kill the connections of the sshd listening as `listener`: each is a process (with a session
 * child, which ends by itself once its parent is gone). Waits until they are all gone.
 */
async function dropConnections(listener: number): Promise<number> {
  const conns = children(listener)
  const all = conns.flatMap((pid) => [pid, ...descendants(pid)])
  for (const pid of conns) kill(pid, 'SIGKILL')
  await gone(all, 3000)
  for (const pid of all.filter(running)) kill(pid, 'SIGKILL')
  await gone(all, 2000)
  return conns.length
}

function config(dir: string, port: number, user: string): string {
  return [
    `ListenAddress ${HOST}:${port}`,
    `HostKey ${join(dir, 'host_ed25519_key')}`,
    `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
    `PidFile none`,
    // The temp folder's modes are not what sshd insists on for a home; PAM needs a system login.
    'StrictModes no',
    'UsePAM no',
    `AllowUsers ${user}`,
    'PermitRootLogin prohibit-password',
    'PubkeyAuthentication yes',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'Subsystem sftp internal-sftp',
    'UseDNS no',
    'PrintMotd no',
    'PermitTTY no',
    'X11Forwarding no',
    'AllowTcpForwarding no',
    'AllowAgentForwarding no',
    // Tests open many connections at once; sshd's default drops some of them beyond 10.
    'MaxStartups 100:30:200',
    'LogLevel INFO',
    '',
  ].join('\n')
}

/**
 * sshd under a small shell that ends it, and removes its folder, when this process's pipe to the
 * shell closes: on stop(), and also when this process dies without stopping it (a crashed or
 * killed test), so no sshd is ever left listening.
 */
const GUARD = '"$@" & pid=$!; read -r _; kill $pid 2>/dev/null; wait $pid; rm -rf "$SFTPD_DIR"'

interface Sshd {
  /** The shell that holds sshd. */
  guard: ChildProcess
  /** sshd's own pid: its children are the open connections. */
  pid: number
  exited: Promise<void>
}

/** Start sshd on `port`; resolves once it listens, rejects with its log if it exits first. */
function startSshd(dir: string, configFile: string, port: number, logs: string[]): Promise<Sshd> {
  return new Promise((resolveStart, reject) => {
    const guard = spawn('/bin/sh', ['-c', GUARD, 'sh', SSHD, '-D', '-e', '-f', configFile], {
      stdio: ['pipe', 'ignore', 'pipe'],
      env: { PATH: '/usr/bin:/bin', SFTPD_DIR: dir },
    })
    const exited = new Promise<void>((r) => guard.once('exit', () => r()))
    let ready = false
    const timer = setTimeout(() => {
      guard.stdin!.end()
      reject(new Error(`sshd did not start listening within 10 s:\n${logs.join('')}`))
    }, 10_000)
    guard.stderr!.setEncoding('utf8')
    guard.stderr!.on('data', (d: string) => {
      logs.push(d)
      if (logs.length > 2000) logs.splice(0, 1000)
      if (!ready && logs.join('').includes(`Server listening on ${HOST} port ${port}`)) {
        ready = true
        clearTimeout(timer)
        const [pid] = children(guard.pid!)
        if (pid === undefined) reject(new Error('sshd said it listens, but it is not running'))
        else resolveStart({ guard, pid, exited })
      }
    })
    guard.once('error', (e) => {
      clearTimeout(timer)
      reject(e)
    })
    guard.once('exit', (code, signal) => {
      if (ready) return
      clearTimeout(timer)
      reject(new Error(`sshd exited (${code ?? signal}) before listening:\n${logs.join('')}`))
    })
  })
}

export async function startSftpServer(options: SftpServerOptions = {}): Promise<SftpServer> {
  const user = userInfo().username
  const dir = mkdtempSync(join(tmpdir(), 'cloudy-sftpd-'))
  let sshd: Sshd | undefined
  try {
    // sshd's privilege separation needs this folder when run as root; the system's sshd
    // service normally creates it.
    if (process.getuid?.() === 0) mkdirSync('/run/sshd', { recursive: true, mode: 0o755 })
    const hostKeyFile = join(dir, 'host_ed25519_key')
    const identityFile = join(dir, 'client_ed25519_key')
    await Promise.all([keygen(hostKeyFile, 'cloudy-test-host'), keygen(identityFile, 'cloudy-test-client')])
    writeFileSync(join(dir, 'authorized_keys'), readFileSync(`${identityFile}.pub`), { mode: 0o600 })
    const dataDir = join(dir, 'data')
    mkdirSync(dataDir)

    const logs: string[] = []
    let port = options.port ?? 0
    // A free port can be taken between the check and sshd's bind: try another.
    for (let attempt = 0; ; attempt++) {
      if (!options.port) port = await freePort()
      const configFile = join(dir, 'sshd_config')
      writeFileSync(configFile, config(dir, port, user))
      try {
        sshd = await startSshd(dir, configFile, port, logs)
        break
      } catch (e) {
        if (options.port || attempt >= 4 || !/Address already in use/.test(String(e))) throw e
      }
    }
    const server = sshd

    const [type = '', blob = ''] = readFileSync(`${hostKeyFile}.pub`, 'utf8').trim().split(/\s+/)
    const hostKey = `${type} ${blob}`
    const fingerprint = 'SHA256:' + createHash('sha256').update(Buffer.from(blob, 'base64')).digest('base64').replace(/=+$/, '')
    const knownHosts = join(dir, 'known_hosts')
    writeFileSync(knownHosts, `[${HOST}]:${port} ${hostKey}\n`)

    let folders = 0
    let stopping: Promise<void> | undefined

    return {
      host: HOST,
      port,
      user,
      identityFile,
      knownHosts,
      hostKey,
      hostKeyFingerprint: fingerprint,
      dataDir,
      credentials: { sftp: { identity_file: identityFile, known_hosts: knownHosts } },
      env: {},
      newUrl() {
        const folder = join(dataDir, String(++folders))
        mkdirSync(folder)
        return `sftp://${user}@${HOST}:${port}${folder}`
      },
      dropConnections: () => dropConnections(server.pid),
      log: () => logs.join(''),
      stop() {
        return (stopping ??= (async () => {
          // Open connections are processes of their own that would outlive the listener.
          await dropConnections(server.pid)
          server.guard.stdin!.end()
          // Also directly: a Ctrl-C in a terminal reaches the shell too, which may be gone already.
          kill(server.pid, 'SIGTERM')
          const timer = setTimeout(() => kill(server.pid, 'SIGKILL'), 5000)
          await server.exited
          clearTimeout(timer)
          await gone([server.pid], 5000)
          rmSync(dir, { recursive: true, force: true })
        })())
      },
    }
  } catch (e) {
    sshd?.guard.stdin!.end()
    await sshd?.exited
    rmSync(dir, { recursive: true, force: true })
    throw e
  }
}

/** Standalone: start, print how to use it, stop on a signal. */
async function main(): Promise<void> {
  const server = await startSftpServer()
  const url = server.newUrl()
  const toml = Object.entries(server.credentials.sftp!)
    .map(([k, v]) => `${k} = ${JSON.stringify(v)}`)
    .join('\n')
  process.stdout.write(
    `SFTP server (OpenSSH sshd) on ${server.host}:${server.port}, host key ${server.hostKeyFingerprint}\n` +
      `provider URL:\n  ${url}\n` +
      `credentials.toml ($CLOUDY_HOME/credentials.toml, mode 0600):\n[sftp]\n${toml}\n` +
      `Ctrl-C stops it and removes its files.\n`,
  )
  const stop = () => {
    server.stop().then(
      () => process.exit(0),
      (e: unknown) => {
        console.error(e)
        process.exit(1)
      },
    )
  }
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((e: unknown) => {
    console.error(e instanceof Error ? e.message : e)
    process.exit(1)
  })
}
