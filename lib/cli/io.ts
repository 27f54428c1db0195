/**
 * What a command talks to: streams and environment, injectable so tests drive `main()` in
 * process, and the questions a command asks on a terminal.
 */
import { createInterface } from 'node:readline/promises'
import { formatBytes } from '../text/format.js'

export { formatBytes }

export interface CliIo {
  stdout: NodeJS.WritableStream & { isTTY?: boolean }
  stderr: NodeJS.WritableStream & { isTTY?: boolean }
  stdin: NodeJS.ReadStream
  env: NodeJS.ProcessEnv
}

export function defaultIo(): CliIo {
  return { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env }
}

/** Recoverable problems of a sync, one line each on stderr. */
export function printWarnings(io: CliIo, warnings: readonly { message: string }[]): void {
  for (const w of warnings) io.stderr.write(`warning: ${w.message}\n`)
}

/** Ask a yes/no question on the terminal; only "y" or "yes" is yes. */
export async function confirm(io: CliIo, question: string): Promise<boolean> {
  const rl = createInterface({ input: io.stdin, output: io.stderr })
  try {
    return /^y(es)?$/i.test((await rl.question(`${question} [y/N] `)).trim())
  } finally {
    rl.close()
  }
}
