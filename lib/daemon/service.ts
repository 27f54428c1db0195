/**
 * The Cloudy service (docs/ARCHITECTURE.md, "The service"): one process per user that holds
 * the unlocked vault in memory, so that commands need no password, and follows the chain in
 * real time: as soon as another computer up-syncs, its changes are applied here with the sync
 * engine's rules (a file changed here is never overwritten, a running application's items
 * wait), except a mass deletion, which is held until the user confirms it. Commands reach it
 * through a socket in a folder only this user can enter.
 *
 * One job at a time (an up-sync, a down-sync, a look at the chain), each under the computer's
 * sync lock, so that a command run without the service and the service never sync at once.
 */
import { join } from 'node:path'
import { CloudyError, EXIT } from '../errors.js'
import { cloudyPaths, type CloudyPaths } from '../paths.js'
import { openSession, requireConfig, type Session } from '../session.js'
import { acquireSyncLock } from '../state/lock.js'
import { applyDownAll, downAllReport, planDownAll, type DownAllPlan, type DownAllReport } from '../sync/down-all.js'
import { treeFiles } from '../sync/pending.js'
import { spacesStatus } from '../sync/status.js'
import { syncUpAll, type UpAllResult } from '../sync/up-all.js'
import { serveJson, type JsonServer } from './ipc.js'

export class LockedServiceError extends CloudyError {
  constructor() {
    super('ELOCKED', EXIT.USAGE, 'the Cloudy service is locked: unlock it with "cloudy unlock"')
  }
}

/** What a command may ask the service. */
export type ServiceRequest =
  | { op: 'status' }
  | { op: 'unlock'; password: string }
  | { op: 'lock' }
  | { op: 'sync-up'; only?: string[] }
  | { op: 'sync-down'; only?: string[]; force?: boolean; apply: boolean }
  | { op: 'spaces-status' }

/** What `status` answers. */
export interface ServiceStatus {
  pid: number
  locked: boolean
  /** How the chain's changes are taken here. */
  down: 'realtime' | 'manual'
  /** When the service last looked at the chain, and what it found and did. */
  lastFollow?: { at: string; applied: number; conflicts: number; error?: string }
  /** Incoming changes not applied: waiting for `cloudy sync down` (manual), or held for a confirmation. */
  incoming?: { items: number; deletions: number; held?: string }
}

export interface ServiceOptions {
  env: NodeJS.ProcessEnv
  /** Lines for the log (stderr, the journal). */
  log: (line: string) => void
  /** How often to look at the chain when it has no change feed, in ms. Default 2000. */
  pollMs?: number
  /** Deletions held for a confirmation: more than this many at once (default 50)… */
  holdDeletions?: number
  /** …or more than this share of a space's files (default 0.2). */
  holdShare?: number
}

/** The socket of this user's service. */
export function serviceSocket(paths: CloudyPaths): string {
  return join(paths.runtimeDir, 'service.sock')
}

export class Service {
  readonly paths: CloudyPaths
  #o: ServiceOptions
  #session: Session | undefined
  #server: JsonServer | undefined
  #work: Promise<unknown> = Promise.resolve()
  #timer: NodeJS.Timeout | undefined
  #status: Omit<ServiceStatus, 'pid' | 'locked' | 'down'> = {}
  /** The heads of a mass deletion held for the user's `sync down` (said once in the log). */
  #held: string | undefined
  #stopping = false

  constructor(o: ServiceOptions) {
    this.#o = o
    this.paths = cloudyPaths(o.env)
  }

  get locked(): boolean {
    return !this.#session
  }

  /** Listen for commands. */
  async start(): Promise<void> {
    this.#server = await serveJson(serviceSocket(this.paths), (req) => this.handle(req as ServiceRequest))
    this.#o.log(`cloudy service: listening on ${serviceSocket(this.paths)}${this.locked ? '; locked' : ''}`)
  }

