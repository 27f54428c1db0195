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
import { lstatSync } from 'node:fs'
import { lstat, mkdir } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { CATEGORIES, type Category } from '../catalog/entry.js'
import { CloudyError, EXIT, UsageError } from '../errors.js'
import { runMount, type RunningMount, type RunMountOptions } from '../mount/run.js'
import { cloudyPaths, expandHome, type CloudyPaths } from '../paths.js'
import { openSession, requireConfig, type Session } from '../session.js'
import { ownFilesProblem } from '../state/own-file-errors.js'
import { acquireSyncLock } from '../state/lock.js'
import { applyDownAll, downAllReport, planDownAll, type DownAllPlan, type DownAllReport, type DownAllResult } from '../sync/down-all.js'
import { treeFiles } from '../sync/pending.js'
import { shownItems } from '../sync/plan.js'
import { spacesStatus } from '../sync/status.js'
import { syncUpAll, type UpAllResult } from '../sync/up-all.js'
import { loadSelectionMap, selectionSeen } from '../selection/records.js'
import { DEFAULT_SCHEDULES, nextDue, parseSchedule, type Schedule } from '../selection/schedule.js'
import { readSelection } from '../selection/selection.js'
import { watchedPaths } from '../sources/watched.js'
import { sessionPlan } from '../sync/spaces.js'
import { readMoved } from '../vault/moved.js'
import { serveJson, type JsonServer } from './ipc.js'
import { desktopNotifier, type Notify } from './notify.js'
import { KeysChangedError } from '../errors.js'
import { ChangeWatcher } from './watcher.js'

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
  | { op: 'master-key' }
  | ({ op: 'mount'; dir: string } & Pick<RunMountOptions, 'upsyncAfter' | 'poll' | 'cacheMb' | 'diskCacheMb'>)
  | { op: 'unmount'; dir: string }

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
  /** Each category's up-sync schedule here (while unlocked). */
  schedules?: CategorySchedule[]
  /** The folders the service has the vault mounted on. */
  mounts?: string[]
}

/** A category's schedule, as `status` shows it. */
export interface CategorySchedule {
  category: Category
  /** As the selection says it (`on-change`, `daily`, a cron expression); `off` when not collected here. */
  when: string
  /** The next scheduled run (ISO), for timed schedules. */
  next?: string
  /** Paths watched, for on-change. */
  watching?: number
  last?: { at: string; why: string; result: string }
}

export interface ServiceOptions {
  env: NodeJS.ProcessEnv
  /** Lines for the log (stderr, the journal). */
  log: (line: string) => void
  /**
   * The longest wait between full looks at every space's heads, in ms (default 5 min). Between
   * them the service follows the chain's pulse (lib/store/pulse.ts): the provider's change feed
   * where it has one, else a read of that one small object, every 0.25 s after activity and up to
   * every 5 s when the chain has been quiet for a while.
   */
  fullLookMs?: number
  /** Deletions held for a confirmation: more than this many at once (default 50)… */
  holdDeletions?: number
  /** …or more than this share of a space's files (default 0.2). */
  holdShare?: number
}

/** How long a down-sync's writes are told apart from the user's in watch events. */
const OWN_WRITE_MS = 10_000

/** How often the pulse is read without a change feed: fast after activity, slower when quiet. */
const PULSE_READS = [
  { quietFor: 0, everyMs: 250 },
  { quietFor: 2 * 60_000, everyMs: 2000 },
  { quietFor: 10 * 60_000, everyMs: 5000 },
]
/** With a change feed, the pulse is still read this often, in case the feed missed a beat. */
const FEED_SAFETY_MS = 60_000

