/**
 * The local-folder provider, Cloudy's default: a folder on this computer (an external disk, a
 * folder another tool syncs). Writes are atomic — temp file in `<root>/.tmp/`, fsync, rename
 * (or link, for if-absent puts, which fails atomically when the name is taken) — so a crash
 * never leaves a half-written object under its final name. Its change feed (`watch`) is the
 * kernel's (inotify through `fs.watch`): another process's write is seen at once, no polling.
 */
import { constants, watch as fsWatch, type FSWatcher } from 'node:fs'
import { link, mkdir, open, readdir, rename, rm, stat, unlink } from 'node:fs/promises'
import { isAbsolute, join, dirname } from 'node:path'
import { AlreadyExistsError, NotFoundError, ProviderError, UsageError } from '../lib/errors.js'
import { randomBytes } from 'node:crypto'
import { assertKey } from './keys.js'
import type { ByteRange, ObjectInfo, Provider, ProviderChange, PutBody, PutOptions } from './provider.js'

/** Options of the local provider. */
export interface LocalOptions {
  /** Absolute path of the folder holding the vault; created on first write. */
  root: string
}

const TMP = '.tmp'

function failure(name: string, e: unknown): unknown {
  const code = (e as NodeJS.ErrnoException).code
  switch (code) {
    case 'ENOSPC':
    case 'EDQUOT':
      return new ProviderError(name, 'the disk holding the vault is full: free some space or move the vault', { cause: e, kind: 'quota' })
    case 'EACCES':
    case 'EPERM':
      return new ProviderError(name, 'permission denied on the vault folder: make it writable by this user', { cause: e })
    case 'EROFS':
      return new ProviderError(name, 'the vault folder is on a read-only file system', { cause: e })
    default:
      return e
  }
}

export function local(options: LocalOptions): Provider {
  if (typeof options?.root !== 'string' || !isAbsolute(options.root)) {
    throw new UsageError(`local provider: root must be an absolute path (got ${JSON.stringify(options?.root)})`)
  }
  const root = options.root
  const name = `local:${root}`
  const made = new Set<string>()
  const ensureDir = async (dir: string) => {
    if (made.has(dir)) return
    await mkdir(dir, { recursive: true })
    made.add(dir)
  }
  const path = (key: string) => join(root, ...key.split('/'))
  // Temporary files of puts killed mid-way (kill -9, power loss) are swept once per process,
  // on the first write; a day's grace leaves concurrent writers' files alone.
  let swept: Promise<void> | undefined
  const sweep = async () => {
    const dir = join(root, TMP)
    const names = await readdir(dir).catch(() => [] as string[])
    const dayAgo = Date.now() - 24 * 3600 * 1000
    for (const n of names) {
      const p = join(dir, n)
      const st = await stat(p).catch(() => undefined)
      if (st && st.mtimeMs < dayAgo) await rm(p, { force: true })
    }
  }

  return {
    name,
    local: true,
    async get(key: string, range?: ByteRange): Promise<Uint8Array> {
      assertKey(name, key)
      let fh
      try {
        fh = await open(path(key), 'r')
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new NotFoundError(name, key)
        throw failure(name, e)
      }
      try {
        if (!range) return await fh.readFile()
        const size = (await fh.stat()).size
        const length = Math.max(0, Math.min(range.length, size - range.offset))
        const buf = Buffer.allocUnsafe(length)
        let done = 0
        while (done < length) {
          const { bytesRead } = await fh.read(buf, done, length - done, range.offset + done)
          if (bytesRead === 0) break
          done += bytesRead
        }
        return buf.subarray(0, done)
      } finally {
        await fh.close()
      }
    },

    async put(key: string, body: PutBody, opts: PutOptions = {}): Promise<void> {
      assertKey(name, key)
      const final = path(key)
      const tmpDir = join(root, TMP)
      const tmp = join(tmpDir, `${randomBytes(12).toString('hex')}`)
      try {
        await (swept ??= sweep())
        await ensureDir(tmpDir)
        await ensureDir(dirname(final))
        if (opts.ifAbsent) {
          try {
            await stat(final)
            throw new AlreadyExistsError(name, key)
          } catch (e) {
            if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e
          }
        }
        const fh = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600)
        try {
          if (body instanceof Uint8Array) await fh.write(body)
          else for await (const part of body) await fh.write(part)
          await fh.datasync()
        } finally {
          await fh.close()
        }
        if (opts.ifAbsent) {
          try {
            await link(tmp, final)
          } catch (e) {
            if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw new AlreadyExistsError(name, key)
            throw e
          } finally {
            await unlink(tmp).catch(() => {})
          }
        } else await rename(tmp, final)
      } catch (e) {
        await rm(tmp, { force: true })
        throw failure(name, e)
      }
    },

    async *list(prefix: string): AsyncIterable<ObjectInfo> {
      assertKey(name, prefix, true)
      const slash = prefix.lastIndexOf('/')
      const base = slash < 0 ? '' : prefix.slice(0, slash)
      const walk = async function* (rel: string): AsyncGenerator<ObjectInfo> {
        let entries
        try {
          entries = await readdir(rel ? path(rel) : root, { withFileTypes: true })
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return
          throw failure(name, e)
        }
        for (const d of entries) {
          if (!rel && d.name === TMP) continue
          const key = rel ? `${rel}/${d.name}` : d.name
          if (d.isDirectory()) {
            if (prefix.startsWith(key + '/') || key.startsWith(prefix)) yield* walk(key)
          } else if (d.isFile() && key.startsWith(prefix)) {
            let st
            try {
              st = await stat(path(key))
            } catch {
              continue
            }
            yield { key, size: st.size, mtimeMs: st.mtimeMs }
          }
        }
      }
      yield* walk(base)
    },

    async delete(key: string): Promise<void> {
      assertKey(name, key)
      await rm(path(key), { force: true }).catch((e) => {
        throw failure(name, e)
      })
    },

    async stat(key: string): Promise<ObjectInfo | undefined> {
      assertKey(name, key)
      try {
        const st = await stat(path(key))
        return st.isFile() ? { key, size: st.size, mtimeMs: st.mtimeMs } : undefined
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined
        throw failure(name, e)
      }
    },

    watch(prefix: string, onChange: (change: ProviderChange) => void | Promise<void>, signal: AbortSignal): Promise<void> {
      assertKey(name, prefix, true)
      return watchFolder(root, prefix, onChange, signal)
    },

    async close(): Promise<void> {},
  }
}