  /** Open the vault with `password`; the keys stay in this process's memory until `lock`. */
  async unlock(password: string): Promise<void> {
    if (this.#session) return
    this.#session = await openSession({ env: this.#o.env, password: async () => password, notice: this.#o.log })
    this.#o.log('cloudy service: unlocked')
    this.#schedule(0)
  }

  /** Forget the keys (the vault's keys are wiped from memory); commands ask for the password again. */
  async lock(): Promise<void> {
    clearTimeout(this.#timer)
    const s = this.#session
    this.#session = undefined
    // A job running with the keys finishes first.
    await this.#work.catch(() => {})
    await s?.close()
    if (s) this.#o.log('cloudy service: locked')
  }

  /** Finish the running job, stop listening, forget the keys. */
  async stop(): Promise<void> {
    this.#stopping = true
    clearTimeout(this.#timer)
    await this.#server?.close()
    await this.lock()
  }

  async handle(req: ServiceRequest): Promise<unknown> {
    switch (req.op) {
      case 'status':
        return this.status()
      case 'unlock':
        await this.unlock(req.password)
        return this.status()
      case 'lock':
        await this.lock()
        return this.status()
      case 'sync-up':
        return this.#job(async (s): Promise<UpAllResult> => syncUpAll(s, { only: req.only }))
      case 'sync-down':
        return this.#job(async (s): Promise<DownAllReport> => {
          const planned = await planDownAll(s, { only: req.only, force: req.force })
          if (!req.apply) return downAllReport(planned)
          this.#held = undefined
          return downAllReport(planned, await applyDownAll(s, planned))
        })
      case 'spaces-status':
        return this.#job((s) => spacesStatus(s))
      default:
        throw new CloudyError('EREQUEST', EXIT.USAGE, `the service does not know "${String((req as { op?: unknown }).op)}"`)
    }
  }

  status(): ServiceStatus {
    return {
      pid: process.pid,
      locked: this.locked,
      down: this.#session?.config.sync.down ?? 'realtime',
      ...this.#status,
    }
  }

  /** Run `fn` with the session, after the jobs before it, under the computer's sync lock. */
  #job<T>(fn: (s: Session) => Promise<T>): Promise<T> {
    const run = async () => {
      const s = this.#session
      if (!s) throw new LockedServiceError()
      const lock = await acquireSyncLock(join(this.paths.stateDir, 'sync.lock'))
      try {
        // config.toml as it is now: the user may have changed [here] or [sync] since the unlock.
        s.config = await requireConfig(this.paths)
        return await fn(s)
      } finally {
        lock.release()
      }
    }
    const next = this.#work.then(run, run)
    this.#work = next.catch(() => {})
    return next
  }

  /** Look at the chain again in `ms`. */
  #schedule(ms: number): void {
    clearTimeout(this.#timer)
    if (this.#stopping || !this.#session) return
    this.#timer = setTimeout(() => {
      this.#job((s) => this.#follow(s))
        .catch((e: unknown) => {
          // Said, and tried again at the next look; a locked service stops looking.
          if (e instanceof LockedServiceError) return
          this.#status.lastFollow = { at: new Date().toISOString(), applied: 0, conflicts: 0, error: (e as Error).message }
          this.#o.log(`cloudy service: following the chain failed (tried again): ${(e as Error).message}`)
        })
        .finally(() => this.#schedule(this.#o.pollMs ?? 2000))
    }, ms)
    this.#timer.unref()
  }

  /**
   * Take the chain's changes: planned, and applied unless this computer takes them by hand or
   * they delete too much at once (held until the user applies them: `cloudy sync down`).
   */
  async #follow(s: Session): Promise<DownAllReport> {
    const planned = await planDownAll(s)
    const items = planned.spaces.flatMap((sp) => sp.items)
    const deletions = items.filter((it) => it.op === 'delete').length
    const at = new Date().toISOString()
    if (items.length === 0) {
      this.#status.incoming = undefined
      this.#status.lastFollow = { at, applied: 0, conflicts: 0 }
      return downAllReport(planned)
    }
    const heads = planned.spaces.map((sp) => sp.plan.heads.join(',')).join(';')
    const why = await this.#holdReason(planned)
    const held = why !== undefined
    if (s.config.sync.down === 'manual' || held) {
      if (held && this.#held !== heads) this.#o.log(`cloudy service: held: ${why}; "cloudy sync down" shows it and applies it`)
      if (held) this.#held = heads
      this.#status.lastFollow = { at, applied: 0, conflicts: 0 }
      this.#status.incoming = { items: items.length, deletions, ...(why ? { held: why } : {}) }
      return downAllReport(planned)
    }
    this.#held = undefined
    const results = await applyDownAll(s, planned)
    const report = downAllReport(planned, results)
    const conflicts = results.flatMap((r) => r?.conflicts ?? [])
    const applied = results.reduce((n, r) => n + (r?.applied.length ?? 0), 0)
    this.#status.lastFollow = { at, applied, conflicts: conflicts.length }
    this.#status.incoming = planned.spaces.some((sp) => sp.waiting) ? { items: items.length - applied, deletions: 0 } : undefined
    this.#o.log(`cloudy service: applied ${applied} items from the chain`)
    for (const c of conflicts) this.#o.log(`cloudy service: conflict: ${c.item}: ${c.reason}`)
    for (const w of report.warnings) this.#o.log(`cloudy service: warning: ${w.message}`)
    return report
  }

  /** Why the plan is held: a space that deletes more than the limits allow at once. */
  async #holdReason(planned: DownAllPlan): Promise<string | undefined> {
    const most = this.#o.holdDeletions ?? 50
    const share = this.#o.holdShare ?? 0.2
    for (const sp of planned.spaces) {
      const deletes = sp.items.filter((it) => it.op === 'delete').length
      if (deletes === 0) continue
      if (deletes > most) return `${sp.source.label}: ${deletes} deletions at once`
      const files = (await treeFiles((id) => sp.plan.store.readTree(id), sp.plan.base)).size
      if (files >= 10 && deletes / files > share) return `${sp.source.label}: ${deletes} deletions at once, of ${files} files`
    }
    return undefined
  }
}