/** The state database's record of a category's last up-sync by the service (ms). */
const lastUpKey = (category: Category) => `service.last-up.${category}`

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
  #status: Omit<ServiceStatus, 'pid' | 'locked' | 'down'> = {}
  /** The heads of a mass deletion held for the user's `sync down` (said once in the log). */
  #held: string | undefined
  #stopping = false
  #notify: Notify
  /** Following the chain while unlocked (`#follow…`); aborted by `lock`. */
  #following: AbortController | undefined
  #pulseTimer: NodeJS.Timeout | undefined
  /** The pulse last seen, the last time the chain or this computer did something, the last full look. */
  #pulse: string | undefined
  #activeAt = 0
  #lookedAt = 0
  #feed = false
  /** A look at the chain runs; another was asked for meanwhile. */
  #looking = false
  #lookAgain = false
  /** Up-syncs by schedule and on change: what each category runs on, and the timer of the next one. */
  #watcher: ChangeWatcher | undefined
  #schedules = new Map<
    Category,
    { when: string; schedule?: Schedule; last?: CategorySchedule['last']; failures: number; retryAt?: number }
  >()
  #scheduleTimer: NodeJS.Timeout | undefined
  /** Categories with an up-sync queued and not started (with the paths that changed, or null: any). */
  #queuedUp = new Map<Category, Set<string> | null>()
  /** What the last down-syncs wrote, as they left it: their watch events are not changes made here. */
  #written = new Map<string, { at: number; size?: number; mtimeMs?: number; dir?: boolean; gone?: boolean }>()
  /** The vault mounted by the service, by folder. */
  #mounts = new Map<string, RunningMount>()
  /** After a failed look: when to try again, and how many failed in a row. */
  #retryAt: number | undefined
  #failures = 0

  constructor(o: ServiceOptions) {
    this.#o = o
    this.paths = cloudyPaths(o.env)
    this.#notify = desktopNotifier(o.env, o.log)
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
    await this.#open({ password })
  }

  async #open(o: { password: string } | { masterKey: { vaultId: string; key: Uint8Array } }): Promise<void> {
    if (this.#session) return
    this.#session = await openSession({
      env: this.#o.env,
      password: async () => ('password' in o ? o.password : ''),
      masterKey: async () => ('masterKey' in o ? o.masterKey : undefined),
      notice: this.#o.log,
    })
    this.#o.log('cloudy service: unlocked')
    this.#startFollowing(this.#session)
    this.#watcher = new ChangeWatcher({
      onChange: (c, paths) => this.#upSync(c as Category, 'on change', paths),
      log: this.#o.log,
    })
    void this.#job((s) => this.#arrange(s)).catch((e: unknown) =>
      this.#o.log(`cloudy service: reading the schedules failed: ${(e as Error).message}`),
    )
    const dir = this.#session.config.mount.dir
    if (dir)
      void this.mount({ dir: expandHome(dir, this.paths.home), create: true }).catch((e: unknown) =>
        this.#o.log(`cloudy service: mounting on ${dir} ([mount] dir) failed: ${(e as Error).message}`),
      )
  }

  /**
   * Mount the vault at `o.dir` in this process, until `unmount`, a lock, or an unmount from
   * outside (then what its journal holds is published, and its lock released, as at a stop).
   */
  async mount(o: { dir: string; create?: boolean } & Omit<RunMountOptions, 'dir' | 'log' | 'app'>): Promise<void> {
    const s = this.#session
    if (!s) throw new LockedServiceError()
    const dir = resolve(o.dir)
    if (this.#mounts.has(dir)) throw new UsageError(`${dir}: the service has the vault mounted there already`)
    // A mount left dead there by a killed service fails the mkdir: runMount clears it.
    if (o.create)
      await mkdir(dir, { recursive: true, mode: 0o700 }).catch((e: NodeJS.ErrnoException) => {
        if (e.code !== 'ENOTCONN' && e.code !== 'ECONNABORTED') throw e
      })
    // After the job running now: an up-sync may hold a journal a mount needs (one a stopped
    // mount left, being published).
    const running = await this.#job((js) => runMount(js, { ...o, dir, log: this.#o.log }))
    this.#mounts.set(dir, running)
    this.#o.log(`cloudy service: mounted at ${dir}`)
    void running.gone.then(async () => {
      if (this.#mounts.get(dir) !== running) return
      this.#o.log(`cloudy service: ${dir} was unmounted from outside; publishing what its journal holds`)
      await this.unmount(dir).catch((e: unknown) => this.#o.log(`cloudy service: ${dir}: ${(e as Error).message}`))
    })
  }

  /** End the mount at `dir`: unmounted, what its journal holds published (a failure is said; it waits for the next time). */
  async unmount(dir: string): Promise<void> {
    const running = this.#mounts.get(resolve(dir))
    if (!running) throw new UsageError(`${dir}: the service has no mount there`)
    const { detached, failure } = await running.stop()
    this.#mounts.delete(resolve(dir))
    if (detached) this.#o.log(`cloudy service: ${dir} is busy; detached, it goes once its last open file closes`)
    if (failure !== undefined) {
      this.#o.log(
        `cloudy service: ${dir}: publishing what the journal holds failed (kept for the next time): ${(failure as Error).message}`,
      )
      throw failure
    }
    this.#o.log(`cloudy service: unmounted ${dir}; what it held is published`)
  }

  /** Forget the keys (the vault's keys are wiped from memory); commands ask for the password again. */
  async lock(): Promise<void> {
    // The mounts first: what their journals hold is published while the keys are here.
    // (A Map's keys may be deleted while iterated: each is visited once.)
    for (const dir of this.#mounts.keys()) await this.unmount(dir).catch(() => {})
    this.#stopFollowing()
    clearTimeout(this.#scheduleTimer)
    const watcher = this.#watcher
    this.#watcher = undefined
    await watcher?.close()
    this.#schedules.clear()
    const s = this.#session
    this.#session = undefined
    // A job running with the keys finishes first.
    await this.#work.catch(() => {})
    await s?.close()
    if (s) this.#o.log('cloudy service: locked')
  }

  #keysChanged(): void {
    this.#o.log('cloudy service: the vault was rekeyed on another computer; locking: "cloudy unlock" with the new password')
    this.#notify('Cloudy needs the new password', 'The vault was rekeyed on another computer: run "cloudy unlock" with the new password.')
    // After the job that met it (lock waits for the running job).
    setImmediate(() => void this.lock().catch(() => {}))
  }

  /** Finish the running job, stop listening, forget the keys. */
  async stop(): Promise<void> {
    this.#stopping = true
    this.#stopFollowing()
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
        try {
          return await this.#job(async (s): Promise<UpAllResult> => syncUpAll(s, { only: req.only }))
        } finally {
          this.#afterUpSync()
        }
      case 'sync-down':
        return this.#job(async (s): Promise<DownAllReport> => {
          const planned = await planDownAll(s, { only: req.only, force: req.force })
          if (!req.apply) return downAllReport(planned)
          this.#held = undefined
          return downAllReport(planned, await applyDownAll(s, planned))
        })
      case 'master-key': {
        // For this user's commands (the socket is theirs alone): they then need no password.
        const s = this.#session
        if (!s) throw new LockedServiceError()
        const key = s.vault.masterKeyCopy()
        try {
          return { vaultId: s.vault.info.vaultId, key: key.toString('base64') }
        } finally {
          key.fill(0)
        }
      }
      case 'mount': {
        const { op: _op, ...o } = req
        await this.mount(o)
        return this.status()
      }
      case 'unmount':
        await this.unmount(req.dir)
        return this.status()
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
      ...(this.#session ? { schedules: this.#scheduleStatus() } : {}),
      ...(this.#mounts.size ? { mounts: [...this.#mounts.keys()] } : {}),
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
      } catch (e) {
        // Another computer rekeyed the vault: the keys held here seal nothing that would be
        // trusted, and open nothing sealed since. The service locks itself and asks for the
        // new password, once.
        // (And Cloudy's own files on a full or read-only disk are said as such.)
        const meant = ownFilesProblem(e, this.paths) ?? (await s.vault.keysChangedOr(e))
        if (meant instanceof KeysChangedError) this.#keysChanged()
        throw meant
      } finally {
        lock.release()
      }
    }
    const next = this.#work.then(run, run)
    this.#work = next.catch(() => {})
    return next
  }

  /**
   * Read each category's schedule from the selection and set up what runs it: watches of what
   * it collects (on-change), the timer of the next timed run. Run again after each up-sync and
   * each down-sync that applied something (the selection, or what exists to watch, may change).
   */
  async #arrange(s: Session): Promise<void> {
    const selection = readSelection(await loadSelectionMap(s.vault, s.db))
    const { sources, skipped } = await sessionPlan(s)
    for (const category of CATEGORIES) {
      const here = selection.categories[category] && !skipped.some((k) => k.category === category)
      const prior = this.#schedules.get(category)
      let when = here ? selection.schedules[category] : 'off'
      let schedule: Schedule | undefined
      if (here) {
        try {
          schedule = parseSchedule(when)
        } catch (e) {
          // A schedule a later release wrote, or a damaged one: the default, said once.
          if (prior?.when !== when)
            this.#o.log(`cloudy service: ${category}: ${(e as Error).message}; using "${DEFAULT_SCHEDULES[category]}"`)
          when = DEFAULT_SCHEDULES[category]
          schedule = parseSchedule(when)
        }
      }
      this.#schedules.set(category, { when, schedule, last: prior?.last, failures: prior?.failures ?? 0, retryAt: prior?.retryAt })
      const watched =
        schedule?.kind === 'on-change' ? sources.filter((src) => src.category === category).map((src) => watchedPaths(src, s.env)) : []
      await this.#watcher?.set(category, watched)
      // What changed while no service watched (it was stopped, killed, locked) is sent now.
      if (!prior && schedule?.kind === 'on-change') this.#upSync(category, 'start')
    }
    this.#timeNext()
  }

  /** `#arrange` after a job that did its work: a failure to arrange is said, never the job's. */
  async #rearrange(s: Session): Promise<void> {
    await this.#arrange(s).catch((e: unknown) =>
      this.#o.log(`cloudy service: reading the schedules again failed (the last ones stay): ${(e as Error).message}`),
    )
  }

  /** When `category` runs next by its timer (a failed run's retry included), or undefined. */
  #due(category: Category, now: number): number | undefined {
    const c = this.#schedules.get(category)
    if (!c?.schedule) return undefined
    const last = this.#session?.db.getMeta(lastUpKey(category))
    const due = nextDue(c.schedule, last === undefined ? undefined : Number(last), now)
    return c.retryAt === undefined ? due : Math.min(c.retryAt, due ?? Infinity)
  }

  /** Set the timer for the earliest timed run (looked at again at least hourly: clocks jump, computers sleep). */
  #timeNext(): void {
    clearTimeout(this.#scheduleTimer)
    if (this.#stopping || !this.#session) return
    const now = Date.now()
    let first = now + 3_600_000
    for (const category of CATEGORIES) {
      const due = this.#due(category, now)
      if (due === undefined) continue
      if (due <= now) this.#upSync(category, this.#schedules.get(category)?.retryAt !== undefined ? 'retry' : 'schedule')
      else first = Math.min(first, due)
    }
    this.#scheduleTimer = setTimeout(() => this.#timeNext(), Math.max(1000, first - now))
    this.#scheduleTimer.unref()
  }

  /** Queue an up-sync of `category` (one queued per category at a time); `why` goes to the log and `status`. */
  #upSync(category: Category, why: string, paths?: readonly string[]): void {
    if (this.#stopping || !this.#session) return
    // The paths that changed, when every trigger gave them (a timed run, a start: none).
    const queued = this.#queuedUp.get(category)
    if (queued !== undefined) {
      if (queued && paths) for (const p of paths) queued.add(p)
      else this.#queuedUp.set(category, null)
      return
    }
    this.#queuedUp.set(category, paths ? new Set(paths) : null)
    const c = this.#schedules.get(category)
    if (c) c.retryAt = undefined
    let ms = 0
    this.#job(async (s) => {
      const changed = this.#queuedUp.get(category)
      this.#queuedUp.delete(category)
      // Only what a down-sync here just wrote, as it wrote it: nothing to send.
      if (changed && [...changed].every((p) => this.#ownWrite(p))) return undefined
      const started = performance.now()
      const r = await syncUpAll(s, { only: [category] })
      ms = performance.now() - started
      s.db.setMeta(lastUpKey(category), String(Date.now()))
      await this.#rearrange(s)
      return r
    })
      .then((r) => {
        if (!r) return
        const published = r.spaces.filter((x) => x.commit).length + r.written.reduce((n, w) => n + w.commits.length, 0)
        const result = published ? `published ${published} space${published === 1 ? '' : 's'}` : 'nothing new'
        this.#ran(category, why, result, `${r.warnings.length ? ` (${r.warnings.length} warnings)` : ''} in ${Math.round(ms)} ms`)
        if (c) c.failures = 0
      })
      .catch((e: unknown) => {
        this.#queuedUp.delete(category)
        if (e instanceof LockedServiceError) return
        // Tried again at waits doubling up to ten minutes: what changed is still to send.
        const cur = this.#schedules.get(category)
        if (cur) {
          cur.failures++
          cur.retryAt = Date.now() + Math.min(600_000, 5000 * 2 ** (cur.failures - 1))
        }
        this.#ran(category, why, `failed: ${(e as Error).message}`, '')
        this.#timeNext()
      })
      .finally(() => this.#afterUpSync())
  }

  #ran(category: Category, why: string, result: string, extra: string): void {
    const c = this.#schedules.get(category)
    if (c) c.last = { at: new Date().toISOString(), why, result }
    this.#o.log(`cloudy service: up-sync of ${category} (${why}): ${result}${extra}`)
  }

  /** After any up-sync here: look at the chain (our own pulse hides one another computer wrote just before). */
  #afterUpSync(): void {
    this.#activeAt = Date.now()
    this.#look()
  }

  #scheduleStatus(): CategorySchedule[] {
    const now = Date.now()
    const watching = this.#watcher?.watched()
    return CATEGORIES.flatMap((category) => {
      const c = this.#schedules.get(category)
      if (!c) return []
      const due = this.#due(category, now)
      return [
        {
          category,
          when: c.when,
          ...(due !== undefined ? { next: new Date(Math.max(due, now)).toISOString() } : {}),
          ...(c.schedule?.kind === 'on-change' ? { watching: watching?.get(category) ?? 0 } : {}),
          ...(c.last ? { last: c.last } : {}),
        },
      ]
    })
  }

  /** Follow the chain's pulse: its change feed, or reads of it; a first look at once. */
  #startFollowing(s: Session): void {
    this.#stopFollowing()
    const following = new AbortController()
    this.#following = following
    this.#activeAt = Date.now()
    const feed = s.vault.watchPulse(() => this.#beat(), following.signal)
    this.#feed = feed !== undefined
    feed?.catch((e: unknown) => {
      if (following.signal.aborted) return
      this.#feed = false
      this.#o.log(`cloudy service: the storage account's change feed stopped (${(e as Error).message}); reading the chain's pulse instead`)
    })
    this.#readPulse(s, following.signal)
  }

  #stopFollowing(): void {
    this.#following?.abort()
    this.#following = undefined
    clearTimeout(this.#pulseTimer)
  }

  /** The pulse changed (the change feed said so, or a read found it): HOME and the mounts look. */
  #beat(): void {
    this.#activeAt = Date.now()
    this.#look()
    for (const m of this.#mounts.values()) m.look()
  }

  /**
   * Read the pulse, look at the chain when it changed or a full look is due, and read it again
   * after a wait that grows while the chain is quiet (much longer with a change feed).
   */
  #readPulse(s: Session, signal: AbortSignal): void {
    const read = async () => {
      const pulse = await s.vault.readPulse()
      const now = Date.now()
      if (pulse !== undefined && pulse !== this.#pulse) {
        // The first read looks too: whatever came in while this service was not running.
        this.#pulse = pulse
        this.#beat()
      } else if (now - this.#lookedAt >= (this.#o.fullLookMs ?? 300_000) || (this.#retryAt !== undefined && now >= this.#retryAt)) {
        this.#look()
      }
    }
    const next = () => {
      if (signal.aborted) return
      const quiet = Date.now() - this.#activeAt
      const every = this.#feed ? FEED_SAFETY_MS : PULSE_READS.filter((r) => quiet >= r.quietFor).at(-1)!.everyMs
      this.#pulseTimer = setTimeout(() => this.#readPulse(s, signal), every)
      this.#pulseTimer.unref()
    }
    read()
      .catch((e: unknown) => this.#o.log(`cloudy service: reading the chain's pulse failed (tried again): ${(e as Error).message}`))
      .finally(next)
  }

  /** Look at the chain (after the running job); asked again while it runs, it looks once more after. */
  #look(): void {
    if (this.#stopping || !this.#session) return
    if (this.#looking) {
      this.#lookAgain = true
      return
    }
    this.#looking = true
    this.#lookedAt = Date.now()
    this.#job((s) => this.#follow(s))
      .then(() => {
        this.#failures = 0
        this.#retryAt = undefined
      })
      .catch((e: unknown) => {
        // Said, and tried again after a wait that doubles up to a minute; a locked service stops looking.
        if (e instanceof LockedServiceError) return
        this.#failures++
        this.#retryAt = Date.now() + Math.min(60_000, 1000 * 2 ** (this.#failures - 1))
        this.#status.lastFollow = { at: new Date().toISOString(), applied: 0, conflicts: 0, error: (e as Error).message }
        this.#o.log(`cloudy service: following the chain failed (tried again): ${(e as Error).message}`)
      })
      .finally(() => {
        this.#looking = false
        if (this.#lookAgain) {
          this.#lookAgain = false
          this.#look()
        }
      })
  }

  /**
   * Take the chain's changes: planned, and applied unless this computer takes them by hand or
   * they delete too much at once (held until the user applies them: `cloudy sync down`).
   */
  async #follow(s: Session): Promise<DownAllReport | undefined> {
    // The vault moved (`cloudy vault move`: its pointer beat the pulse): reopened at its new
    // place once this job is done, with the keys held; nothing is taken from the old place.
    if (await readMoved(s.vault)) {
      void this.#reopenMoved(s)
      return undefined
    }
    const selection = selectionSeen(s.db)
    const report = await this.#takeChain(s)
    // A new selection (a schedule, a category) or new files to watch: arranged anew.
    if (selectionSeen(s.db) !== selection || report.applied?.some((r) => r?.applied.length)) await this.#rearrange(s)
    return report
  }

  /** Lock and unlock again with the keys this service holds: the session follows the pointer (lib/session.ts). */
  async #reopenMoved(s: Session): Promise<void> {
    const key = { vaultId: s.vault.info.vaultId, key: s.vault.masterKeyCopy() }
    try {
      this.#o.log('cloudy service: the vault moved; opening it at its new place')
      await this.lock()
      await this.#open({ masterKey: key })
      this.#look()
    } catch (e) {
      this.#o.log(`cloudy service: following the vault to its new place failed; "cloudy unlock" tries again: ${(e as Error).message}`)
    } finally {
      key.key.fill(0)
    }
  }

  async #takeChain(s: Session): Promise<DownAllReport> {
    const started = performance.now()
    const planned = await planDownAll(s)
    const planMs = performance.now() - started
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
      this.#status.incoming = { items: shownItems(items).length, deletions, ...(why ? { held: why } : {}) }
      return downAllReport(planned)
    }
    this.#held = undefined
    const results = await applyDownAll(s, planned)
    await this.#remember(planned, results)
    const report = downAllReport(planned, results)
    const conflicts = results.flatMap((r) => r?.conflicts ?? [])
    const applied = results.reduce((n, r) => n + shownItems(r?.applied ?? []).length, 0)
    this.#status.lastFollow = { at, applied, conflicts: conflicts.length }
    this.#status.incoming = planned.spaces.some((sp) => sp.waiting)
      ? { items: shownItems(items).length - applied, deletions: 0 }
      : undefined
    this.#o.log(
      `cloudy service: applied ${applied} items from the chain (planned in ${Math.round(planMs)} ms, applied in ${Math.round(performance.now() - started - planMs)} ms)`,
    )
    for (const c of conflicts) this.#o.log(`cloudy service: conflict: ${c.item}: ${c.reason}`)
    if (conflicts.length)
      this.#notify(
        conflicts.length === 1 ? 'Cloudy kept both versions of a file' : `Cloudy kept both versions of ${conflicts.length} files`,
        conflicts
          .slice(0, 3)
          .map((c) => `${c.item}: ${c.reason}`)
          .join('\n') + (conflicts.length > 3 ? `\n… and ${conflicts.length - 3} more ("cloudy status" lists them)` : ''),
      )
    for (const w of report.warnings) this.#o.log(`cloudy service: warning: ${w.message}`)
    return report
  }

  /** Note what `results` wrote (each path as it is now), so that its watch events start no up-sync. */
  async #remember(planned: DownAllPlan, results: DownAllResult): Promise<void> {
    const now = Date.now()
    for (const [k, w] of this.#written) if (now - w.at > OWN_WRITE_MS) this.#written.delete(k)
    for (const [i, r] of results.entries()) {
      const root = planned.spaces[i]?.source.root
      if (!r || !root) continue
      for (const it of r.applied) {
        const path = join(root, it.path)
        const st = await lstat(path).catch(() => undefined)
        this.#written.set(path, st ? { at: now, size: st.size, mtimeMs: st.mtimeMs, dir: st.isDirectory() } : { at: now, gone: true })
        // Its folder changed too (an entry, and the times the down-sync gives it).
        const parent = dirname(path)
        if (parent.startsWith(root) && !this.#written.has(parent)) this.#written.set(parent, { at: now, dir: true })
      }
    }
  }

  /** Whether a watch event at `path` is a down-sync's own write, still as it left it. */
  #ownWrite(path: string): boolean {
    const w = this.#written.get(path)
    if (!w || Date.now() - w.at > OWN_WRITE_MS) return false
    // Only paths a down-sync wrote are looked at here (never the mount this process serves).
    const st = lstatSync(path, { throwIfNoEntry: false })
    if (!st) return w.gone === true
    if (w.dir) return st.isDirectory()
    return st.size === w.size && st.mtimeMs === w.mtimeMs
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