/**
 * Report what changes under `prefix` of the vault at `root` until `signal` aborts. The folder
 * that holds the prefix is watched with inotify: recursively below the vault's top (a space's
 * objects), but at the top itself only the objects directly there (the pulse: recursing from
 * the top would put a watch on every folder of every space). A put lands by rename, so each
 * object written is one event.
 */
async function watchFolder(
  root: string,
  prefix: string,
  onChange: (change: ProviderChange) => void | Promise<void>,
  signal: AbortSignal,
): Promise<void> {
  if (signal.aborted) return
  const slash = prefix.lastIndexOf('/')
  const folder = slash < 0 ? '' : prefix.slice(0, slash + 1)
  const dir = join(root, ...folder.split('/').filter(Boolean))
  await mkdir(dir, { recursive: true })
  const watchers: FSWatcher[] = []
  // Changes are said one at a time, in the order the kernel reported them.
  let said: Promise<void> = Promise.resolve()
  return new Promise<void>((resolve, reject) => {
    const stop = (e?: unknown) => {
      for (const w of watchers) w.close()
      watchers.length = 0
      void said.then(() => (e ? reject(e) : resolve()))
    }
    const report = (key: string) => {
      if (!key.startsWith(prefix) || key.startsWith(TMP + '/') || key === TMP) return
      said = said
        .then(async () => {
          if (signal.aborted) return
          const st = await stat(join(root, ...key.split('/'))).catch(() => undefined)
          if (st?.isDirectory()) return
          await onChange(st ? { type: 'put', key, size: st.size, mtimeMs: st.mtimeMs } : { type: 'delete', key })
        })
        .catch((e: unknown) => stop(e))
    }
    const add = (path: string, base: string, recursive: boolean) => {
      const w = fsWatch(path, { recursive, persistent: false }, (_event, file) => {
        if (file !== null) report(base + String(file))
      })
      w.on('error', (e) => stop(e))
      watchers.push(w)
    }
    try {
      add(dir, folder, folder !== '')
    } catch (e) {
      reject(e)
      return
    }
    signal.addEventListener('abort', () => stop(), { once: true })
  })
}
