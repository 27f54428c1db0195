/**
 * `cloudy mount`: the vault as a folder. This file only turns the views of lib/mount/ into a
 * fuse-native operations table: every answer comes from them; no logic of its own.
 *
 * Work in progress (issue 5): read-only, the spaces given; writes answer EROFS.
 */
import Fuse, { type Stat } from 'fuse-native'
import { getgid, getuid } from 'node:process'
import type { MountView, ViewEntry } from './lib/mount/view.js'

export interface MountHandle {
  unmount(): Promise<void>
}

const S_IFDIR = 0o040000
const S_IFREG = 0o100000
const S_IFLNK = 0o120000

function statOf(e: ViewEntry): Stat {
  const kind = e.type === 'dir' ? S_IFDIR : e.type === 'symlink' ? S_IFLNK : S_IFREG
  const t = new Date(e.mtimeMs)
  return { mtime: t, atime: t, ctime: t, size: e.size, mode: kind | e.mode, uid: getuid?.() ?? 0, gid: getgid?.() ?? 0, nlink: 1 }
}

/** Which view and which path inside it a mount path is; the root is the list of spaces. */
function route(views: Map<string, MountView>, path: string): { view?: MountView; rel: string } | undefined {
  const parts = path.split('/').filter(Boolean)
  if (parts.length === 0) return { rel: '' }
  const view = views.get(parts[0]!)
  return view ? { view, rel: parts.slice(1).join('/') } : undefined
}

/** Answer a FUSE call from a promise; an unexpected failure is EIO (and said on stderr). */
function reply<T>(cb: (code: number, value?: T) => void, work: () => Promise<T | number>): void {
  work().then(
    (v) => (typeof v === 'number' ? cb(v) : cb(0, v)),
    (e: unknown) => {
      process.stderr.write(`cloudy mount: ${(e as Error).message}\n`)
      cb(Fuse.EIO)
    },
  )
}

export function mountViews(dir: string, views: Map<string, MountView>): Promise<MountHandle> {
  const root: ViewEntry = { type: 'dir', mode: 0o755, size: 4096, mtimeMs: Date.now() }
  const fuse = new Fuse(
    dir,
    {
      getattr: (path, cb) =>
        reply(cb, async () => {
          const r = route(views, path)
          if (!r) return Fuse.ENOENT
          const e = r.view ? await r.view.stat(r.rel) : root
          return e ? statOf(e) : Fuse.ENOENT
        }),
      readdir: (path, cb) =>
        reply(cb, async () => {
          const r = route(views, path)
          if (!r) return Fuse.ENOENT
          const names = r.view ? await r.view.list(r.rel) : [...views.keys()]
          return names ?? Fuse.ENOTDIR
        }),
      readlink: (path, cb) =>
        reply(cb, async () => {
          const r = route(views, path)
          const e = r?.view && (await r.view.stat(r.rel))
          return e?.type === 'symlink' ? e.target! : Fuse.EINVAL
        }),
      open: (path, flags, cb) => {
        // Read-only for now: any write access is refused.
        if ((flags & 3) !== 0) return cb(Fuse.EROFS)
        cb(0, 0)
      },
      release: (_path, _fd, cb) => cb(0),
      read: (path, _fd, buffer, length, position, cb) => {
        const r = route(views, path)
        if (!r?.view) return cb(Fuse.ENOENT)
        r.view.read(r.rel, position, length).then(
          (bytes) => cb(bytes.copy(buffer, 0, 0, Math.min(length, bytes.length))),
          (e: unknown) => {
            process.stderr.write(`cloudy mount: ${(e as Error).message}\n`)
            cb(Fuse.EIO)
          },
        )
      },
      create: (_path, _mode, cb) => cb(Fuse.EROFS),
      unlink: (_path, cb) => cb(Fuse.EROFS),
      mkdir: (_path, _mode, cb) => cb(Fuse.EROFS),
      rmdir: (_path, cb) => cb(Fuse.EROFS),
      rename: (_src, _dest, cb) => cb(Fuse.EROFS),
      truncate: (_path, _size, cb) => cb(Fuse.EROFS),
      chmod: (_path, _mode, cb) => cb(Fuse.EROFS),
      utimens: (_path, _a, _m, cb) => cb(Fuse.EROFS),
    },
    // big_writes and max_read: 128 KiB requests instead of 4 KiB (TESTBED.md).
    { force: true, mkdir: false, fsname: 'cloudy,big_writes,max_read=131072' },
  )
  return new Promise((resolve, reject) => {
    fuse.mount((err) => {
      if (err) return reject(err)
      resolve({ unmount: () => new Promise<void>((res, rej) => fuse.unmount((e) => (e ? rej(e) : res()))) })
    })
  })
}
