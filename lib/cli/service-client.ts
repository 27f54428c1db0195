/**
 * A command's way to the running service (lib/daemon/service.ts): where one runs and holds the
 * unlocked vault, commands are asked of it and need no password; a locked service, or none,
 * leaves the command to open the vault itself.
 */
import { existsSync } from 'node:fs'
import { askJson } from '../daemon/ipc.js'
import { serviceSocket, type ServiceRequest, type ServiceStatus } from '../daemon/service.js'
import { CloudyError, EXIT } from '../errors.js'
import { cloudyPaths } from '../paths.js'

export interface ServiceClient {
  status: ServiceStatus
  call<T>(req: ServiceRequest): Promise<T>
}

/** A day: an up-sync of a large change takes as long as it takes. */
const JOB_MS = 24 * 3600 * 1000

/** The service of this user, if one answers; `unlocked`: only one that holds the keys. */
export async function serviceFor(
  env: NodeJS.ProcessEnv,
  o: { unlocked?: boolean } = { unlocked: true },
): Promise<ServiceClient | undefined> {
  const socket = serviceSocket(cloudyPaths(env))
  if (!existsSync(socket)) return undefined
  let status: ServiceStatus
  try {
    const reply = await askJson<ServiceStatus>(socket, { op: 'status' }, 10_000, 'the Cloudy service')
    if (!reply.ok || !reply.result) return undefined
    status = reply.result
  } catch {
    // Left by a service that stopped: nobody listens.
    return undefined
  }
  if (o.unlocked && status.locked) return undefined
  return {
    status,
    async call<T>(req: ServiceRequest): Promise<T> {
      const r = await askJson<T>(socket, req, JOB_MS, 'the Cloudy service')
      if (!r.ok) throw new CloudyError(r.code ?? 'ESERVICE', r.exitCode ?? EXIT.FAILED, r.error ?? 'the Cloudy service failed')
      return r.result as T
    },
  }
}
