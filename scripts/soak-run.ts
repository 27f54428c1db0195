/**
 * One seed of the soak test: three computers (HOME + CLOUDY_HOME pairs) of one chain on a local
 * vault, random user steps and syncs, kill -9s, then up/down rounds until nothing moves, and the
 * model's checks (scripts/soak-model.ts). The real CLI (bin/cloudy.js over dist/) runs as child
 * processes; `npm run build` first.
 *
 * The adversarial mode gives every write one fixed time and every version one size, so a file
 * changed since Cloudy last looked at it has the size and time of the chain's version.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, mkdtempSync } from 'node:fs'
import {
  appendFile,
  chmod,
  lstat,
  lutimes,
  mkdir,
  open,
  readdir,
  readFile,
  readlink,
  rename,
  rm,
  symlink,
  utimes,
  writeFile,
} from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { conflictDepth, Rng, SoakModel, type Entry, type Failure } from './soak-model.js'

export type SoakMode = 'normal' | 'adversarial'

export interface SoakOptions {
  seed: number
  steps: number
  mode: SoakMode
  /** Keep the computers and the vault (their folder is in the result). */
  keep?: boolean
  /** Called with every line of the step log as it happens. */
  onLog?: (line: string) => void
}

export interface SoakResult {
  seed: number
  steps: number
  mode: SoakMode
  failures: Failure[]
  /** Things worth knowing that are not failures (conflict copies of copies with a reason). */
  notes: string[]
  log: string[]
  stats: { conflicts: number; kills: number; rounds: number; cliRuns: number; ms: number }
  /** The run's folder, when kept. */
  dir?: string
}

/** The repository: where bin/cloudy.js is, from scripts/ (tap) or dist/scripts/ (npm run soak). */
function repoRoot(): string {
  for (let d = import.meta.dirname; d !== dirname(d); d = dirname(d)) if (existsSync(join(d, 'bin', 'cloudy.js'))) return d
  throw new Error('bin/cloudy.js not found above ' + import.meta.dirname)
}
const BIN = join(repoRoot(), 'bin', 'cloudy.js')

/** The adversarial mode's one time for every write. */
const FIXED_TIME = new Date(Date.UTC(2026, 0, 1, 0, 0, 0))
/** Every version's size in the adversarial mode. */
const FIXED_SIZE = 40
const NAMES = ['n0', 'n1', 'n2', 'n3']
const EXTS = ['', '.txt']
const MAX_DEPTH = 3
const ROUNDS = 8
/** A CLI run that takes longer has hung. */
const CLI_TIMEOUT_MS = 300_000

const STEP_WEIGHTS = {
  create: 14,
  edit: 10,
  append: 6,
  delete: 6,
  rename: 5,
  mkdir: 4,
  rmdir: 2,
  mvdir: 2,
  symlink: 2,
  up: 15,
  down: 15,
  'kill-up': 2,
  'kill-down': 2,
}
type StepKind = keyof typeof STEP_WEIGHTS

interface Computer {
  name: string
  home: string
  cloudyHome: string
  /** The synced folder, ~/s. */
  root: string
}

interface Run {
  code: number | null
  signal: string | null
  stdout: string
  stderr: string
}

/** Every CLI child still running, of every seed: none may outlive the soak. */
const everyChild = new Set<ChildProcess>()
process.once('exit', () => {
  for (const c of everyChild) c.kill('SIGKILL')
})

function cli(c: Computer, args: string[], live: Set<ChildProcess>, killAfterMs?: number): Promise<Run> {
  return new Promise((resolve, reject) => {
    const env = { PATH: process.env.PATH, HOME: c.home, CLOUDY_HOME: c.cloudyHome, CLOUDY_PASSWORD: 'soak password' }
    const child = spawn(process.execPath, [BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] })
    live.add(child)
    everyChild.add(child)
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    const hang = setTimeout(() => {
      stderr += `\n(soak: killed after ${CLI_TIMEOUT_MS} ms)`
      child.kill('SIGKILL')
    }, CLI_TIMEOUT_MS)
    const kill = killAfterMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), killAfterMs)
    child.on('error', reject)
    child.on('close', (code, signal) => {
      clearTimeout(hang)
      clearTimeout(kill)
      live.delete(child)
      everyChild.delete(child)
      resolve({ code, signal, stdout, stderr })
    })
  })
}

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex')
const isTemp = (name: string) => /\.cloudy-/.test(name) && name.startsWith('.')

