/**
 * `cloudy mount DIR [--app ID]`: the vault as a folder until Ctrl-C (or SIGTERM), then
 * unmounted. Spaces written through the mount are up-synced a quiet period after the last
 * change (and when `cloudy sync up` asks); the chain's new state is taken in as it lands.
 */
import { execFile } from 'node:child_process'
import { stat } from 'node:fs/promises'
import { promisify } from 'node:util'
import { CloudyError, EXIT, LockedError, UsageError } from '../../errors.js'
import { join } from 'node:path'
import { AppsView } from '../../mount/apps-view.js'
import { DiskChunkCache } from '../../mount/disk-cache.js'
import { serveControl } from '../../mount/control.js'
import { InventoryView } from '../../mount/inventory-view.js'
import { APP_ID, appSpace, APPS_REGISTRY } from '../../apps/app-spaces.js'
import { baseTree } from '../../mount/journal-sync.js'
import { JournaledSpaces } from '../../mount/journaled-spaces.js'
import { PreviewView, type SpacePlan } from '../../mount/preview-view.js'
import { RootView } from '../../mount/root-view.js'
import { SpaceView } from '../../mount/space-view.js'
import type { MountView } from '../../mount/view.js'
import { assertInChain, CHAIN_SPACE } from '../../sync/chain.js'
import { openSession, type Session } from '../context.js'
import type { CliIo } from '../io.js'
import { planSpace } from '../../sync/plan-space.js'
import { sessionSources } from '../../sync/spaces.js'

const run = promisify(execFile)

export interface MountArgs {
  dir: string
  app?: string
  passwordFile?: string
  /** Seconds after the last change before an up-sync. */
  upsyncAfter?: number
  /** Seconds between looks at the chain's heads. */
  poll?: number
  /** Decrypted chunks kept in memory, in MiB. */
  cacheMb?: number
  /** Sealed chunks kept on disk per space, in MiB (remote providers only). */
  diskCacheMb?: number
}

