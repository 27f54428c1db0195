/**
 * Runs the real `cloudy` command (bin/cloudy.js over dist/, built by `pretest`) as a child
 * process, the way a user or a script does. A "computer" is a HOME + CLOUDY_HOME pair.
 */
import { execFileSync, spawn } from 'node:child_process'
import { chmodSync, chownSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import type { Test } from 'tap'
import { tempDir } from './temp.js'
import type { TestServer } from '../../scripts/servers/test-server.js'

export { tempDir }

const ROOT = resolve(import.meta.dirname, '..', '..')
export const BIN = join(ROOT, 'bin', 'cloudy.js')

/** The packages the bundle leaves outside (scripts/bundle.js), which it loads from node_modules. */
const EXTERNAL = ['sodium-native', 'better-sqlite3', 'ssh2', 'ssh2-sftp-client', 'cpu-features', '@parcel/watcher']

/**
 * How to start `node bin args` without the test runner's hooks: tap adds to every child process
 * a NODE_OPTIONS that loads its coverage loader (a thread that reads every module the child
 * loads), which about doubles what a short command costs; the command runs as a user runs it.
 * `env` replaces itself with node, so the child's pid and signals are node's; it is named by its
 * path, as some tests give the command a PATH without it.
 */
export function cloudyArgv(args: string[], bin = BIN): [string, string[]] {
  return nodeArgv([bin, ...args])
}

/** How to start `node args` without the test runner's hooks (see cloudyArgv). */
export function nodeArgv(args: string[]): [string, string[]] {
  return ['/usr/bin/env', ['-u', 'NODE_OPTIONS', process.execPath, ...args]]
}

/** Every folder from `dir` up to / lets other users through. */
function othersCanReach(dir: string): boolean {
  for (let d = dir; ; d = dirname(d)) {
    if ((statSync(d).mode & 0o001) === 0) return false
    if (d === dirname(d)) return true
  }
}

/** `pkgs` and every package they depend on, as installed in node_modules. */
function closure(pkgs: string[]): Set<string> {
  const out = new Set<string>()
  const todo = [...pkgs]
  while (todo.length) {
    const name = todo.pop()!
    if (out.has(name)) continue
    let manifest: { dependencies?: Record<string, string>; optionalDependencies?: Record<string, string> }
    try {
      manifest = JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as typeof manifest
    } catch {
      continue // an optional dependency not installed here
    }
    out.add(name)
    todo.push(...Object.keys({ ...manifest.dependencies, ...manifest.optionalDependencies }))
  }
  return out
}

let otherUserBin: { bin: string; dir: string } | undefined

/**
 * The CLI as another OS user can run it. A clone in a private folder (under `mktemp -d`, or
 * /root) is out of that user's reach: then bin/, dist/ and the packages the bundle loads are
 * copied, once per test process, to a folder everyone can read (node_modules hard-linked when
 * it can be, they are big).
 */
function binForOtherUser(): { bin: string; dir: string } {
  if (otherUserBin) return otherUserBin
  if (othersCanReach(ROOT)) return (otherUserBin = { bin: BIN, dir: ROOT })
  const dir = mkdtempSync(join(tmpdir(), 'cloudy-cli-'))
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }))
  for (const part of ['bin', 'dist', 'package.json']) cpSync(join(ROOT, part), join(dir, part), { recursive: true })
  execFileSync('chmod', ['-R', 'a+rX', dir])
  for (const name of closure(EXTERNAL)) {
    const to = join(dir, 'node_modules', name)
    mkdirSync(dirname(to), { recursive: true, mode: 0o755 })
    try {
      execFileSync('cp', ['-al', join(ROOT, 'node_modules', name), to])
    } catch {
      cpSync(join(ROOT, 'node_modules', name), to, { recursive: true })
      execFileSync('chmod', ['-R', 'a+rX', to])
    }
  }
  chmodSync(dir, 0o755)
  return (otherUserBin = { bin: join(dir, 'bin', 'cloudy.js'), dir })
}