/** The synced folder of `c`: every entry but Cloudy's temporary files, which land in `temps`. */
async function scan(c: Computer, temps: string[] = []): Promise<Entry[]> {
  return scanFolder(c.root, temps)
}

/**
 * Every entry under `root` but Cloudy's temporary files, which land in `temps`. File times are
 * floored to the millisecond from the stat's nanoseconds: the float `mtimeMs` rounds a time
 * within ~120 ns below a millisecond up to the next one (a double holds ~1.8e12 ms to 2^-12
 * ms), while a computer that down-synced the file holds it to the microsecond trees record
 * (docs/FORMAT.md): one version, seen 1 ms apart.
 */
export async function scanFolder(root: string, temps: string[] = [], rel = ''): Promise<Entry[]> {
  const out: Entry[] = []
  for (const name of (await readdir(join(root, rel))).sort()) {
    const path = rel ? `${rel}/${name}` : name
    if (isTemp(name)) {
      temps.push(path)
      continue
    }
    const abs = join(root, path)
    const st = await lstat(abs, { bigint: true })
    const base = { path, mode: Number(st.mode & 0o7777n), mtimeMs: Number(st.mtimeNs / 1_000_000n) }
    if (st.isDirectory()) {
      out.push({ ...base, type: 'dir' })
      out.push(...(await scanFolder(root, temps, path)))
    } else if (st.isSymbolicLink()) out.push({ ...base, mode: 0, type: 'symlink', key: `link:${await readlink(abs)}` })
    else out.push({ ...base, type: 'file', size: Number(st.size), key: sha256(await readFile(abs)) })
  }
  return out
}

