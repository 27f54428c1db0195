/**
 * A mount of the vault, run: the views, the journaled spaces with their quiet-period up-syncs and
 * looks at the chain, the control socket `cloudy sync up` asks, and the FUSE mount itself.
 * `cloudy mount` runs one in its own process until Ctrl-C; the service runs one in the
 * background (docs/ARCHITECTURE.md, "The mount"). Either way an unmount from outside
 * (`fusermount -u`, a file manager's eject) ends it as a stop does: what the journal holds is
 * published and the journal's lock released.
 */
import { execFile } from 'node:child_process'
import { stat } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { APP_ID, appSpace, APPS_REGISTRY } from '../apps/app-spaces.js'
import { CloudyError, EXIT, UsageError } from '../errors.js'
import type { Session } from '../session.js'
import { assertInChain, CHAIN_SPACE } from '../sync/chain.js'
import { planSpace } from '../sync/plan-space.js'
import { sessionSources } from '../sync/spaces.js'
import { AppsView } from './apps-view.js'
import { serveControl } from './control.js'
import { DiskChunkCache } from './disk-cache.js'
import { InventoryView } from './inventory-view.js'
import { JournaledSpaces } from './journaled-spaces.js'
import { PreviewView, type SpacePlan } from './preview-view.js'
import { RootView } from './root-view.js'
import { SpaceView } from './space-view.js'
import { registerApp } from '../apps/register.js'
import type { MountView } from './view.js'

const run = promisify(execFile)

export interface RunMountOptions {
  dir: string
  /** Mount this application's space alone, holding its key and nothing else (its own process only). */
  app?: string
  /** Lines for the user or the log. */
  log: (line: string) => void
  /** Seconds after the last change before an up-sync (default 3). */
  upsyncAfter?: number
  /** Seconds between looks at the chain's heads (default 10). */
  poll?: number
  /** Decrypted chunks kept in memory, in MiB (default 64). */
  cacheMb?: number
  /** Sealed chunks kept on disk per space, in MiB (remote providers only; default 1024). */
  diskCacheMb?: number
}

export interface RunningMount {
  dir: string
  /** Resolves when the mount was unmounted from outside (fusermount -u, an eject). */
  readonly gone: Promise<void>
  /** Look at the chain now (the service calls it when the chain's pulse changes), besides every `poll` seconds. */
  look(): void
  /**
   * Unmount (unless gone already), then publish what the journals hold. `failure`: that
   * publication failed, and what the journals hold waits for the next mount or up-sync.
   */
  stop(): Promise<{ detached: boolean; failure?: unknown }>
}

/** A mount point must be an existing folder; one left by a crashed mount is cleaned first. */
export async function prepareMountPoint(dir: string, log: (line: string) => void): Promise<void> {
  try {
    const st = await stat(dir)
    if (!st.isDirectory()) throw new UsageError(`${dir} is not a folder: give an empty folder to mount on`)
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    if (code === 'ENOENT') throw new UsageError(`${dir} does not exist: make it first (mkdir ${dir})`)
    if (code !== 'ENOTCONN' && code !== 'ECONNABORTED') throw e
    // A mount whose process died: the kernel still holds it, every access fails.
    log(`${dir} is a mount left by a Cloudy mount that stopped; unmounting it.`)
    await run('fusermount', ['-uz', dir]).catch(() => run('umount', ['-l', dir]))
  }
}

interface Caches {
  cacheBytes: number
  disk?: (tag: string) => DiskChunkCache
}

