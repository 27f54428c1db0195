/**
 * What a command talks to: streams and environment, injectable so tests drive `main()` in
 * process, and a progress line that shows on a terminal and stays silent in a pipe.
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

/** A one-line byte counter on stderr, redrawn at most 5 times a second; a no-op off a terminal. */
export class Progress {
  #io: CliIo
  #label: string
  #bytes = 0
  #start = Date.now()
  #last = 0
  #shown = false

  constructor(io: CliIo, label: string) {
    this.#io = io
    this.#label = label
  }

  get enabled(): boolean {
    return !!this.#io.stderr.isTTY
  }

  add = (n: number): void => {
    this.#bytes += n
    if (!this.enabled) return
    const now = Date.now()
    if (now - this.#last < 200) return
    this.#last = now
    const secs = Math.max(0.001, (now - this.#start) / 1000)
    this.#io.stderr.write(`\r${this.#label}: ${formatBytes(this.#bytes)} (${formatBytes(this.#bytes / secs)}/s)\x1b[K`)
    this.#shown = true
  }

  done(): void {
    if (this.#shown) this.#io.stderr.write('\r\x1b[K')
  }
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
