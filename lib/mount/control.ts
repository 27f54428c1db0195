/**
 * How other Cloudy commands reach a running mount: each mount listens on a Unix socket
 * `<state dir>/mounts/<pid>.sock` (mode 0600 folder: only this user). `cloudy sync up` asks
 * every mount to up-sync its journals, since only the process that owns a journal may publish
 * it. One JSON line in, one JSON line out.
 */
import { existsSync, readdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { askJson, serveJson, type JsonServer } from '../daemon/ipc.js'

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

export type ControlServer = JsonServer

export function serveControl(stateDir: string, handle: (r: ControlRequest) => Promise<ControlReply>): Promise<ControlServer> {
  return serveJson(join(dirOf(stateDir), `${process.pid}.sock`), (req) => handle(req as ControlRequest))
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

async function ask(path: string, req: ControlRequest): Promise<ControlReply> {
  const reply = await askJson<ControlReply>(path, req, ANSWER_WITHIN_MS, `the mount at ${path}`)
  return reply.ok ? reply.result! : { ok: false, error: reply.error, exitCode: reply.exitCode }
}
