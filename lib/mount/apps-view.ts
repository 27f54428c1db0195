/**
 * `apps/` in the mount: one folder per application space. The folders themselves are the
 * `apps` registry space (so the list of applications syncs like any space, sealed: the storage
 * account never sees an application's name); what is inside `apps/<id>/` is the space
 * `app/<id>`. `mkdir apps/<id>` makes a new application space, `rmdir` of an empty one removes
 * it from the list; only folders live at this level.
 */
import { FsError } from './fs-error.js'
import { APP_ID, appSpace, APPS_REGISTRY } from '../apps/app-spaces.js'
import type { JournaledSpaces } from './journaled-spaces.js'
import type { DirectLease, NewFiles, ViewEntry, WritableView } from './view.js'

export class AppsView implements WritableView {
  constructor(readonly spaces: JournaledSpaces) {}

  async #registry(): Promise<WritableView> {
    return (await this.spaces.get(APPS_REGISTRY)).view
  }

  /** The application's view and the path inside it, for a path under `apps/<id>/`. */
  async #app(path: string): Promise<{ view: WritableView; rel: string } | undefined> {
    const slash = path.indexOf('/')
    const id = slash < 0 ? path : path.slice(0, slash)
    const entry = await (await this.#registry()).stat(id)
    if (entry?.type !== 'dir') return undefined
    return { view: (await this.spaces.get(appSpace(id))).view, rel: slash < 0 ? '' : path.slice(slash + 1) }
  }

  /** The application view for a path that must be inside one (`apps/<id>/…`). */
  async #inside(path: string): Promise<{ view: WritableView; rel: string }> {
    if (!path.includes('/')) throw new FsError('EPERM', 'only application folders live in apps/')
    const app = await this.#app(path)
    if (!app) throw new FsError('ENOENT')
    return app
  }

  canWrite(path: string): boolean {
    return path.includes('/')
  }

  async stat(path: string): Promise<ViewEntry | undefined> {
    if (path === '' || !path.includes('/')) return (await this.#registry()).stat(path)
    const app = await this.#app(path)
    return app?.view.stat(app.rel)
  }

  async list(path: string): Promise<string[] | undefined> {
    if (path === '') return (await this.#registry()).list('')
    const app = await this.#app(path)
    return app?.view.list(app.rel)
  }

  async read(path: string, offset: number, length: number): Promise<Buffer> {
    const app = await this.#inside(path)
    return app.view.read(app.rel, offset, length)
  }

  async mkdir(path: string, mode: number): Promise<void> {
    if (path.includes('/')) {
      const app = await this.#inside(path)
      return app.view.mkdir(app.rel, mode)
    }
    if (!APP_ID.test(path)) throw new FsError('EINVAL', `"${path}" is not an application id (letters, digits, ".", "_", "-")`)
    // The space (and its journal) first: a registered folder always has its space.
    await this.spaces.get(appSpace(path))
    await (await this.#registry()).mkdir(path, mode)
  }

  async rmdir(path: string): Promise<void> {
    if (path.includes('/')) {
      const app = await this.#inside(path)
      return app.view.rmdir(app.rel)
    }
    const app = await this.#app(path)
    if (!app) throw new FsError('ENOENT')
    if ((await app.view.list(''))!.length > 0) throw new FsError('ENOTEMPTY')
    await (await this.#registry()).rmdir(path)
  }

  async rename(from: string, to: string): Promise<void> {
    const a = await this.#inside(from)
    const b = await this.#inside(to)
    // Each application's data stays in its own space: a move between two is a copy.
    if (a.view !== b.view) throw new FsError('EXDEV')
    return a.view.rename(a.rel, b.rel)
  }

  async newFiles(path: string): Promise<{ files: NewFiles; rel: string } | undefined> {
    if (!path.includes('/')) return undefined
    const app = await this.#app(path)
    return app?.view.newFiles?.(app.rel)
  }

  async create(path: string, mode: number): Promise<void> {
    const app = await this.#inside(path)
    return app.view.create(app.rel, mode)
  }

  async symlink(target: string, path: string): Promise<void> {
    const app = await this.#inside(path)
    return app.view.symlink(target, app.rel)
  }

  async unlink(path: string): Promise<void> {
    const app = await this.#inside(path)
    return app.view.unlink(app.rel)
  }

  async chmod(path: string, mode: number): Promise<void> {
    if (!path.includes('/')) return (await this.#registry()).chmod(path, mode)
    const app = await this.#inside(path)
    return app.view.chmod(app.rel, mode)
  }

  async utimens(path: string, mtimeMs: number): Promise<void> {
    if (!path.includes('/')) return (await this.#registry()).utimens(path, mtimeMs)
    const app = await this.#inside(path)
    return app.view.utimens(app.rel, mtimeMs)
  }

  async truncate(path: string, size: number, recorded?: boolean): Promise<void> {
    const app = await this.#inside(path)
    return app.view.truncate(app.rel, size, recorded)
  }

  async write(path: string, buf: Buffer, position: number): Promise<number> {
    const app = await this.#inside(path)
    return app.view.write(app.rel, buf, position)
  }

  async direct(path: string, lease: DirectLease): Promise<boolean> {
    if (!path.includes('/')) return false
    const app = await this.#app(path)
    return !!app?.view.direct && app.view.direct(app.rel, lease)
  }

  async sync(path?: string): Promise<void> {
    // A folder's fsync (the end of a safe replace: write, fsync, rename, fsync the folder)
    // must reach every application's journal, not the list's alone.
    if (path === undefined) {
      for (const s of await this.spaces.opened()) await s.view.sync()
      return
    }
    if (!path.includes('/')) return (await this.#registry()).sync(path)
    const app = await this.#inside(path)
    return app.view.sync(app.rel)
  }
}