/** A mount point must be an existing folder; one left by a crashed mount is cleaned first. */
async function prepareMountPoint(io: CliIo, dir: string): Promise<void> {
  try {
    const st = await stat(dir)
    if (!st.isDirectory()) throw new UsageError(`${dir} is not a folder: give an empty folder to mount on`)
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    if (code === 'ENOENT') throw new UsageError(`${dir} does not exist: make it first (mkdir ${dir})`)
    if (code !== 'ENOTCONN' && code !== 'ECONNABORTED') throw e
    // A mount whose process died: the kernel still holds it, every access fails.
    io.stderr.write(`${dir} is a mount left by a Cloudy mount that stopped; unmounting it.\n`)
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

/**
 * For `--app ID`: make sure the application is in the list of applications (adding it needs
 * that list's key, which the app mount will not hold).
 */
async function registerApp(s: Session, id: string): Promise<void> {
  const spaces = new JournaledSpaces({ vault: s.vault, db: s.db, device: s.device, stateDir: s.paths.stateDir })
  try {
    const registry = await spaces.get(APPS_REGISTRY).catch((e: unknown) => {
      if (e instanceof LockedError) return undefined
      throw e
    })
    if (!registry) {
      // A running mount holds the list: the application must be in it already (as last synced).
      const store = s.vault.store(APPS_REGISTRY, s.db)
      await store.open()
      if ((await SpaceView.of(store, baseTree(s.db, APPS_REGISTRY)).stat(id))?.type === 'dir') return
      throw new UsageError(
        `application ${id} is not in the list of applications yet, and a running Cloudy mount holds that list: ` +
          `make it there first (mkdir MOUNTPOINT/apps/${id}), then mount it again a few seconds later`,
      )
    }
    await spaces.downSync().catch(() => false)
    if ((await registry.view.stat(id))?.type === 'dir') return
    await registry.view.mkdir(id, 0o755)
    await registry.view.sync()
    // Unpublished, it waits in the list's journal for the next up-sync.
    await spaces.upSync().catch(() => [])
  } finally {
    await spaces.close()
  }
}

export async function mount(io: CliIo, args: MountArgs): Promise<number> {
  if (args.app !== undefined && !APP_ID.test(args.app))
    throw new UsageError(`--app ${args.app}: not an application id (letters, digits, ".", "_", "-"; at most 128)`)
  await prepareMountPoint(io, args.dir)
  const s = await openSession(io, args)
  // A local vault is on this disk already: caching its chunks there again gains nothing.
  const diskBytes = (args.diskCacheMb ?? 1024) * 1024 * 1024
  const cache: Caches = {
    cacheBytes: (args.cacheMb ?? 64) * 1024 * 1024,
    disk: s.provider.local || diskBytes === 0 ? undefined : (tag) => DiskChunkCache.open(join(s.paths.cacheDir, 'chunks', tag), diskBytes),
  }
  const quietMs = (args.upsyncAfter ?? 3) * 1000
  const pollMs = (args.poll ?? 10) * 1000
  let spaces: JournaledSpaces | undefined
  try {
    await assertInChain(s.vault, s.device, s.db)
    let root: MountView
    let refreshReadOnly = async () => {}
    let readOnlySpaces: SpaceView[] = []
    if (args.app !== undefined) {
      await registerApp(s, args.app)
      // From here on this process holds the application's key and the chain's, nothing else
      // (and forgets the password it was given in its environment, as far as Node can).
      const vault = s.vault.restrict([appSpace(args.app), CHAIN_SPACE], [s.device.id])
      delete process.env.CLOUDY_PASSWORD
      spaces = new JournaledSpaces({ vault, db: s.db, device: s.device, stateDir: s.paths.stateDir, ...cache })
      root = (await spaces.get(appSpace(args.app))).view
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
    const job = <T>(what: string, fn: () => Promise<T>): Promise<T | undefined> => {
      const next = work.then(fn).catch((e: unknown) => {
        io.stderr.write(`cloudy mount: ${what} failed (kept in the journal, tried again later): ${(e as Error).message}\n`)
        return undefined
      })
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

    // A failure nobody awaited must not take the mount down with every open file on it: it is
    // said (with its stack, to be reported) and the mount goes on; the journal is durable.
    process.on('unhandledRejection', (e: unknown) => {
      io.stderr.write(`cloudy mount: internal error, please report it (the mount goes on): ${(e as Error)?.stack ?? String(e)}\n`)
    })
    const { mountView } = await import('../../../mount.js')
    const handle = await mountView(args.dir, root)
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
    const poll = setInterval(() => {
      void job('down-sync', async () => {
        // Applications made on another computer appear under apps/ (one an --app mount holds
        // here is left to it).
        if (args.app === undefined) {
          await sp.downSync()
          const registry = await sp.get(APPS_REGISTRY)
          for (const id of (await registry.view.list('')) ?? []) await sp.get(appSpace(id)).catch(() => undefined)
        }
        await sp.downSync()
        await refreshReadOnly()
      })
    }, pollMs)
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
    void Promise.all([...(await sp.opened()).map((o) => o.view.base), ...readOnlySpaces].map((v) => v.prefetch())).catch(() => {})
    io.stderr.write(`Mounted at ${args.dir}; Ctrl-C unmounts.\n`)
    // Until Ctrl-C or SIGTERM, or an unmount from outside (fusermount -u, a file manager's eject).
    const outside = await new Promise<boolean>((resolve) => {
      process.once('SIGINT', () => resolve(false))
      process.once('SIGTERM', () => resolve(false))
      void handle.gone.then(() => resolve(true))
    })
    if (outside) io.stderr.write(`${args.dir} was unmounted from outside; publishing what the journal holds, then exiting.\n`)
    // A second signal, or a stop that takes over a minute, ends the process at once: what was
    // closed is in the journal, replayed by the next mount.
    const force = () => {
      io.stderr.write('cloudy mount: stopping took too long; exiting (the journal keeps every closed file)\n')
      process.exit(EXIT.PARTIAL)
    }
    process.once('SIGINT', force)
    process.once('SIGTERM', force)
    setTimeout(force, 60_000).unref()
    clearInterval(poll)
    clearTimeout(quiet)
    await control.close()
    if ((await handle.unmount()) === 'detached') io.stderr.write(`${args.dir} is busy; detached, it goes once its last open file closes.\n`)
    // What is left in the journals goes now; if that fails it waits there for the next time,
    // and the exit code says the run did not publish it (5 for a refused upload).
    const { failure } = await upSyncJob()
    if (outside) io.stderr.write(`Unmounted from outside; stopped.\n`)
    if (failure === undefined) return EXIT.OK
    io.stderr.write('cloudy mount: what the journal holds is kept for the next mount or "cloudy sync up".\n')
    return failure instanceof CloudyError ? failure.exitCode : EXIT.FAILED
  } catch (e) {
    if (e instanceof Error && !(e instanceof CloudyError) && /mount/i.test(e.message))
      throw new CloudyError('EMOUNT', EXIT.USAGE, `cannot mount on ${args.dir}: ${e.message} (is FUSE installed: /dev/fuse, fusermount?)`)
    throw e
  } finally {
    await spaces?.close()
    await s.close()
  }
}
