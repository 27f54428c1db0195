/**
 * JournaledView against a real folder: the same seeded random operations applied to both must
 * give the same answers (success or errno) and the same trees, across up-syncs (also with writes
 * going on while one runs) and a close and reopen of the journal. Replay one seed with
 * `SEED=n npx tap --disable-coverage test/lib/mount/journaled-view.ts` (STEPS=n for more steps).
 */
import t, { type Test } from 'tap'
import { createHash } from 'node:crypto'
import { execFileSync } from 'node:child_process'
import { lstatSync } from 'node:fs'
import { chmod, lstat, lutimes, mkdir, open, readFile, readdir, readlink, rename, rmdir, symlink, truncate, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { isDeepStrictEqual } from 'node:util'
import { memory } from '../../../providers/memory.js'
import type { Provider } from '../../../providers/provider.js'
import { StateDb } from '../../../lib/state/db.js'
import { SpaceStore } from '../../../lib/store/space-store.js'
import { Vault } from '../../../lib/vault/vault.js'
import { Journal } from '../../../lib/mount/journal.js'
import { baseTree, downSyncJournal, upSyncJournal, type JournaledSpace } from '../../../lib/mount/journal-sync.js'
import { FsError } from '../../../lib/mount/fs-error.js'
import { JournaledView } from '../../../lib/mount/journaled-view.js'
import { SpaceView } from '../../../lib/mount/space-view.js'
import type { MountView } from '../../../lib/mount/view.js'
import { tempDir } from '../../helpers/temp.js'

/** SEED=n replays one seed, SEED=a-b runs a range of them. */
function seeds(given: string | undefined): number[] {
  if (!given) return [1, 2, 3, 4, 5, 6]
  const [from, to = from] = given.split('-').map(Number)
  return Array.from({ length: to! - from! + 1 }, (_, i) => from! + i)
}
const SEEDS = seeds(process.env.SEED)
const STEPS = Number(process.env.STEPS ?? 300)

/** mulberry32: small, seedable, good enough to pick operations. */
class Random {
  #a: number
  constructor(seed: number) {
    this.#a = seed >>> 0
  }
  next(): number {
    this.#a = (this.#a + 0x6d2b79f5) >>> 0
    let x = this.#a
    x = Math.imul(x ^ (x >>> 15), x | 1)
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61)
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
  int(n: number): number {
    return Math.floor(this.next() * n)
  }
  chance(p: number): boolean {
    return this.next() < p
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!
  }
  bytes(n: number): Buffer {
    const b = Buffer.allocUnsafe(n)
    for (let i = 0; i < n; i++) b[i] = this.int(256)
    return b
  }
}

type Op =
  | { op: 'create'; path: string; mode: number }
  | { op: 'write'; path: string; offset: number; bytes: Buffer; sync: boolean }
  | { op: 'truncate'; path: string; size: number; recorded: boolean }
  | { op: 'mkdir'; path: string; mode: number }
  | { op: 'rmdir'; path: string }
  | { op: 'unlink'; path: string }
  | { op: 'rename'; from: string; to: string }
  | { op: 'symlink'; target: string; path: string }
  | { op: 'chmod'; path: string; mode: number }
  | { op: 'utimens'; path: string; mtimeMs: number }
  | { op: 'sync'; path?: string }
  | { op: 'read'; path: string; offset: number; length: number }

const show = (op: Op) =>
  JSON.stringify(op, (k, v: unknown) =>
    k === 'bytes' ? `<${(v as { data: number[] }).data.length} bytes>` : k === 'mode' ? (v as number).toString(8) : v,
  )

const NAMES = ['a', 'b', 'c', 'd']
/** Modes that leave the owner able to use the entry (the model is a real folder; the tests may not run as root). */
const FILE_MODES = [0o644, 0o600, 0o755, 0o640, 0o664]
const DIR_MODES = [0o755, 0o700, 0o750, 0o777]
const T0 = Date.UTC(2026, 0, 1)

const parentOf = (path: string) => (path.includes('/') ? path.slice(0, path.lastIndexOf('/')) : '')
const ancestors = (path: string) =>
  path
    .split('/')
    .map((_, i, parts) => parts.slice(0, i).join('/'))
    .slice(1)
const under = (path: string, dir: string) => path === dir || path.startsWith(dir + '/')
const moved = (path: string, from: string, to: string) => to + path.slice(from.length)

interface Described {
  path: string
  type: string
  mode?: number
  size?: number
  sha?: string
  target?: string
  mtimeMs?: number
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex').slice(0, 16)
const readOutcome = (b: Buffer) => `read ${b.length} bytes ${sha(b)}`

/** The model: a real folder, with what the tests know of the times set on purpose. */
class Model {
  /** Times set by utimens and not changed since (others are "now", which differ). */
  readonly mtimes = new Map<string, number>()
  /** Files written through an open handle and not closed yet: made durable by the close. */
  readonly dirty = new Set<string>()

  constructor(readonly root: string) {}

  type(path: string): 'file' | 'dir' | 'symlink' | undefined {
    try {
      const st = lstatSync(join(this.root, path))
      return st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : 'file'
    } catch {
      return undefined
    }
  }

  size(path: string): number {
    return lstatSync(join(this.root, path)).size
  }

  /** Every path in the model. */
  async paths(rel = ''): Promise<string[]> {
    const out: string[] = []
    for (const name of await readdir(join(this.root, rel))) {
      const p = rel ? `${rel}/${name}` : name
      out.push(p)
      if (this.type(p) === 'dir') out.push(...(await this.paths(p)))
    }
    return out
  }

  /** The errno the real file system answers; undefined on success (what was read, for a read). */
  async apply(op: Op): Promise<string | undefined> {
    const abs = (p: string) => join(this.root, p)
    try {
      switch (op.op) {
        case 'create': {
          const fh = await open(abs(op.path), 'w', op.mode)
          await fh.close()
          await chmod(abs(op.path), op.mode)
          break
        }
        case 'write': {
          const fh = await open(abs(op.path), 'r+')
          try {
            await fh.write(op.bytes, 0, op.bytes.length, op.offset)
          } finally {
            await fh.close()
          }
          break
        }
        case 'truncate':
          await truncate(abs(op.path), op.size)
          break
        case 'mkdir':
          await mkdir(abs(op.path), op.mode)
          await chmod(abs(op.path), op.mode)
          break
        case 'rmdir':
          await rmdir(abs(op.path))
          break
        case 'unlink':
          await unlink(abs(op.path))
          break
        case 'rename':
          await rename(abs(op.from), abs(op.to))
          break
        case 'symlink':
          await symlink(op.target, abs(op.path))
          break
        case 'chmod':
          await chmod(abs(op.path), op.mode)
          break
        case 'utimens':
          await lutimes(abs(op.path), op.mtimeMs / 1000, op.mtimeMs / 1000)
          break
        case 'sync':
          break
        case 'read': {
          const fh = await open(abs(op.path), 'r')
          try {
            const buf = Buffer.alloc(op.length)
            const { bytesRead } = await fh.read(buf, 0, op.length, op.offset)
            return readOutcome(buf.subarray(0, bytesRead))
          } finally {
            await fh.close()
          }
        }
      }
    } catch (e) {
      return (e as NodeJS.ErrnoException).code ?? String(e)
    }
    this.#track(op)
    return undefined
  }

  /** Times and open files after a successful `op`. */
  #track(op: Op): void {
    const drop = (dir: string) => {
      for (const p of this.mtimes.keys()) if (under(p, dir)) this.mtimes.delete(p)
      for (const p of this.dirty) if (under(p, dir)) this.dirty.delete(p)
    }
    // A folder's time changes with its entries on disk; the view keeps it: not compared then.
    const entriesChanged = (path: string) => this.mtimes.delete(parentOf(path))
    switch (op.op) {
      case 'create':
      case 'mkdir':
      case 'symlink':
      case 'rmdir':
      case 'unlink':
        drop(op.path)
        entriesChanged(op.path)
        break
      case 'write':
      case 'truncate':
        this.mtimes.delete(op.path)
        if (op.op === 'write' ? !op.sync : !op.recorded) this.dirty.add(op.path)
        break
      case 'rename': {
        entriesChanged(op.from)
        entriesChanged(op.to)
        drop(op.to)
        // A copy first: the moved entries are added to what is iterated.
        for (const [p, ms] of Array.from(this.mtimes)) {
          if (!under(p, op.from)) continue
          this.mtimes.delete(p)
          this.mtimes.set(moved(p, op.from, op.to), ms)
        }
        for (const p of Array.from(this.dirty)) {
          if (!under(p, op.from)) continue
          this.dirty.delete(p)
          this.dirty.add(moved(p, op.from, op.to))
        }
        break
      }
      case 'utimens':
        this.mtimes.set(op.path, op.mtimeMs)
        break
      case 'sync':
        if (op.path !== undefined) this.dirty.delete(op.path)
        break
      case 'chmod':
      case 'read':
        break
    }
  }

  async describe(rel = ''): Promise<Described[]> {
    const out: Described[] = []
    for (const name of (await readdir(join(this.root, rel))).sort()) {
      const p = rel ? `${rel}/${name}` : name
      const abs = join(this.root, p)
      const st = await lstat(abs)
      const d: Described = { path: p, type: st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : 'file' }
      if (d.type !== 'symlink') d.mode = st.mode & 0o7777
      if (d.type === 'file') {
        d.size = st.size
        d.sha = sha(await readFile(abs))
      }
      if (d.type === 'symlink') d.target = await readlink(abs)
      const ms = this.mtimes.get(p)
      if (ms !== undefined) {
        // The model's own bookkeeping must agree with the disk, or the comparison means nothing.
        if (Math.round(st.mtimeMs) !== ms) throw new Error(`the test's time of ${p} is ${ms}, the disk's ${st.mtimeMs}`)
        d.mtimeMs = ms
      }
      out.push(d)
      if (d.type === 'dir') out.push(...(await this.describe(p)))
    }
    return out
  }
}

/** The same description of a view, through the calls the mount makes. */
async function describeView(v: MountView, mtimes: ReadonlyMap<string, number>, rel = ''): Promise<Described[]> {
  const out: Described[] = []
  const names = await v.list(rel)
  if (!names) throw new Error(`${rel || '(root)'} does not list`)
  if (new Set(names).size !== names.length) throw new Error(`${rel || '(root)'} lists a name twice: ${names.join(' ')}`)
  for (const name of names.sort()) {
    const p = rel ? `${rel}/${name}` : name
    const e = await v.stat(p)
    if (!e) throw new Error(`${p} is listed but has no entry`)
    const d: Described = { path: p, type: e.type }
    if (e.type !== 'symlink') d.mode = e.mode
    if (e.type === 'file') {
      const bytes = await v.read(p, 0, e.size + 100)
      if (bytes.length !== e.size) throw new Error(`${p}: ${e.size} bytes by stat, ${bytes.length} read`)
      d.size = e.size
      d.sha = sha(bytes)
    }
    if (e.type === 'symlink') d.target = e.target
    if (mtimes.has(p)) d.mtimeMs = e.mtimeMs
    out.push(d)
    if (e.type === 'dir') out.push(...(await describeView(v, mtimes, p)))
  }
  return out
}

/** The errno the view answers; undefined on success (what was read, for a read). */
async function onView(v: JournaledView, op: Op): Promise<string | undefined> {
  try {
    switch (op.op) {
      case 'create':
        await v.create(op.path, op.mode)
        break
      case 'write': {
        const n = await v.write(op.path, op.bytes, op.offset)
        if (n !== op.bytes.length) return `wrote ${n} of ${op.bytes.length} bytes`
        if (op.sync) await v.sync(op.path)
        break
      }
      case 'truncate':
        await v.truncate(op.path, op.size, op.recorded)
        break
      case 'mkdir':
        await v.mkdir(op.path, op.mode)
        break
      case 'rmdir':
        await v.rmdir(op.path)
        break
      case 'unlink':
        await v.unlink(op.path)
        break
      case 'rename':
        await v.rename(op.from, op.to)
        break
      case 'symlink':
        await v.symlink(op.target, op.path)
        break
      case 'chmod':
        await v.chmod(op.path, op.mode)
        break
      case 'utimens':
        await v.utimens(op.path, op.mtimeMs)
        break
      case 'sync':
        await v.sync(op.path)
        break
      case 'read':
        return readOutcome(await v.read(op.path, op.offset, op.length))
    }
  } catch (e) {
    if (e instanceof FsError) return e.errno
    return `threw ${(e as Error).stack}`
  }
  return undefined
}

/** A random operation, often on a path that exists, of the kind it applies to. */
async function randomOp(r: Random, m: Model): Promise<Op> {
  const existing = await m.paths()
  const files = existing.filter((p) => m.type(p) === 'file')
  const dirs = existing.filter((p) => m.type(p) === 'dir')
  const randomPath = () => Array.from({ length: 1 + r.int(3) }, () => r.pick(NAMES)).join('/')
  const somePath = () => (existing.length && r.chance(0.7) ? r.pick(existing) : randomPath())
  const someFile = () => (files.length && r.chance(0.8) ? r.pick(files) : somePath())
  const someDir = () => (dirs.length && r.chance(0.7) ? r.pick(dirs) : somePath())
  const newPath = () => {
    // Mostly in a folder that exists, so that creations succeed.
    if (r.chance(0.2)) return randomPath()
    const dir = r.pick(['', ...dirs])
    return dir ? `${dir}/${r.pick(NAMES)}` : r.pick(NAMES)
  }
  const kind = r.pick([
    'create',
    'create',
    'write',
    'write',
    'write',
    'truncate',
    'mkdir',
    'rmdir',
    'unlink',
    'rename',
    'rename',
    'symlink',
    'chmod',
    'utimens',
    'sync',
    'read',
  ] as const)
  switch (kind) {
    case 'create':
      return { op: 'create', path: newPath(), mode: r.pick(FILE_MODES) }
    case 'write': {
      const path = someFile()
      const size = m.type(path) === 'file' ? m.size(path) : 0
      // Inside, at the end, or past it (a hole).
      const offset = r.pick([0, r.int(size + 1), size, size + r.int(3000)])
      return { op: 'write', path, offset, bytes: r.bytes(1 + r.int(r.chance(0.1) ? 20_000 : 2000)), sync: r.chance(0.6) }
    }
    case 'truncate': {
      const path = someFile()
      const size = m.type(path) === 'file' ? m.size(path) : 0
      return { op: 'truncate', path, size: r.pick([0, r.int(size + 1), size + r.int(3000)]), recorded: r.chance(0.5) }
    }
    case 'mkdir':
      return { op: 'mkdir', path: newPath(), mode: r.pick(DIR_MODES) }
    case 'rmdir':
      return { op: 'rmdir', path: someDir() }
    case 'unlink':
      return { op: 'unlink', path: r.chance(0.5) ? someFile() : somePath() }
    case 'rename': {
      // Files and folders (with what they hold), onto a new name, a file, or anything.
      const from = r.chance(0.4) ? someDir() : somePath()
      const to = r.chance(0.3) && files.length ? r.pick(files) : r.chance(0.6) ? newPath() : somePath()
      return { op: 'rename', from, to }
    }
    case 'symlink':
      // Targets that never exist: the kernel resolves links itself, the view never sees a path through one.
      return { op: 'symlink', target: r.pick(['zz', '../zz/y', 'nowhere/at/all', '/cloudy-test-none']), path: newPath() }
    case 'chmod': {
      const path = somePath()
      return { op: 'chmod', path, mode: r.pick(m.type(path) === 'dir' ? DIR_MODES : FILE_MODES) }
    }
    case 'utimens':
      return { op: 'utimens', path: somePath(), mtimeMs: T0 + r.int(1_000_000) * 1000 + r.int(1000) }
    case 'sync':
      return m.dirty.size && r.chance(0.8) ? { op: 'sync', path: r.pick([...m.dirty].sort()) } : { op: 'sync' }
    case 'read': {
      const path = someFile()
      const size = m.type(path) === 'file' ? m.size(path) : 0
      return { op: 'read', path, offset: r.int(size + 100), length: 1 + r.int(5000) }
    }
  }
}

/**
 * True for a call the kernel answers itself, so a mount's view never gets it: a path through
 * something that is not a folder (or through nothing), a write or mode change through a link (followed), an O_CREAT open of a
 * file that exists (an open, with a truncate), a read through a link, a rename onto an ancestor of its source or onto
 * itself, an fsync of a file not open for writing.
 */
function kernelAnswers(m: Model, op: Op): boolean {
  const paths = op.op === 'rename' ? [op.from, op.to] : op.path === undefined ? [] : [op.path]
  for (const p of paths) for (const a of ancestors(p)) if (m.type(a) !== 'dir') return true
  switch (op.op) {
    case 'write':
    case 'truncate':
    case 'chmod':
    case 'read':
      return m.type(op.path) === 'symlink'
    case 'create':
      return m.type(op.path) === 'file' || m.type(op.path) === 'symlink'
    case 'rename':
      return op.from === op.to || under(op.from, op.to) || (!m.type(op.from) && under(op.to, op.from))
    case 'sync':
      return op.path !== undefined && !m.dirty.has(op.path)
    default:
      return false
  }
}

class Stop extends Error {}

interface Env {
  provider: Provider
  vault: Vault
}

/** A journaled space of `env`'s vault, as a mount opens it, with a journal and state of its own. */
async function openSpace(t: Test, env: Env, space: string) {
  const state = tempDir(t, 'state')
  const db = new StateDb(join(state, 'state.db'))
  t.teardown(() => db.close())
  const store = new SpaceStore(env.provider, env.vault.space(space), db)
  await store.open()
  const journalDir = join(state, 'journal')
  const openView = async () => new JournaledView(SpaceView.of(store, baseTree(db, space)), await Journal.open(journalDir))
  const s: JournaledSpace = {
    vault: env.vault,
    db,
    device: { id: 'device-1', name: 'test', username: 'user', hostname: 'host', home: '/home/user' },
    space,
    store,
    view: await openView(),
  }
  const close = async () => {
    await s.view.journal.close()
    await s.view.close()
  }
  t.teardown(close)
  return {
    s,
    /**
     * The view a crash right now would leave (once every record is durable): the journal's
     * folder copied, replayed, over the same base.
     */
    replayed: async (t: Test): Promise<JournaledView> => {
      await s.view.sync()
      const copy = join(tempDir(t, 'replayed'), 'journal')
      // cp -a: the data files' times to the nanosecond (a file's time is its data file's).
      execFileSync('cp', ['-a', journalDir, copy])
      const view = new JournaledView(SpaceView.of(store, s.view.base.root), await Journal.open(copy))
      t.teardown(async () => {
        await view.journal.close()
        await view.close()
      })
      return view
    },
    /** A clean close of the journal and the view, and an open of both again. */
    reopen: async () => {
      await close()
      s.view = await openView()
    },
    /** The tree of this device's last commit, read as another process would (a fresh state database). */
    published: async (t: Test): Promise<SpaceView> => {
      const fresh = new StateDb(join(tempDir(t, 'fresh'), 'state.db'))
      t.teardown(() => fresh.close())
      const store2 = new SpaceStore(env.provider, env.vault.space(space), fresh)
      await store2.open()
      const head = (await store2.readHeads()).get(env.vault.deviceTag(s.device.id))
      return SpaceView.of(store2, head && (await store2.readCommit(head.commit)).tree)
    },
  }
}

async function runSeed(t: Test, env: Env, seed: number): Promise<void> {
  const r = new Random(seed)
  const m = new Model(tempDir(t, 'model'))
  const { s, reopen, replayed, published: publishedView } = await openSpace(t, env, `app/seed-${seed}`)

  let step = 0
  const history: string[] = []
  const fail = (what: string, found?: unknown, wanted?: unknown): never => {
    t.comment(`the last operations of seed ${seed}:\n${history.slice(-40).join('\n')}`)
    if (found === undefined) t.fail(`SEED=${seed} step ${step}: ${what}`)
    else t.same(found, wanted, `SEED=${seed} step ${step}: ${what}`)
    throw new Stop()
  }
  const same = async (v: MountView, where: string) => {
    const wanted = await m.describe()
    let found: Described[]
    try {
      found = await describeView(v, m.mtimes)
    } catch (e) {
      return fail(`${where}: ${(e as Error).message}`)
    }
    if (!isDeepStrictEqual(found, wanted)) fail(where, found, wanted)
  }
  const published = async (where: string) => same(await publishedView(t), where)
  /** The next operation that a mount would send to the view, applied to both. */
  const nextOp = async (): Promise<Op> => {
    for (;;) {
      const op = await randomOp(r, m)
      if (!kernelAnswers(m, op)) return op
    }
  }
  const check = (op: Op, want: string | undefined, got: string | undefined) => {
    history.push(`${step}: ${show(op)} -> ${want ?? 'ok'}`)
    if (want !== got) fail(`${show(op)}: the view answered ${got ?? 'ok'}, the file system ${want ?? 'ok'}`)
  }
  const doOp = async () => {
    const op = await nextOp()
    check(op, await m.apply(op), await onView(s.view, op))
  }
  /** Close every open file (the kernel releases them at unmount). */
  const releaseAll = async () => {
    for (const p of [...m.dirty].sort()) {
      const op: Op = { op: 'sync', path: p }
      check(op, await m.apply(op), await onView(s.view, op))
    }
  }
  const upSync = async (where: string) => {
    history.push(`${step}: up-sync (${where})`)
    await upSyncJournal(s)
    await same(s.view, `the view after an up-sync (${where})`)
    await published(`the published tree after an up-sync (${where})`)
  }

  try {
    for (step = 1; step <= STEPS; step++) {
      await doOp()
      if (step % 5 === 0) await same(s.view, 'the view')
      if (step % 37 === 0) await upSync('quiet')
      // Every file closed: what the log holds is all there is.
      if (step % 23 === 0 && m.dirty.size === 0) await same(await replayed(t), 'the journal replayed from a copy')
      if (step % 53 === 0) {
        await releaseAll()
        history.push(`${step}: close and reopen`)
        await reopen()
        await same(s.view, 'the view after a close and reopen')
      }
      if (step % 41 === 0) {
        // An up-sync running while the view is written; sometimes one change is already in progress.
        history.push(`${step}: up-sync started`)
        let first: Promise<void> | undefined
        if (r.chance(0.5)) {
          const op = await nextOp()
          const want = await m.apply(op)
          first = onView(s.view, op).then((got) => check(op, want, got))
        }
        const up = upSyncJournal(s)
        up.catch(() => {}) // awaited below; not unhandled if an operation fails first
        await first
        const n = 1 + r.int(8)
        for (let i = 0; i < n; i++) await doOp()
        await up
        history.push(`${step}: up-sync done`)
        await same(s.view, 'the view right after an up-sync written during')
        await upSync('the second, after one written during')
      }
      if (step % 97 === 0 && s.view.journal.empty) {
        await downSyncJournal(s)
        await same(s.view, 'the view after a down-sync of its own commit')
      }
    }
    await releaseAll()
    await upSync('at the end')
    t.ok(s.view.journal.empty, 'nothing left in the journal')
    t.pass(`seed ${seed}: ${STEPS} operations`)
  } catch (e) {
    if (!(e instanceof Stop)) {
      t.comment(`the last operations of seed ${seed}:\n${history.slice(-40).join('\n')}`)
      t.fail(`SEED=${seed} step ${step}: ${(e as Error).stack}`)
    }
  }
}

const provider = memory()
const vault = await Vault.create(provider, 'pw', { kdf: 'interactive' })
t.teardown(() => vault.close())
const env: Env = { provider, vault }

const text = async (v: MountView, path: string) => {
  const e = await v.stat(path)
  return e && (await v.read(path, 0, e.size + 1)).toString()
}

t.test('a change in a folder of the base, under folders the journal does not hold, is published', async (t) => {
  // Found by seed 1 (step 82, first version of the generator): the up-sync rebuilt a folder
  // only when the journal held one of its children, and settle then dropped the change.
  const { s, published } = await openSpace(t, env, 'app/deep')
  await s.view.mkdir('x', 0o755)
  await s.view.mkdir('x/y', 0o755)
  await upSyncJournal(s)
  t.ok(s.view.journal.empty)
  await s.view.create('x/y/f', 0o644)
  await s.view.write('x/y/f', Buffer.from('deep'), 0)
  await s.view.sync('x/y/f')
  await upSyncJournal(s)
  t.equal(await text(await published(t), 'x/y/f'), 'deep')
  t.equal(await text(s.view, 'x/y/f'), 'deep')
})

t.test('a folder made during an up-sync, in one the up-sync settles, is published by the next', async (t) => {
  const { s, published } = await openSpace(t, env, 'app/settled-parent')
  await s.view.mkdir('d', 0o755)
  await s.view.mkdir('d/e', 0o755)
  const up = upSyncJournal(s)
  await s.view.mkdir('d/e/f', 0o700)
  await up
  t.same(await s.view.list('d/e'), ['f'])
  await upSyncJournal(s)
  t.same(await s.view.list('d/e'), ['f'])
  t.same(await (await published(t)).list('d/e'), ['f'])
  t.match(await (await published(t)).stat('d/e/f'), { type: 'dir', mode: 0o700 })
})

t.test('a folder deleted here takes along what the journal holds deep under it', async (t) => {
  const { s, reopen } = await openSpace(t, env, 'app/stale')
  await s.view.mkdir('x', 0o755)
  await s.view.mkdir('x/y', 0o755)
  await s.view.mkdir('q', 0o755)
  await s.view.mkdir('q/y', 0o755)
  await upSyncJournal(s)
  await s.view.create('x/y/f', 0o644)
  await s.view.rename('x', 'z')
  await s.view.rename('q', 'x')
  t.same(await s.view.list('x/y'), [], 'the file went with z, not back into the new x/y')
  t.same(await s.view.list('z/y'), ['f'])
  await reopen()
  t.same(await s.view.list('x/y'), [])
})

t.test('a write or truncate still running when its file is deleted, replaced or renamed', async (t) => {
  const { s, reopen } = await openSpace(t, env, 'app/race')
  const v = () => s.view
  for (const recorded of [true, false]) {
    await v().create('f', 0o644)
    const w = v().write('f', Buffer.from('late bytes'), 0)
    const tr = v().truncate('f', 100, recorded)
    await v().unlink('f')
    await Promise.all([w, tr])
    t.equal(await v().stat('f'), undefined, 'deleted stays deleted')
  }

  await v().create('f', 0o644)
  const w = v().write('f', Buffer.from('old file'), 0)
  await v().create('f', 0o600)
  await w
  t.match(await v().stat('f'), { size: 0, mode: 0o600 }, 'a new file at the path is not the old one')

  const moved = v().write('f', Buffer.from('written while renamed'), 0)
  await v().rename('f', 'g')
  await moved
  t.equal(await v().stat('f'), undefined)
  t.equal(await text(v(), 'g'), 'written while renamed', "the bytes are the renamed file's")
  await v().sync('g')
  await reopen()
  t.equal(await text(v(), 'g'), 'written while renamed')
})

t.test('a file of several chunks in the vault: renamed, written in the middle, read across chunks', async (t) => {
  const { s, published, reopen } = await openSpace(t, env, 'app/big')
  const r = new Random(7)
  const want = r.bytes(3 * 1024 * 1024 + 12345)
  await s.view.create('big', 0o644)
  for (let at = 0; at < want.length; at += 128 * 1024) await s.view.write('big', want.subarray(at, at + 128 * 1024), at)
  await s.view.sync('big')
  await upSyncJournal(s)
  const base = s.view.base
  t.ok((await base.entry('big'))!.content!.length > 1, 'more than one chunk')
  await s.view.rename('big', 'moved')
  t.same(await s.view.read('moved', 0, want.length), want, "renamed: still the vault's bytes")
  const patch = Buffer.from('patched in the middle')
  const at = 1024 * 1024 + 100
  await s.view.write('moved', patch, at)
  patch.copy(want, at)
  await s.view.sync('moved')
  for (const [offset, length] of [
    [0, 10],
    [at - 5, 40],
    [1024 * 1024 - 3, 7],
    [want.length - 10, 100],
    [want.length + 5, 10],
  ] as const) {
    t.same(await s.view.read('moved', offset, length), want.subarray(offset, offset + length), `bytes ${offset}+${length}`)
  }
  await reopen()
  t.same(await s.view.read('moved', 0, want.length + 1), want, 'after a reopen')
  await upSyncJournal(s)
  const p = await published(t)
  t.equal(await p.stat('big'), undefined)
  t.same(await p.read('moved', 0, want.length + 1), want, 'published')
  t.same(await p.read('moved', at - 1, patch.length + 2), want.subarray(at - 1, at + patch.length + 1))
})

t.test('JournaledView answers and holds what a real folder does', async (t) => {
  for (const seed of SEEDS) await t.test(`seed ${seed}`, (t) => runSeed(t, env, seed))
})
