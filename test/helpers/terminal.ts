/**
 * Runs the real `cloudy` on a pseudo-terminal (util-linux `script`), as a person at a terminal
 * does: stdin and stdout are a tty, and what is typed is fed in. Output is what the terminal
 * showed (stdout and stderr together).
 */
import { spawn } from 'node:child_process'
import { BIN, type Computer } from './cli.js'

const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`

export function onTerminal(
  c: Computer,
  args: string[],
  typed: string,
  env: Record<string, string> = { CLOUDY_PASSWORD: 'correct horse' },
): Promise<{ code: number; out: string }> {
  return new Promise((resolve, reject) => {
    const line = [process.execPath, BIN, ...args].map(quote).join(' ')
    const child = spawn('script', ['-qec', line, '/dev/null'], {
      env: { PATH: process.env.PATH, HOME: c.home, CLOUDY_HOME: c.cloudyHome, TERM: 'dumb', ...c.env, ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    let out = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (out += d))
    child.stdin.end(typed)
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code: code ?? 1, out })
    })
  })
}