export interface Computer {
  home: string
  cloudyHome: string
  /** Run as this uid/gid (root only): lets tests meet permission errors that root bypasses. */
  uid?: number
  gid?: number
  /** Run every command as this OS user through `runuser` (root only): another user of the machine. */
  user?: string
  /** Environment every command of this computer gets (a test server's addresses). */
  env?: Record<string, string>
}

export interface RunResult {
  code: number
  stdout: string
  stderr: string
}

export function computer(t: Test, options: { uid?: number; gid?: number } = {}): Computer {
  const root = tempDir(t, 'computer')
  const c: Computer = { home: join(root, 'home'), cloudyHome: join(root, 'cloudy'), ...options }
  mkdirSync(c.home)
  mkdirSync(c.cloudyHome)
  if (options.uid !== undefined) {
    for (const d of [root, c.home, c.cloudyHome]) chownSync(d, options.uid, options.gid ?? options.uid)
  }
  return c
}

/** Runs `cloudy args` on `c`; a run still going after `timeoutMs` is killed (code 128). */
export function cloudy(c: Computer, args: string[], env: NodeJS.ProcessEnv = {}, { timeoutMs = 240_000 } = {}): Promise<RunResult> {
  return new Promise((resolveRun, reject) => {
    const vars = { PATH: process.env.PATH, HOME: c.home, CLOUDY_HOME: c.cloudyHome, CLOUDY_PASSWORD: 'correct horse', ...c.env, ...env }
    const other = c.user !== undefined || c.uid !== undefined
    // Another OS user runs a copy it can read when the clone is private (and starts there).
    const { bin, dir } = other ? binForOtherUser() : { bin: BIN, dir: undefined }
    // runuser sets HOME from the password database: `env -i` sets exactly these variables, and
    // leaves out the test runner's hooks too (they are in the clone, out of that user's reach).
    const [cmd, argv] = c.user
      ? ['runuser', ['-u', c.user, '--', 'env', '-i', ...Object.entries(vars).map(([k, v]) => `${k}=${v}`), process.execPath, bin, ...args]]
      : cloudyArgv(args, bin)
    const child = spawn(cmd, argv, { env: vars, stdio: ['ignore', 'pipe', 'pipe'], uid: c.uid, gid: c.gid, cwd: dir })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    const timer = setTimeout(() => {
      stderr += `\n(test: killed after ${timeoutMs} ms)`
      child.kill('SIGKILL')
    }, timeoutMs)
    child.on('error', reject)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolveRun({ code: code ?? (signal ? 128 : 1), stdout, stderr })
    })
  })
}

/** Set computer `c` up to use a test storage server: its credentials.toml (0600) and environment. */
export async function useServer(c: Computer, server: TestServer): Promise<void> {
  const { stringify } = await import('smol-toml')
  writeFileSync(join(c.cloudyHome, 'credentials.toml'), stringify(server.credentials) + '\n', { mode: 0o600 })
  if (c.uid !== undefined) chownSync(join(c.cloudyHome, 'credentials.toml'), c.uid, c.gid ?? c.uid)
  c.env = { ...c.env, ...server.env }
}

/**
 * init a vault at `vault` for computer `c`, with a fast KDF and the given includes (this
 * computer's `[here] include`). The catalog's applications are not added by themselves
 * (`--no-auto-apps`), and neither computer settings nor the inventory are collected (the tests
 * run as root, and /etc and the dpkg database are this machine's): what a test collects is what
 * it names, whatever this machine has.
 */
export async function initVault(t: Test, c: Computer, vault: string, include: string[], name?: string): Promise<void> {
  const r = await cloudy(c, [
    'init',
    '--provider',
    vault,
    '--kdf',
    'interactive',
    '--no-auto-apps',
    '--collect',
    'settings',
    'apps',
    ...(name ? ['--name', name] : []),
  ])
  t.equal(r.code, 0, `init: ${r.stderr}`)
  await setInclude(c, include)
}