/** The read-only views of the full mount: settings, home/<id>, system (administrators), inventory, preview. */
async function readOnlyViews(
  s: Session,
  cache: Caches,
): Promise<{ views: Map<string, MountView>; refresh: () => Promise<void>; spaces: SpaceView[] }> {
  const views = new Map<string, MountView>()
  const opened = new Map<string, SpaceView>()
  const open = async (space: string) => {
    const keys = s.vault.space(space)
    const store = s.vault.store(space, s.db)
    await store.open()
    const view = await SpaceView.open(s.vault, store, s.db, { cacheBytes: cache.cacheBytes, disk: cache.disk?.(keys.tag) })
    opened.set(space, view)
    return view
  }
  const sources = await sessionSources(s)
  // Each catalog application's files from HOME, under home/<id>/ (read-only, as the chain has them).
  const homes = new Map<string, MountView>()
  for (const source of sources) {
    const view = await open(source.space)
    if (source.app) homes.set(source.app.id, view)
    // The inventory is shown as installed-apps.json, below.
    else if (source.category !== 'inventory') views.set(source.label, view)
  }
  if (homes.size) views.set('home', new RootView(homes))
  if (process.getuid?.() === 0) views.set('system', views.get('system') ?? (await open('system')))
  views.set('installed-apps.json', new InventoryView(opened.get('inventory') ?? (await open('inventory'))))
  // The incoming versions are read from the views: brought to the chain's state first.
  const refresh = async () => {
    for (const view of opened.values()) await view.refresh(s.vault, s.db)
  }
  const plans = async (): Promise<SpacePlan[]> => {
    await refresh()
    return Promise.all(
      sources.map(async (src) => ({ items: (await planSpace(s, src)).items, incoming: opened.get(src.space)!, root: src.root })),
    )
  }
  views.set('.preview', await PreviewView.open(plans))
  return { views, refresh, spaces: [...opened.values()] }
}

/** An `--app` value that is not an application id: a usage error. */
export function checkAppId(app: string | undefined): void {
  if (app !== undefined && !APP_ID.test(app))
    throw new UsageError(`--app ${app}: not an application id (letters, digits, ".", "_", "-"; at most 128)`)
}

