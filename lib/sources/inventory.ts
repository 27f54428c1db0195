/**
 * The installed applications (the `inventory` category): what the user chose to install here,
 * from each packaging system there is — Debian packages installed by hand (what `apt-mark
 * showmanual` lists: installed in the dpkg database and not marked automatic in apt's
 * extended states), Flatpak applications with their remote, Snap packages. A source whose tool
 * is absent is skipped with a note. Each computer keeps its own record in the inventory space,
 * `devices/<deviceTag>.json`, so two computers never change one file; the chain's view is all
 * of them together.
 */
import { execFile } from 'node:child_process'
import { accessSync, constants, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { dpkgStatusFile, installedDebianPackages, systemRoot } from '../catalog/detect.js'
import type { CloudyPaths } from '../paths.js'
import { readTextIfAny, writeFileAtomic } from '../fs/atomic-file.js'
import type { SpaceStore } from '../store/space-store.js'
import { entryAt } from '../sync/merge.js'

const run = promisify(execFile)

export type PackageSource = 'debian' | 'flatpak' | 'snap'

export interface InstalledApp {
  source: PackageSource
  id: string
  /** Flatpak: the remote it came from. */
  remote?: string
}

export interface InventoryRecord {
  format: 1
  /** Device name and tag of the computer it describes. */
  device: string
  tag: string
  apps: InstalledApp[]
  /** Sources skipped here, and why. */
  notes: string[]
}

/** The folder that holds the inventory records on this computer (in its state folder). */
export function inventoryFolder(paths: CloudyPaths): string {
  return join(paths.stateDir, 'inventory')
}

/** The file of one device's record in the inventory space. */
export function inventoryFile(tag: string): string {
  return `devices/${tag}.json`
}

/** Packages apt marked as installed automatically (as dependencies). */
function autoInstalled(env: NodeJS.ProcessEnv): Set<string> {
  const out = new Set<string>()
  let text: string
  try {
    text = readFileSync(join(systemRoot(env), 'var/lib/apt/extended_states'), 'utf8')
  } catch {
    return out
  }
  for (const stanza of text.split(/\n\n+/)) {
    const pkg = /^Package: (\S+)$/m.exec(stanza)?.[1]
    if (pkg && /^Auto-Installed: 1$/m.test(stanza)) out.add(pkg)
  }
  return out
}

async function flatpaks(env: NodeJS.ProcessEnv): Promise<InstalledApp[]> {
  const { stdout } = await run('flatpak', ['list', '--app', '--columns=application,origin'], { env })
  return stdout
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter(([id]) => id && /^[A-Za-z0-9_.-]+$/.test(id) && id !== 'Application')
    .map(([id, remote]) => ({ source: 'flatpak' as const, id: id!, remote }))
}

/** Snaps the system brings itself: not what a user installed. */
const SNAP_BASE = /^(core\d*|snapd|bare|gtk-common-themes|gnome-\d+-\d+-\d+|kde-frameworks-.*|mesa-.*)$/

async function snaps(env: NodeJS.ProcessEnv): Promise<InstalledApp[]> {
  const { stdout } = await run('snap', ['list'], { env })
  return stdout
    .split('\n')
    .slice(1)
    .map((l) => l.trim().split(/\s+/)[0])
    .filter((id): id is string => !!id && !SNAP_BASE.test(id))
    .map((id) => ({ source: 'snap' as const, id }))
}

function missingTool(e: unknown): boolean {
  return (e as NodeJS.ErrnoException).code === 'ENOENT'
}

/** Whether `command` is an executable on PATH: looked up first, a process for an absent tool costs ~10 ms. */
function onPath(command: string, env: NodeJS.ProcessEnv): boolean {
  return (env.PATH ?? '').split(':').some((dir) => {
    try {
      accessSync(join(dir || '.', command), constants.X_OK)
      return true
    } catch {
      return false
    }
  })
}

/** What is installed here, by hand, in each packaging system; notes for those skipped. */
export async function readInstalled(env: NodeJS.ProcessEnv): Promise<{ apps: InstalledApp[]; notes: string[] }> {
  const apps: InstalledApp[] = []
  const notes: string[] = []
  const status = dpkgStatusFile(env)
  const installed = installedDebianPackages(status)
  if (installed.size) {
    const auto = autoInstalled(env)
    for (const id of [...installed].sort()) if (!auto.has(id)) apps.push({ source: 'debian', id })
  } else notes.push(`Debian packages skipped: no dpkg database at ${status}`)
  for (const [source, read] of [
    ['flatpak', flatpaks],
    ['snap', snaps],
  ] as const) {
    try {
      if (!onPath(source, env)) throw Object.assign(new Error(`${source} not found on PATH`), { code: 'ENOENT' })
      apps.push(...(await read(env)))
    } catch (e) {
      notes.push(
        missingTool(e)
          ? `${source} applications skipped: ${source} is not installed`
          : `${source} applications skipped: ${(e as Error).message.split('\n')[0]}`,
      )
    }
  }
  return { apps, notes }
}

/** The key of an application across sources: `debian:hello`, `flatpak:org.gimp.GIMP`. */
export function appKey(a: InstalledApp): string {
  return `${a.source}:${a.id}`
}

/**
 * The applications some other computer of the chain has and this one lacks, with who has them;
 * `skip` holds the keys this computer was told to leave out (`[here] skip = ["debian:steam"]`).
 */
export function missingHere(
  records: readonly InventoryRecord[],
  ownTag: string,
  here: readonly InstalledApp[],
  skip: ReadonlySet<string>,
): { app: InstalledApp; on: string[] }[] {
  const have = new Set(here.map(appKey))
  const out = new Map<string, { app: InstalledApp; on: string[] }>()
  for (const r of records) {
    if (r.tag === ownTag) continue
    for (const app of r.apps) {
      const key = appKey(app)
      if (have.has(key) || skip.has(key)) continue
      const m = out.get(key) ?? { app, on: [] }
      m.on.push(r.device)
      out.set(key, m)
    }
  }
  return [...out.values()].sort((x, y) => (appKey(x.app) < appKey(y.app) ? -1 : 1))
}

/** The commands that install `apps` (as root), one per packaging system. */
export function installCommands(apps: readonly InstalledApp[]): string[][] {
  const debian = apps.filter((a) => a.source === 'debian').map((a) => a.id)
  const out: string[][] = []
  if (debian.length) out.push(['apt-get', 'install', '-y', ...debian])
  for (const a of apps.filter((x) => x.source === 'flatpak'))
    out.push(['flatpak', 'install', '-y', '--noninteractive', a.remote ?? 'flathub', a.id])
  for (const a of apps.filter((x) => x.source === 'snap')) out.push(['snap', 'install', a.id])
  return out
}

/**
 * Write this device's record (what is installed here now) into the inventory folder, only when
 * it changed: an unchanged inventory publishes nothing. Returns the record.
 */
export async function stageInventory(folder: string, tag: string, device: string, env: NodeJS.ProcessEnv): Promise<InventoryRecord> {
  const { apps, notes } = await readInstalled(env)
  const record: InventoryRecord = { format: 1, device, tag, apps, notes }
  const file = join(folder, inventoryFile(tag))
  const text = JSON.stringify(record, null, 1) + '\n'
  // writeFileAtomic makes the folder (0700).
  if (readTextIfAny(file) !== text) await writeFileAtomic(file, text)
  return record
}

/** A record as a file holds it, or undefined when it is not one. */
export function parseRecord(text: string): InventoryRecord | undefined {
  try {
    const r = JSON.parse(text) as InventoryRecord
    return r?.format === 1 && typeof r.tag === 'string' && Array.isArray(r.apps) ? r : undefined
  } catch {
    return undefined
  }
}

/** Every device's record in inventory tree `tree` of `store` (the chain's, merged). */
export async function recordsIn(store: SpaceStore, tree: string | undefined): Promise<InventoryRecord[]> {
  const devices = await entryAt(store, tree, 'devices')
  if (devices?.type !== 'dir' || !devices.subtree) return []
  const out: InventoryRecord[] = []
  for (const e of (await store.readTree(devices.subtree)).entries) {
    if (e.type !== 'file' || !e.name.endsWith('.json')) continue
    const r = parseRecord((await store.readFileBytes(e)).toString('utf8'))
    if (r) out.push(r)
  }
  return out
}
