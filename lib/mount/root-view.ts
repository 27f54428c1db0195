/**
 * The mount's top folder: named entries (`settings`, `apps`, `.preview`, `installed-apps.json`),
 * each a view of its own; a path is answered by the view its first name picks. Only a writable
 * view takes writes: anything else, and the top folder itself, answers EROFS.
 */
import { FsError } from './fs-error.js'
import { isWritable, type DirectLease, type MountView, type NewFiles, type ViewEntry, type WritableView } from './view.js'

export class RootView implements WritableView {
  readonly #made = Date.now()

  constructor(readonly children: ReadonlyMap<string, MountView>) {}

  #route(path: string): { view: MountView; rel: string } | undefined {
    const slash = path.indexOf('/')
    const view = this.children.get(slash < 0 ? path : path.slice(0, slash))
    return view && { view, rel: slash < 0 ? '' : path.slice(slash + 1) }
  }

  #writable(path: string): { view: WritableView; rel: string } {
    const r = this.#route(path)
    if (!r) throw new FsError(path.includes('/') ? 'ENOENT' : 'EROFS')
    if (!isWritable(r.view)) throw new FsError('EROFS')
    return { view: r.view, rel: r.rel }
  }

  async stat(path: string): Promise<ViewEntry | undefined> {
    if (path === '') return { type: 'dir', mode: 0o755, size: 4096, mtimeMs: this.#made }
    const r = this.#route(path)
    return r?.view.stat(r.rel)
  }

  async list(path: string): Promise<string[] | undefined> {
    if (path === '') return [...this.children.keys()]
    const r = this.#route(path)
    return r?.view.list(r.rel)
  }

  async read(path: string, offset: number, length: number): Promise<Buffer> {
    const r = this.#route(path)
    if (!r) throw new FsError('ENOENT')
    return r.view.read(r.rel, offset, length)
  }

  /** A change to the top level itself (a name beside `settings`…) is refused. */
  #inside(path: string): { view: WritableView; rel: string } {
    const w = this.#writable(path)
    if (w.rel === '') throw new FsError('EROFS')
    return w
  }

  canWrite(path: string): boolean {
    const r = this.#route(path)
    return !!r && r.rel !== '' && isWritable(r.view) && r.view.canWrite(r.rel)
  }

  async newFiles(path: string): Promise<{ files: NewFiles; rel: string } | undefined> {
    const r = this.#route(path)
    return r && r.rel !== '' && isWritable(r.view) ? r.view.newFiles?.(r.rel) : undefined
  }

  async create(path: string, mode: number): Promise<void> {
    const w = this.#inside(path)
    return w.view.create(w.rel, mode)
  }
  async mkdir(path: string, mode: number): Promise<void> {
    const w = this.#inside(path)
    return w.view.mkdir(w.rel, mode)
  }
  async symlink(target: string, path: string): Promise<void> {
    const w = this.#inside(path)
    return w.view.symlink(target, w.rel)
  }
  async unlink(path: string): Promise<void> {
    const w = this.#inside(path)
    return w.view.unlink(w.rel)
  }
  async rmdir(path: string): Promise<void> {
    const w = this.#inside(path)
    return w.view.rmdir(w.rel)
  }
  async rename(from: string, to: string): Promise<void> {
    const a = this.#inside(from)
    const b = this.#inside(to)
    if (a.view !== b.view) throw new FsError('EXDEV')
    return a.view.rename(a.rel, b.rel)
  }
  async chmod(path: string, mode: number): Promise<void> {
    const w = this.#inside(path)
    return w.view.chmod(w.rel, mode)
  }
  async utimens(path: string, mtimeMs: number): Promise<void> {
    const w = this.#inside(path)
    return w.view.utimens(w.rel, mtimeMs)
  }
  async truncate(path: string, size: number, recorded?: boolean): Promise<void> {
    const w = this.#inside(path)
    return w.view.truncate(w.rel, size, recorded)
  }
  async write(path: string, buf: Buffer, position: number): Promise<number> {
    const w = this.#inside(path)
    return w.view.write(w.rel, buf, position)
  }
  async direct(path: string, lease: DirectLease): Promise<boolean> {
    const r = this.#route(path)
    return !!r && isWritable(r.view) && !!r.view.direct && r.view.direct(r.rel, lease)
  }
  async sync(path?: string): Promise<void> {
    for (const [name, view] of this.children) {
      if (!isWritable(view)) continue
      if (path === undefined) await view.sync()
      else if (path === name || path.startsWith(name + '/')) return view.sync(path.slice(name.length + 1))
    }
  }
}
