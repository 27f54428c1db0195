/**
 * How other Cloudy commands reach a running mount: each mount listens on a Unix socket
 * `<state dir>/mounts/<pid>.sock` (mode 0600 folder: only this user). `cloudy sync up` asks
 * every mount to up-sync its journals, since only the process that owns a journal may publish
 * it. One JSON line in, one JSON line out.
 */
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs'
import { createConnection, createServer, type Server } from 'node:net'
import { join } from 'node:path'

export interface ControlRequest {
  op: 'up'
}

export interface ControlReply {
  ok: boolean
  /** Per space written through the mount: the new commit, if one was made. */
  commits?: string[]
  error?: string
  /** The exit code the failure calls for (5: the storage refused an upload), when it has one. */
  exitCode?: number
}

const dirOf = (stateDir: string) => join(stateDir, 'mounts')

export interface ControlServer {
  close(): Promise<void>
}

export async function serveControl(stateDir: string, handle: (r: ControlRequest) => Promise<ControlReply>): Promise<ControlServer> {
  mkdirSync(dirOf(stateDir), { recursive: true, mode: 0o700 })
  const path = join(dirOf(stateDir), `${process.pid}.sock`)
  rmSync(path, { force: true })
  const server: Server = createServer((socket) => {
    let text = ''
    socket.setEncoding('utf8')
    socket.on('data', (d: string) => {
      text += d
      if (!text.includes('\n')) return
      let req: ControlRequest
      try {
        req = JSON.parse(text.slice(0, text.indexOf('\n'))) as ControlRequest
      } catch {
        socket.end(JSON.stringify({ ok: false, error: 'not a request' }) + '\n')
        return
      }
      handle(req).then(
        (r) => socket.end(JSON.stringify(r) + '\n'),
        (e: unknown) => {
          const exitCode = (e as { exitCode?: unknown }).exitCode
          const reply: ControlReply = {
            ok: false,
            error: (e as Error).message,
            exitCode: typeof exitCode === 'number' ? exitCode : undefined,
          }
          socket.end(JSON.stringify(reply) + '\n')
        },
      )
    })
    socket.on('error', () => {})
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(path, resolve)
  })
  return {
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        rmSync(path, { force: true })
      }),
  }
}

/** Ask every running mount; the replies by process id. A socket nobody answers is removed. */
export async function askMounts(stateDir: string, req: ControlRequest): Promise<Map<number, ControlReply>> {
  const out = new Map<number, ControlReply>()
  const dir = dirOf(stateDir)
  if (!existsSync(dir)) return out
  for (const name of readdirSync(dir)) {
    const m = /^(\d+)\.sock$/.exec(name)
    if (!m) continue
    const path = join(dir, name)
    try {
      out.set(Number(m[1]), await ask(path, req))
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code
      // Left by a mount that died: nobody listens.
      if (code === 'ECONNREFUSED' || code === 'ENOENT') rmSync(path, { force: true })
      else out.set(Number(m[1]), { ok: false, error: (e as Error).message })
    }
  }
  return out
}

/** How long a mount may take to answer (an up-sync of large files takes a while). */
const ANSWER_WITHIN_MS = 10 * 60 * 1000

function ask(path: string, req: ControlRequest): Promise<ControlReply> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(path)
    socket.setTimeout(ANSWER_WITHIN_MS, () => {
      socket.destroy()
      reject(new Error(`the mount at ${path} did not answer within ${ANSWER_WITHIN_MS / 60_000} minutes`))
    })
    let text = ''
    socket.setEncoding('utf8')
    socket.on('connect', () => socket.write(JSON.stringify(req) + '\n'))
    socket.on('data', (d: string) => (text += d))
    socket.on('end', () => {
      try {
        resolve(JSON.parse(text) as ControlReply)
      } catch {
        reject(new Error(`the mount at ${path} answered nothing`))
      }
    })
    socket.on('error', reject)
  })
}
