/**
 * One JSON line in, one JSON line out, over a Unix socket in a folder only this user can
 * enter (0700; the socket 0600): how Cloudy's commands reach the service and the mounts. A
 * handler's failure goes back as `{ ok: false, error, exitCode }`, so the asking command exits
 * as the operation would have.
 */
import { chmodSync, mkdirSync, rmSync } from 'node:fs'
import { createConnection, createServer, type Server } from 'node:net'
import { dirname } from 'node:path'

export interface Reply<T = unknown> {
  ok: boolean
  result?: T
  error?: string
  /** The exit code the failure calls for (5: the storage refused an upload), when it has one. */
  exitCode?: number
  /** The error's code (`ELOCKED`), when it has one. */
  code?: string
}

export interface JsonServer {
  close(): Promise<void>
}

/** Listen on `path` (its folder made 0700); each request is handled on its own. */
export async function serveJson(path: string, handle: (req: unknown) => Promise<unknown>): Promise<JsonServer> {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 })
  chmodSync(dirname(path), 0o700)
  rmSync(path, { force: true })
  const server: Server = createServer((socket) => {
    let text = ''
    socket.setEncoding('utf8')
    socket.on('data', (d: string) => {
      text += d
      if (!text.includes('\n')) return
      let req: unknown
      try {
        req = JSON.parse(text.slice(0, text.indexOf('\n')))
      } catch {
        socket.end(JSON.stringify({ ok: false, error: 'not a request' }) + '\n')
        return
      }
      handle(req).then(
        (result) => socket.end(JSON.stringify({ ok: true, result }) + '\n'),
        (e: unknown) => {
          const { exitCode, code } = e as { exitCode?: unknown; code?: unknown }
          const reply: Reply = {
            ok: false,
            error: (e as Error).message,
            exitCode: typeof exitCode === 'number' ? exitCode : undefined,
            code: typeof code === 'string' ? code : undefined,
          }
          socket.end(JSON.stringify(reply) + '\n')
        },
      )
    })
    socket.on('error', () => {})
  })
  const old = process.umask(0o177)
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(path, resolve)
    })
  } finally {
    process.umask(old)
  }
  return {
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        rmSync(path, { force: true })
      }),
  }
}

/** Send `req` to the server at `path`; its reply. Rejects when nobody listens (ECONNREFUSED, ENOENT). */
export function askJson<T>(path: string, req: unknown, timeoutMs: number, who = `the process at ${path}`): Promise<Reply<T>> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(path)
    socket.setTimeout(timeoutMs, () => {
      socket.destroy()
      reject(new Error(`${who} did not answer within ${Math.round(timeoutMs / 1000)} s`))
    })
    let text = ''
    socket.setEncoding('utf8')
    socket.on('connect', () => socket.write(JSON.stringify(req) + '\n'))
    socket.on('data', (d: string) => (text += d))
    socket.on('end', () => {
      try {
        resolve(JSON.parse(text) as Reply<T>)
      } catch {
        reject(new Error(`${who} answered nothing`))
      }
    })
    socket.on('error', reject)
  })
}
