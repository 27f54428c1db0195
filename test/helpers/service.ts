/**
 * A Cloudy service (`cloudy daemon`) of a test computer, run as a child process and stopped in
 * the teardown (SIGTERM, then SIGKILL after 5 s): never left behind.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import type { Test } from 'tap'
import { cloudyArgv, type Computer } from './cli.js'

export interface ServiceProcess {
  child: ChildProcess
  log(): string
  stop(signal?: NodeJS.Signals): Promise<number | null>
}

/** Start `c`'s service; `env` adds to (or, set to undefined, takes from) its environment. */
export async function startService(t: Test, c: Computer, args: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<ServiceProcess> {
  const full: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: c.home,
    CLOUDY_HOME: c.cloudyHome,
    CLOUDY_PASSWORD: 'correct horse',
    ...c.env,
    ...env,
  }
  for (const [k, v] of Object.entries(full)) if (v === undefined) delete full[k]
  const child = spawn(...cloudyArgv(['daemon', ...args]), { env: full, stdio: ['ignore', 'ignore', 'pipe'] })
  let log = ''
  child.stderr!.on('data', (d) => (log += d))
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)))
  const stop = async (signal: NodeJS.Signals = 'SIGTERM') => {
    if (child.exitCode !== null || child.signalCode !== null) return child.exitCode
    child.kill(signal)
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
    const code = await exited
    clearTimeout(timer)
    return code
  }
  t.teardown(() => stop())
  const socket = join(c.cloudyHome, 'run', 'service.sock')
  const started = Date.now()
  while (!(existsSync(socket) && log.includes('listening'))) {
    if (child.exitCode !== null) throw new Error(`cloudy daemon exited (${child.exitCode}): ${log}`)
    if (Date.now() - started > 20_000) throw new Error(`cloudy daemon did not start in 20 s: ${log}`)
    await new Promise((r) => setTimeout(r, 50))
  }
  return { child, log: () => log, stop }
}

/** Wait until `check` holds (polled every 50 ms), or fail after `ms`. */
export async function until(t: Test, what: string, check: () => boolean | Promise<boolean>, ms = 20_000): Promise<boolean> {
  const start = Date.now()
  while (Date.now() - start < ms) {
    if (await check()) return true
    await new Promise((r) => setTimeout(r, 50))
  }
  t.fail(`${what}: not within ${ms / 1000} s`)
  return false
}