/** join computer `c` to the vault at `vault` as device `name`, collecting `include`. */
export async function joinVault(t: Test, c: Computer, vault: string, include: string[], name: string): Promise<void> {
  const r = await cloudy(c, ['join', '--provider', vault, '--name', name])
  t.equal(r.code, 0, `join: ${r.stderr}`)
  await setInclude(c, include)
}

/** A second computer: joined to the vault at `url` (through `server`, if any) and down-synced. */
export async function joinedComputer(t: Test, url: string, include: string[], name: string, server?: TestServer): Promise<Computer> {
  const b = computer(t)
  if (server) await useServer(b, server)
  await joinVault(t, b, url, include, name)
  const down = await cloudy(b, ['sync', 'down', '--yes'])
  t.equal(down.code, 0, `down-sync on ${name}: ${down.stderr}`)
  return b
}

/** Runs `cloudy args` on `c` and checks that it exits 0. */
export async function ok(t: Test, c: Computer, args: string[], what = args.join(' ')): Promise<RunResult> {
  const r = await cloudy(c, args)
  t.equal(r.code, 0, `${what}: ${r.stderr}`)
  return r
}

async function writeFiles(root: string, files: Record<string, string>): Promise<void> {
  const { mkdir, writeFile } = await import('node:fs/promises')
  for (const [path, text] of Object.entries(files)) {
    await mkdir(dirname(join(root, path)), { recursive: true })
    await writeFile(join(root, path), text)
  }
}

/**
 * Two computers of one chain on a local-folder vault, collecting `~/cfg`: alpha (A) up-synced
 * `files` there; bravo (B) joined and down-synced. With `fromB`, B then writes and up-syncs
 * those files too and A down-syncs them, so both have published.
 */
export async function syncedPair(t: Test, files: Record<string, string>, fromB?: Record<string, string>) {
  const vault = tempDir(t, 'vault')
  const a = computer(t)
  await writeFiles(join(a.home, 'cfg'), files)
  await initVault(t, a, vault, ['~/cfg'], 'alpha')
  await ok(t, a, ['sync', 'up'], 'up A')
  const b = computer(t)
  await joinVault(t, b, vault, ['~/cfg'], 'bravo')
  await ok(t, b, ['sync', 'down', '--yes'], 'down B')
  if (fromB) {
    await writeFiles(join(b.home, 'cfg'), fromB)
    await ok(t, b, ['sync', 'up'], 'up B')
    await ok(t, a, ['sync', 'down', '--yes'], 'down A')
  }
  return { vault, a, b }
}

/** The items of a `sync down --preview --json`, as "op item" strings, sorted. */
export async function previewOps(c: Computer, extra: string[] = []): Promise<string[]> {
  const r = await cloudy(c, ['sync', 'down', '--preview', '--json', ...extra])
  if (r.code !== 0) throw new Error(`preview failed (${r.code}): ${r.stderr}`)
  const doc = JSON.parse(r.stdout) as { spaces: { items: { op: string; item: string }[] }[] }
  return doc.spaces.flatMap((s) => s.items.map((i) => `${i.op} ${i.item}`)).sort()
}

/**
 * Replace a `[here]` list of a computer's config.toml: `include`, or `exclude` (its `skip`, what
 * the computer keeps off itself).
 */
export async function setSettingsList(c: Computer, key: 'include' | 'exclude', values: string[]): Promise<void> {
  const { readFile, writeFile } = await import('node:fs/promises')
  const file = join(c.cloudyHome, 'config.toml')
  const text = await readFile(file, 'utf8')
  const name = key === 'exclude' ? 'skip' : key
  const list = `${name} = [${values.map((i) => JSON.stringify(i)).join(', ')}]`
  const changed = text.replace(new RegExp(`^${name} = \\[[^\\]]*\\]`, 'm'), list)
  if (changed === text && !text.includes(list)) throw new Error(`no ${name} list in ${file}`)
  await writeFile(file, changed)
}

export function setInclude(c: Computer, include: string[]): Promise<void> {
  return setSettingsList(c, 'include', include)
}