/** One seed: set up, run the steps, converge, check. Never throws for what Cloudy does. */
export async function runSoak(options: SoakOptions): Promise<SoakResult> {
  const started = Date.now()
  const { seed, steps, mode } = options
  const rng = new Rng(seed)
  const model = new SoakModel(['c1', 'c2', 'c3'])
  const log: string[] = []
  const failures: Failure[] = []
  const stats = { conflicts: 0, kills: 0, rounds: 0, cliRuns: 0, ms: 0 }
  const dir = mkdtempSync(join(tmpdir(), `cloudy-soak-${mode}-${seed}-`))
  const vault = join(dir, 'vault')
  const say = (line: string) => {
    log.push(line)
    options.onLog?.(line)
  }
  let step = 0
  /** This seed's CLI children. */
  const live = new Set<ChildProcess>()

  /** How long the last whole `sync up` and `sync down` took: kill -9s land inside that span. */
  const lastMs: Record<string, number> = { up: 300, down: 300 }

  async function run(c: Computer, args: string[], killAfterMs?: number): Promise<Run> {
    stats.cliRuns++
    const t0 = Date.now()
    const r = await cli(c, args, live, killAfterMs)
    if (args[0] === 'sync' && killAfterMs === undefined && r.code === 0) lastMs[args[1]!] = Date.now() - t0
    stats.conflicts += (r.stdout.match(/^conflict: /gm) ?? []).length
    if (r.signal === 'SIGKILL' && killAfterMs !== undefined) stats.kills++
    else if (r.code !== 0 && r.code !== 6) {
      const first = r.stderr.trim().split('\n').slice(0, 3).join(' | ')
      failures.push({
        kind: `${args.slice(0, 2).join(' ')} exit ${r.code ?? r.signal}: ${first.replace(/[0-9a-f]{12,}/g, '…').slice(0, 100)}`,
        detail: `step ${step} on ${c.name}: ${r.stderr.trim()}`,
      })
    }
    return r
  }

  const computers: Computer[] = []
  for (const name of ['c1', 'c2', 'c3']) {
    const c = { name, home: join(dir, name, 'home'), cloudyHome: join(dir, name, 'cloudy'), root: join(dir, name, 'home', 's') }
    await mkdir(c.root, { recursive: true })
    await mkdir(c.cloudyHome, { recursive: true })
    computers.push(c)
  }

  async function setInclude(c: Computer) {
    const file = join(c.cloudyHome, 'config.toml')
    const text = await readFile(file, 'utf8')
    await writeFile(file, text.replace(/^include = \[[^\]]*\]/m, 'include = ["~/s"]'))
  }

  async function setup(): Promise<boolean> {
    const [c1, ...rest] = computers as [Computer, ...Computer[]]
    const init = await run(c1, [
      'init',
      '--provider',
      vault,
      '--kdf',
      'interactive',
      '--no-auto-apps',
      '--collect',
      'settings',
      '--name',
      c1.name,
    ])
    if (init.code !== 0) return false
    await setInclude(c1)
    await run(c1, ['sync', 'up'])
    for (const c of rest) {
      if ((await run(c, ['join', '--provider', vault, '--name', c.name])).code !== 0) return false
      await setInclude(c)
      await run(c, ['sync', 'down', '--yes'])
    }
    return failures.length === 0
  }

  // --- user steps -------------------------------------------------------------------------

  /** A path not taken on `c`, in a folder that exists there. */
  function freePath(entries: Entry[], kind: 'file' | 'dir', notUnder?: string): string | undefined {
    const taken = new Set(entries.map((e) => e.path))
    const parents = [
      '',
      ...entries
        .filter((e) => e.type === 'dir' && e.path.split('/').length < MAX_DEPTH && conflictDepth(e.path) === 0)
        .map((e) => e.path)
        .filter((p) => notUnder === undefined || (p !== notUnder && !p.startsWith(notUnder + '/'))),
    ]
    for (let i = 0; i < 8; i++) {
      const parent = rng.pick(parents)
      const name = rng.pick(NAMES) + (kind === 'file' ? rng.pick(EXTS) : '')
      const path = parent ? `${parent}/${name}` : name
      if (!taken.has(path)) return path
    }
    return undefined
  }

  function content(c: Computer, id: number): string {
    const head = `${c.name} v${String(id).padStart(6, '0')} step ${step}`
    if (mode === 'adversarial') return head.padEnd(FIXED_SIZE - 1, '.') + '\n'
    let filler = ''
    for (let n = rng.int(1500); filler.length < n;) filler += rng.pick(['alpha ', 'beta ', 'gamma ', 'delta ', '\n'])
    return `${head}\n${filler}`
  }

  /** A new version of `c`, written by `write`; the adversarial mode sets the one time. */
  async function newVersion(c: Computer, id: number, path: string, data: string, write: (abs: string) => Promise<void>) {
    const abs = join(c.root, path)
    await write(abs)
    if (mode === 'adversarial') await utimes(abs, FIXED_TIME, FIXED_TIME)
    const key = sha256(data)
    model.addVersion({ id, key, author: c.name, step, path })
    model.placed(key, path, c.name, step)
    return model.describe(key)
  }

  async function userStep(c: Computer, kind: StepKind): Promise<string> {
    const entries = await scan(c)
    const links = entries.filter((e) => e.type === 'file' || e.type === 'symlink')
    const files = entries.filter((e) => e.type === 'file' && conflictDepth(e.path) === 0)
    const allDirs = entries.filter((e) => e.type === 'dir')
    const dirs = allDirs.filter((e) => conflictDepth(e.path) === 0)
    const under = (d: string) => entries.filter((e) => e.key && e.path.startsWith(d + '/'))
    switch (kind) {
      case 'create': {
        const path = freePath(entries, 'file')
        if (!path) return 'create: no free name'
        const id = model.nextVersionId()
        const data = content(c, id)
        const perm = rng.pick([0o644, 0o600, 0o755])
        return `create ${path} ${perm.toString(8)} = ${await newVersion(c, id, path, data, async (abs) => {
          await writeFile(abs, data)
          await chmod(abs, perm)
        })}`
      }
      case 'edit': {
        if (!files.length) return 'edit: no file'
        const f = rng.pick(files)
        const id = model.nextVersionId()
        const data = content(c, id)
        model.superseded(f.key!, f.path, c.name, step)
        // As editors do: a new file renamed over the old one (a new inode), mode kept.
        return `edit ${f.path} = ${await newVersion(c, id, f.path, data, async (abs) => {
          const tmp = join(dirname(abs), '.soak-edit')
          await writeFile(tmp, data, { mode: f.mode })
          await chmod(tmp, f.mode)
          await rename(tmp, abs)
        })}`
      }
      case 'append': {
        if (!files.length) return 'append: no file'
        const f = rng.pick(files)
        const id = model.nextVersionId()
        const abs = join(c.root, f.path)
        const old = await readFile(abs, 'utf8')
        // In place (same inode); the adversarial mode keeps the size.
        const data = mode === 'adversarial' ? content(c, id) : `${old}+ ${c.name} v${String(id).padStart(6, '0')}\n`
        model.superseded(f.key!, f.path, c.name, step)
        return `append ${f.path} = ${await newVersion(c, id, f.path, data, async () => {
          if (mode !== 'adversarial') return appendFile(abs, data.slice(old.length))
          const h = await open(abs, 'r+')
          try {
            await h.write(data, 0, 'utf8')
          } finally {
            await h.close()
          }
        })}`
      }
      case 'delete': {
        if (!links.length) return 'delete: nothing'
        const f = rng.pick(links)
        await rm(join(c.root, f.path))
        model.superseded(f.key!, f.path, c.name, step)
        return `delete ${f.path} (${model.describe(f.key!)})`
      }
      case 'rename': {
        const movable = links.filter((e) => conflictDepth(e.path) === 0)
        if (!movable.length) return 'rename: nothing'
        const f = rng.pick(movable)
        const to = freePath(entries, 'file')
        if (!to) return 'rename: no free name'
        await rename(join(c.root, f.path), join(c.root, to))
        model.superseded(f.key!, f.path, c.name, step)
        model.placed(f.key!, to, c.name, step)
        return `rename ${f.path} -> ${to} (${model.describe(f.key!)})`
      }
      case 'mkdir': {
        const path = freePath(entries, 'dir')
        if (!path) return 'mkdir: no free name'
        await mkdir(join(c.root, path))
        return `mkdir ${path}`
      }
      case 'rmdir': {
        if (!allDirs.length) return 'rmdir: no folder'
        const d = rng.pick(allDirs)
        for (const e of under(d.path)) model.superseded(e.key!, e.path, c.name, step)
        await rm(join(c.root, d.path), { recursive: true })
        return `rmdir ${d.path} (${under(d.path).length} files)`
      }
      case 'mvdir': {
        if (!dirs.length) return 'mvdir: no folder'
        const d = rng.pick(dirs)
        const to = freePath(entries, 'dir', d.path)
        if (!to) return 'mvdir: no free name'
        await rename(join(c.root, d.path), join(c.root, to))
        for (const e of under(d.path)) {
          model.superseded(e.key!, e.path, c.name, step)
          model.placed(e.key!, to + e.path.slice(d.path.length), c.name, step)
        }
        return `mvdir ${d.path} -> ${to} (${under(d.path).length} files)`
      }
      case 'symlink': {
        const path = freePath(entries, 'file')
        if (!path) return 'symlink: no free name'
        const id = model.nextVersionId()
        const target = `t-${c.name}-v${String(id).padStart(6, '0')}`
        await symlink(target, join(c.root, path))
        if (mode === 'adversarial') await lutimes(join(c.root, path), FIXED_TIME, FIXED_TIME)
        const key = `link:${target}`
        model.addVersion({ id, key, author: c.name, step, path })
        model.placed(key, path, c.name, step)
        return `symlink ${path} -> ${target}`
      }
      default:
        throw new Error(`not a user step: ${kind}`)
    }
  }

  // --- syncs ------------------------------------------------------------------------------

  async function up(c: Computer, killAfterMs?: number): Promise<string> {
    const before = await scan(c)
    const r = await run(c, ['sync', 'up'], killAfterMs)
    // A killed run may have published or not; another failure is reported as such.
    if (r.code === 0 || r.code === 6 || r.signal) model.upSynced(c.name, before, !r.signal)
    return outcome(r)
  }

  async function down(c: Computer, killAfterMs?: number): Promise<string> {
    const before = await scan(c)
    const r = await run(c, ['sync', 'down', '--yes'], killAfterMs)
    model.downSynced(c.name, before, await scan(c), r.code === 0 || r.code === 6)
    return outcome(r)
  }

  function outcome(r: Run): string {
    if (r.signal) return `killed (${r.signal})`
    const what = /published/.test(r.stdout)
      ? 'published'
      : /no change/.test(r.stdout)
        ? 'no change'
        : /Nothing to do/.test(r.stdout)
          ? 'nothing to do'
          : (r.stdout.match(/applied \d+ of \d+/)?.[0] ?? '')
    const conflicts = (r.stdout.match(/^conflict: .*$/gm) ?? []).map((l) => `\n      ${l}`).join('')
    return `exit ${r.code} ${what}${conflicts}`
  }

  const result = (): SoakResult => {
    stats.ms = Date.now() - started
    return { seed, steps, mode, failures, notes, log, stats, dir: options.keep ? dir : undefined }
  }
  let notes: string[] = []

  try {
    if (!(await setup())) {
      failures.push({ kind: 'setup failed', detail: 'init or join failed' })
      return result()
    }
    for (step = 1; step <= steps; step++) {
      const c = rng.pick(computers)
      const kind = rng.weighted(STEP_WEIGHTS)
      let what: string
      if (kind === 'up') what = `up: ${await up(c)}`
      else if (kind === 'down') what = `down: ${await down(c)}`
      else if (kind === 'kill-up' || kind === 'kill-down') {
        // Within the time such a run takes on this machine, so that most kills hit a run at work
        // (from Node's start-up to the last rename), whatever the machine's speed.
        const span = lastMs[kind === 'kill-up' ? 'up' : 'down']!
        const delay = rng.between(Math.round(span * 0.3), Math.round(span * 0.95))
        what = `${kind} after ${delay} ms: ${kind === 'kill-up' ? await up(c, delay) : await down(c, delay)}`
      } else what = await userStep(c, kind)
      say(`${String(step).padStart(3)} ${c.name} ${what}`)
    }

    // Final rounds: every computer up, then every computer down, until nothing moves.
    step = steps + 1
    let quiet = false
    for (let round = 1; round <= ROUNDS && !quiet; round++) {
      stats.rounds = round
      quiet = true
      for (const c of computers) {
        const r = await up(c)
        if (!r.includes('no change')) quiet = false
        say(`  round ${round} ${c.name} up: ${r}`)
      }
      for (const c of computers) {
        const r = await down(c)
        if (!r.includes('nothing to do')) quiet = false
        say(`  round ${round} ${c.name} down: ${r}`)
      }
    }
    if (!quiet) failures.push({ kind: 'no convergence', detail: `still changing after ${ROUNDS} rounds of up- and down-syncs` })

    const trees = new Map<string, Entry[]>()
    for (const c of computers) {
      const temps: string[] = []
      trees.set(c.name, await scan(c, temps))
      if (temps.length) failures.push({ kind: 'temporary files left behind', detail: `${c.name}: ${temps.join(', ')}` })
    }
    const checked = model.check(trees)
    failures.push(...checked.failures)
    notes = checked.notes
    return result()
  } finally {
    for (const c of live) c.kill('SIGKILL')
    if (!options.keep) await rm(dir, { recursive: true, force: true })
  }
}
