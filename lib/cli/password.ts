/**
 * Where the master password comes from, in order: `--password-file`, `CLOUDY_PASSWORD_FILE`,
 * `CLOUDY_PASSWORD_COMMAND` (a command that prints it, as restic's `--password-command`: a
 * keyring or `pass` can hold it), `CLOUDY_PASSWORD` (least safe: other processes of the user
 * can read the environment), and else a prompt on the terminal without echo. It is never
 * written anywhere.
 */
import { execFile } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { promisify } from 'node:util'
import { UsageError } from '../errors.js'
import { TerminalInput } from './terminal-input.js'

export interface ReadPasswordOptions {
  passwordFile?: string
  env?: NodeJS.ProcessEnv
  prompt: string
  /** Ask twice and require the same answer (new passwords). */
  confirm?: boolean
  stdin?: NodeJS.ReadStream
  stderr?: NodeJS.WriteStream
}

async function fromFile(file: string, what: string): Promise<string> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (e) {
    throw new UsageError(`${what} ${file} cannot be read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`)
  }
  return text.split(/\r?\n/)[0] ?? ''
}

/** The first line a password command prints; its failure is a usage error naming it. */
async function fromCommand(command: string, env: NodeJS.ProcessEnv): Promise<string> {
  try {
    const { stdout } = await promisify(execFile)('/bin/sh', ['-c', command], { env, timeout: 60_000 })
    return stdout.split(/\r?\n/)[0] ?? ''
  } catch (e) {
    const err = e as Error & { stderr?: string; code?: unknown }
    const why = (err.stderr || err.message).trim().split('\n')[0]
    throw new UsageError(`CLOUDY_PASSWORD_COMMAND failed (${why}): fix the command, or give the password another way`)
  }
}

function nonEmpty(p: string, from: string): string {
  if (p === '') throw new UsageError(`the master password from ${from} is empty`)
  return p
}

export async function readPassword(o: ReadPasswordOptions): Promise<string> {
  const env = o.env ?? process.env
  if (o.passwordFile) return nonEmpty(await fromFile(o.passwordFile, '--password-file'), `--password-file ${o.passwordFile}`)
  if (env.CLOUDY_PASSWORD_FILE) return nonEmpty(await fromFile(env.CLOUDY_PASSWORD_FILE, 'CLOUDY_PASSWORD_FILE'), 'CLOUDY_PASSWORD_FILE')
  if (env.CLOUDY_PASSWORD_COMMAND) return nonEmpty(await fromCommand(env.CLOUDY_PASSWORD_COMMAND, env), 'CLOUDY_PASSWORD_COMMAND')
  if (env.CLOUDY_PASSWORD !== undefined) return nonEmpty(env.CLOUDY_PASSWORD, 'CLOUDY_PASSWORD')
  const stdin = o.stdin ?? process.stdin
  const stderr = o.stderr ?? process.stderr
  if (!stdin.isTTY) {
    throw new UsageError(
      'no master password given and no terminal to ask on: use --password-file FILE, CLOUDY_PASSWORD_FILE=FILE, CLOUDY_PASSWORD_COMMAND, ' +
        'or CLOUDY_PASSWORD (the least safe: the environment can be read by other processes of this user)',
    )
  }
  const input = new TerminalInput(stdin, stderr)
  try {
    const first = nonEmpty(await input.line(o.prompt, { secret: true }), 'the terminal')
    if (o.confirm && (await input.line('Repeat it: ', { secret: true })) !== first)
      throw new UsageError('the two passwords differ; nothing was changed')
    return first
  } finally {
    input.close()
  }
}
