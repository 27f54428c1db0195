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

/**
 * A conversation with `cloudy` on a pseudo-terminal: each step waits until the output shows
 * `expect` (after what earlier steps matched) and then types `answer`, as a person reading the
 * question would. Resolves with the exit code and everything the terminal showed.
 */
export function converse(
  c: Computer,
  args: string[],
  steps: readonly { expect: RegExp; answer: string }[],
  env: Record<string, string> = {},
): Promise<{ code: number; out: string; answered: number }> {
  return new Promise((resolve, reject) => {
    const line = [process.execPath, BIN, ...args].map(quote).join(' ')
    const child = spawn('script', ['-qec', line, '/dev/null'], {
      env: { PATH: process.env.PATH, HOME: c.home, CLOUDY_HOME: c.cloudyHome, TERM: 'dumb', ...c.env, ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    let out = ''
    let from = 0
    let step = 0
    const advance = () => {
      while (step < steps.length) {
        const m = steps[step]!.expect.exec(out.slice(from))
        if (!m) return
        from += m.index + m[0].length
        child.stdin.write(steps[step]!.answer)
        step++
      }
    }
    const take = (d: Buffer) => {
      out += d.toString('utf8')
      advance()
    }
    child.stdout.on('data', take)
    child.stderr.on('data', take)
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code: code ?? 1, out, answered: step })
    })
  })
}
