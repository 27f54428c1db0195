/**
 * Mount tests: `cloudy mount` runs as a child process; the test touches the mount only from
 * other child processes (never synchronously from this one: a FUSE call answered by a process
 * that waits on it deadlocks). Teardown unmounts with a timeout and, if the mount hangs, aborts
 * its FUSE connection through /sys/fs/fuse/connections/N/abort.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import type { Test } from 'tap'
import { cloudyArgv, tempDir, type Computer } from './cli.js'

const run = promisify(execFile)

/** The device minor of the FUSE mount at `dir` (its /sys/fs/fuse/connections/N), from mountinfo. */
function connectionOf(dir: string): string | undefined {
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const f = line.split(' ')
    if (f[4] === dir && line.includes(' - fuse')) return f[2]!.split(':')[1]
  }
  return undefined
}

export function isMounted(dir: string): boolean {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .some((l) => l.split(' ')[4] === dir)
}

/** Unmount `dir` whatever state its server is in. */
export async function forceUnmount(dir: string): Promise<void> {
  if (!isMounted(dir)) return
  const conn = connectionOf(dir)
  if (conn && existsSync(`/sys/fs/fuse/connections/${conn}/abort`)) writeFileSync(`/sys/fs/fuse/connections/${conn}/abort`, '1')
  await run('umount', ['-l', dir]).catch(() => run('fusermount', ['-uz', dir]).catch(() => {}))
}

/** Unmount a mount served in this process (mount.ts's mountView); forced off if it takes over 10 s. */
export async function unmountServed(handle: { unmount(): Promise<unknown> }, dir: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise((r) => (timer = setTimeout(() => r('late'), 10_000)))
  if ((await Promise.race([handle.unmount(), late])) === 'late') await forceUnmount(dir)
  clearTimeout(timer)
}

export interface MountProcess extends ChildProcess {
  /** What the mount printed on stderr so far. */
  stderrText(): string
  /** Stop it with `signal` and wait for its exit. */
  stop(signal?: NodeJS.Signals): Promise<void>
}

/**
 * Start `cloudy mount DIR` for computer `c`; resolves once the mount answers. Up-syncs follow
 * a change after 0.3 s and the chain is looked at every 0.5 s unless `args` say otherwise.
 */
export async function startMount(t: Test, c: Computer, dir: string, args: string[] = []): Promise<MountProcess> {
  const env = { PATH: process.env.PATH, HOME: c.home, CLOUDY_HOME: c.cloudyHome, CLOUDY_PASSWORD: 'correct horse', ...c.env }
  const timing = [
    ...(args.includes('--upsync-after') ? [] : ['--upsync-after', '0.3']),
    ...(args.includes('--poll') ? [] : ['--poll', '0.5']),
  ]
  const child = spawn(...cloudyArgv(['mount', dir, ...timing, ...args]), { env, stdio: ['ignore', 'pipe', 'pipe'] }) as MountProcess
  let stderr = ''
  child.stderr!.on('data', (d) => (stderr += d))
  child.stderrText = () => stderr
  child.stop = async (signal = 'SIGTERM') => {
    if (child.exitCode !== null || child.signalCode !== null) return
    const exit = new Promise<void>((r) => child.once('exit', () => r()))
    child.kill(signal)
    // A mount that does not stop is a failure to see, not a test left hanging.
    const stuck = setTimeout(() => {
      t.fail(`cloudy mount did not stop within 20 s of ${signal}: ${stderr}`)
      child.kill('SIGKILL')
    }, 20_000)
    await exit
    clearTimeout(stuck)
  }
  const exited = new Promise<void>((r) => child.once('exit', () => r()))
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
      await exited
      clearTimeout(timer)
    }
    await forceUnmount(dir)
  })
  // The mount says so once it answers (a dead mount left at `dir` is mounted, but answers nothing).
  const started = Date.now()
  while (!(stderr.includes('Mounted at') && isMounted(dir))) {
    if (child.exitCode !== null) throw new Error(`cloudy mount exited (${child.exitCode}): ${stderr}`)
    if (Date.now() - started > 20_000) throw new Error(`cloudy mount did not mount in 20 s: ${stderr}`)
    await new Promise((r) => setTimeout(r, 50))
  }
  return child
}

/** Run a command on the mount from a child process, with a timeout (a hung mount fails, not hangs). */
export async function sh(command: string, cwd?: string): Promise<string> {
  const { stdout } = await run('sh', ['-c', command], { cwd, timeout: 30_000, maxBuffer: 64 << 20 })
  return stdout
}

/** Run `command` until it prints `expected` (another computer's change arriving), or fail after 20 s. */
export async function eventually(command: string, expected: string): Promise<string> {
  const started = Date.now()
  let last = ''
  while (Date.now() - started < 20_000) {
    last = await sh(command).catch((e: Error) => e.message)
    if (last === expected) return last
    await new Promise((r) => setTimeout(r, 200))
  }
  return last
}

/** A fresh empty folder to mount on. */
export function mountPoint(t: Test): string {
  const dir = join(tempDir(t, 'mnt'), 'm')
  mkdirSync(dir)
  return dir
}