/** Mount the vault (or `o.app`'s space) of session `s` at `o.dir`; the caller stops it, then closes `s`. */
export async function runMount(s: Session, o: RunMountOptions): Promise<RunningMount> {
  checkAppId(o.app)
  await prepareMountPoint(o.dir, o.log)
  // A local vault is on this disk already: caching its chunks there again gains nothing.
  const diskBytes = (o.diskCacheMb ?? 1024) * 1024 * 1024
  const cache: Caches = {
    cacheBytes: (o.cacheMb ?? 64) * 1024 * 1024,
    disk: s.vault.local || diskBytes === 0 ? undefined : (tag) => DiskChunkCache.open(join(s.paths.cacheDir, 'chunks', tag), diskBytes),
  }
  const quietMs = (o.upsyncAfter ?? 3) * 1000
  const pollMs = (o.poll ?? 10) * 1000
  let spaces: JournaledSpaces | undefined
  try {
    await assertInChain(s.vault, s.device, s.db)
    let root: MountView
    let refreshReadOnly = async () => {}
    let readOnlySpaces: SpaceView[] = []
    if (o.app !== undefined) {
      await registerApp(s, o.app)
      // From here on this process holds the application's key and the chain's, nothing else
      // (and forgets the password it was given in its environment, as far as Node can).
      const vault = s.vault.restrict([appSpace(o.app), CHAIN_SPACE], [s.device.id])
      delete process.env.CLOUDY_PASSWORD
      spaces = new JournaledSpaces({ vault, db: s.db, device: s.device, stateDir: s.paths.stateDir, ...cache })
      root = (await spaces.get(appSpace(o.app))).view
    } else {
      spaces = new JournaledSpaces({ vault: s.vault, db: s.db, device: s.device, stateDir: s.paths.stateDir, ...cache })
      const registry = await spaces.get(APPS_REGISTRY)
      await spaces.downSync().catch(() => false)
      for (const id of (await registry.view.list('')) ?? []) await spaces.get(appSpace(id))
      const ro = await readOnlyViews(s, cache)
      refreshReadOnly = ro.refresh
      readOnlySpaces = ro.spaces
      root = new RootView(new Map([...ro.views, ['apps', new AppsView(spaces)]]))
    }
    const sp = spaces
    // One sync job at a time; a failed one is said and tried again at the next occasion.
    let work: Promise<unknown> = Promise.resolve()
    /** Set once mounted: the kernel's caches are checked after each job (another computer's change may have come in). */
    let revalidate = async () => {}
    /** Set once mounted: a job may change the views without the kernel (see MountHandle.changing). */
    let changing = () => () => {}
    const job = <T>(what: string, fn: () => Promise<T>): Promise<T | undefined> => {
      const next = work
        .then(async () => {
          const done = changing()
          try {
            return await fn()
          } finally {
            done()
          }
        })
        .catch(async (e: unknown) => {
          // Keys out of date (another computer rekeyed the vault) are said as such, not as damage.
          const meant = await s.vault.keysChangedOr(e)
          o.log(`cloudy mount: ${what} failed (kept in the journal, tried again later): ${(meant as Error).message}`)
          return undefined
        })
        .finally(() => revalidate().catch(() => {}))
      work = next
      return next
    }
    const upAndDown = async () => {
      const commits = await sp.upSync()
      await sp.downSync()
      return commits
    }
    /** An up-sync (then down-sync) as a job, with its failure for whoever asked for it. */
    const upSyncJob = async (): Promise<{ commits?: Awaited<ReturnType<typeof upAndDown>>; failure?: unknown }> => {
      let failure: unknown
      const commits = await job('up-sync', () =>
        upAndDown().catch((e: unknown) => {
          failure = e
          throw e
        }),
      )
      return { commits, failure }
    }
    // Leftovers of a crash are published first, then the chain's state taken in.
    await job('up-sync', upAndDown)

    const { mountView } = await import('../../mount.js')
    const handle = await mountView(o.dir, root)
    revalidate = () => handle.revalidate()
    changing = () => handle.changing()
    // An up-sync a quiet period after the last change; an application that never stops writing
    // is up-synced at least every `maxWait` all the same.
    const maxWait = Math.max(30_000, 10 * quietMs)
    let quiet: NodeJS.Timeout | undefined
    let firstChange: number | undefined
    const quietUpSync = () =>
      job('up-sync', async () => {
        firstChange = undefined
        const commits = await upAndDown()
        // Changes made during it (or a close it could not take yet) go at the next one.
        if (await sp.pending()) sp.onChange()
        return commits
      })
    spaces.onChange = () => {
      const now = Date.now()
      firstChange ??= now
      clearTimeout(quiet)
      quiet = setTimeout(() => void quietUpSync(), Math.min(quietMs, Math.max(0, firstChange + maxWait - now)))
    }
    let looking = false
    /** Set when the stop begins: a look queued after it would open the journals again (and hold them). */
    let stopping = false
    const look = () => {
      // One look queued at a time: a burst of pulses is one look.
      if (looking || stopping) return
      looking = true
      void job('down-sync', async () => {
        looking = false
        if (stopping) return
        // Applications made on another computer appear under apps/ (one an --app mount holds
        // here is left to it).
        if (o.app === undefined) {
          await sp.downSync()
          const registry = await sp.get(APPS_REGISTRY)
          for (const id of (await registry.view.list('')) ?? []) await sp.get(appSpace(id)).catch(() => undefined)
        }
        await sp.downSync()
        await refreshReadOnly()
      })
    }
    const poll = setInterval(look, pollMs)
    const control = await serveControl(s.paths.stateDir, async () => {
      // The failure goes back to the asking `sync up` too: its message and exit code (5 for a
      // refused upload).
      const { commits, failure: e } = await upSyncJob()
      if (commits) return { ok: true, commits }
      const failure = e as { message?: unknown; exitCode?: unknown } | undefined
      const error = typeof failure?.message === 'string' ? failure.message : "the up-sync failed: see the mount's output"
      return { ok: false, error, exitCode: typeof failure?.exitCode === 'number' ? failure.exitCode : undefined }
    })
    // Folders read ahead while the first listings come in (a failure only costs the head start).
    void Promise.all([...(await sp.opened()).map((v) => v.view.base), ...readOnlySpaces].map((v) => v.prefetch())).catch(() => {})
    let stopped: Promise<{ detached: boolean; failure?: unknown }> | undefined
    const stop = async () => {
      stopping = true
      clearInterval(poll)
      clearTimeout(quiet)
      await control.close()
      const detached = (await handle.unmount()) === 'detached'
      // What is left in the journals goes now; if that fails it waits there for the next time.
      const { failure } = await upSyncJob()
      await sp.close()
      return { detached, ...(failure === undefined ? {} : { failure }) }
    }
    return {
      dir: o.dir,
      gone: handle.gone,
      look,
      stop: () => (stopped ??= stop()),
    }
  } catch (e) {
    await spaces?.close()
    if (e instanceof Error && !(e instanceof CloudyError) && /mount/i.test(e.message))
      throw new CloudyError('EMOUNT', EXIT.USAGE, `cannot mount on ${o.dir}: ${e.message} (is FUSE installed: /dev/fuse, fusermount?)`)
    throw e
  }
}
