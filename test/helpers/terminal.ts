/**
 * Runs the real `cloudy` on a pseudo-terminal (util-linux `script`), as a person at a terminal
 * does: stdin and stdout are a tty, and what is typed is fed in. Output is what the terminal
 * showed (stdout and stderr together).
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { cloudyArgv, type Computer } from './cli.js'

const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`

/** `cloudy args` under `script`, on a pseudo-terminal of its own. */
function spawnOnTerminal(c: Computer, args: string[], env: Record<string, string>): ChildProcessWithoutNullStreams {
  const [cmd, argv] = cloudyArgv(args)
  const line = [cmd, ...argv].map(quote).join(' ')
  return spawn('script', ['-qec', line, '/dev/null'], {
    env: { PATH: process.env.PATH, HOME: c.home, CLOUDY_HOME: c.cloudyHome, TERM: 'dumb', ...c.env, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  })
}

/** Everything the terminal showed until the command ended, and its exit code; killed after `ms`. */
function finished(
  child: ChildProcessWithoutNullStreams,
  ms: number,
  onOutput?: (out: string) => void,
): Promise<{ code: number; out: string }> {
  return new Promise((resolve, reject) => {
    let out = ''
    const take = (d: Buffer) => {
      out += d.toString('utf8')
      onOutput?.(out)
    }
    child.stdout.on('data', take)
    child.stderr.on('data', take)
    const timer = setTimeout(() => child.kill('SIGKILL'), ms)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code: code ?? 1, out })
    })
  })
}

/** `cloudy args` on a terminal, with `typed` typed at once (a person typing ahead). */
export function onTerminal(
  c: Computer,
  args: string[],
  typed: string,
  env: Record<string, string> = { CLOUDY_PASSWORD: 'correct horse' },
): Promise<{ code: number; out: string }> {
  const child = spawnOnTerminal(c, args, env)
  child.stdin.end(typed)
  return finished(child, 60_000)
}

/**
 * A conversation with `cloudy` on a pseudo-terminal: each step waits until the output shows
 * `expect` (after what earlier steps matched) and then types `answer`, as a person reading the
 * question would. Resolves with the exit code and everything the terminal showed.
 */
export async function converse(
  c: Computer,
  args: string[],
  steps: readonly { expect: RegExp; answer: string }[],
  env: Record<string, string> = {},
): Promise<{ code: number; out: string; answered: number }> {
  const child = spawnOnTerminal(c, args, env)
  let from = 0
  let step = 0
  const r = await finished(child, 120_000, (out) => {
    while (step < steps.length) {
      const m = steps[step]!.expect.exec(out.slice(from))
      if (!m) return
      from += m.index + m[0].length
      child.stdin.write(steps[step]!.answer)
      step++
    }
  })
  return { ...r, answered: step }
}
