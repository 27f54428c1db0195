/**
 * `.preview/` in the mount: what a down-sync would do now. `PLAN.txt` is the table
 * `cloudy sync down --preview` prints; `incoming/<item>` is the version the down-sync would
 * write and `local/<item>` the one it would replace, for every item of the plan.
 */
import { open as openFile, lstat, readlink } from 'node:fs/promises'
import { join } from 'node:path'
import { planTable } from '../text/plan-table.js'
import { shownItems, type PlanItem } from '../sync/plan.js'
import type { MountView, ViewEntry } from './view.js'

/** One space's plan, with where its incoming versions and local files are read. */
export interface SpacePlan {
  items: readonly PlanItem[]
  /** The chain's state of the space (the incoming versions). */
  incoming: MountView
  /** The local folder the space's paths are relative to (HOME for settings). */
  root: string
}

type Source = { kind: 'plan' } | { kind: 'incoming'; view: MountView; path: string } | { kind: 'local'; abs: string }

const folder = (mtimeMs: number): ViewEntry => ({ type: 'dir', mode: 0o555, size: 4096, mtimeMs })

export class PreviewView implements MountView {
  #plan = Buffer.alloc(0)
  #made = Date.now()
  #files = new Map<string, Source>()
  #dirs = new Map<string, Set<string>>()

  /** The plans, made again when `.preview/` is looked at and they are older than a second. */
  readonly #plans: () => Promise<readonly SpacePlan[]>
  #making: Promise<void> | undefined

  private constructor(plans: () => Promise<readonly SpacePlan[]>) {
    this.#plans = plans
  }

  /**
   * The preview of the plans `plans` makes. They follow the chain and the local files: made
   * again on a look at `.preview/` after a second, so a burst of calls (ls -lR) sees one plan.
   */
  static async open(plans: () => Promise<readonly SpacePlan[]>): Promise<PreviewView> {
    const v = new PreviewView(plans)
    v.#show(await plans())
    return v
  }

  async #fresh(): Promise<void> {
    if (Date.now() - this.#made < 1000) return
    this.#making ??= this.#plans()
      .then((p) => this.#show(p))
      .finally(() => (this.#making = undefined))
    await this.#making
  }

  #show(plans: readonly SpacePlan[]): void {
    this.#made = Date.now()
    this.#plan = Buffer.from(planTable(plans.flatMap((p) => shownItems(p.items))))
    this.#files = new Map([['PLAN.txt', { kind: 'plan' }]])
    this.#dirs = new Map([
      ['', new Set(['PLAN.txt', 'incoming', 'local'])],
      ['incoming', new Set()],
      ['local', new Set()],
    ])
    for (const p of plans) {
      for (const it of shownItems(p.items)) {
        if (it.incoming) this.#add(`incoming/${it.item}`, { kind: 'incoming', view: p.incoming, path: it.path })
        if (it.local) this.#add(`local/${it.item}`, { kind: 'local', abs: join(p.root, it.path) })
      }
    }
  }

  /** Record a file and every folder above it. */
  #add(path: string, source: Source): void {
    this.#files.set(path, source)
    for (let child = path; child.includes('/');) {
      const parent = child.slice(0, child.lastIndexOf('/'))
      let names = this.#dirs.get(parent)
      if (!names) this.#dirs.set(parent, (names = new Set()))
      names.add(child.slice(child.lastIndexOf('/') + 1))
      child = parent
    }
  }

  async stat(path: string): Promise<ViewEntry | undefined> {
    // What the preview shows follows the local disk and the chain at every look.
    const e = await this.#stat(path)
    return e && { ...e, volatile: true }
  }

  async #stat(path: string): Promise<ViewEntry | undefined> {
    await this.#fresh()
    const source = this.#files.get(path)
    if (!source) return this.#dirs.has(path) ? folder(this.#made) : undefined
    if (source.kind === 'plan') return { type: 'file', mode: 0o444, size: this.#plan.length, mtimeMs: this.#made }
    if (source.kind === 'incoming') return source.view.stat(source.path)
    try {
      const st = await lstat(source.abs)
      const type = st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : 'file'
      return {
        type,
        mode: st.mode & 0o7777,
        size: type === 'dir' ? 4096 : st.size,
        mtimeMs: st.mtimeMs,
        target: type === 'symlink' ? await readlink(source.abs) : undefined,
      }
    } catch {
      return undefined // gone since the plan was made
    }
  }

  async list(path: string): Promise<string[] | undefined> {
    await this.#fresh()
    // A folder item lists what the plan holds under it.
    const names = this.#dirs.get(path)
    return names && [...names]
  }

  async read(path: string, offset: number, length: number): Promise<Buffer> {
    const source = this.#files.get(path)
    if (!source) return Buffer.alloc(0)
    if (source.kind === 'plan') return this.#plan.subarray(offset, offset + length)
    if (source.kind === 'incoming') return source.view.read(source.path, offset, length)
    const fh = await openFile(source.abs, 'r')
    try {
      const buf = Buffer.alloc(length)
      const { bytesRead } = await fh.read(buf, 0, length, offset)
      return buf.subarray(0, bytesRead)
    } finally {
      await fh.close()
    }
  }
}
