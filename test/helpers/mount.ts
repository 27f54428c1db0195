/**
 * Mount tests: `cloudy mount` runs as a child process; the test touches the mount only from
 * other child processes (never synchronously from this one: a FUSE call answered by a process
 * that waits on it deadlocks). Teardown unmounts with a timeout and, if the mount hangs, aborts
 * its FUSE connection through /sys/fs/fuse/connections/N/abort.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { promisify } from 'node:util'
import type { Test } from 'tap'
import { BIN, type Computer } from './cli.js'

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

/** Start `cloudy mount DIR` for computer `c`; resolves once the mount answers. */
export async function startMount(t: Test, c: Computer, dir: string, args: string[] = []): Promise<ChildProcess> {
  const env = { PATH: process.env.PATH, HOME: c.home, CLOUDY_HOME: c.cloudyHome, CLOUDY_PASSWORD: 'correct horse', ...c.env }
  const child = spawn(process.execPath, [BIN, 'mount', dir, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] })
  let stderr = ''
  child.stderr!.on('data', (d) => (stderr += d))
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
  const started = Date.now()
  while (!isMounted(dir)) {
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
