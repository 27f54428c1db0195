/**
 * `cloudy daemon` runs the service in the foreground (a systemd user unit runs this);
 * `cloudy unlock` gives it the master password, `cloudy lock` makes it forget the keys.
 */
import { execFile } from 'node:child_process'
import { existsSync, realpathSync } from 'node:fs'
import { mkdir, rm } from 'node:fs/promises'
import { dirname } from 'node:path'
import { promisify } from 'node:util'
import { Service, serviceSocket } from '../../daemon/service.js'
import { UNIT_NAME, unitText, userUnitFile } from '../../daemon/unit.js'
import { writeFileAtomic } from '../../fs/atomic-file.js'
import { CloudyError, EXIT } from '../../errors.js'
import { cloudyPaths } from '../../paths.js'
import type { CliIo } from '../io.js'
import { masterPassword } from '../context.js'
import { readPassword } from '../password.js'
import { serviceFor } from '../service-client.js'

export interface DaemonArgs {
  passwordFile?: string
  /** The longest wait between full looks at every space's heads, in seconds. */
  poll?: number
}

/**
 * Run the service until SIGTERM or SIGINT. With a password source that needs no terminal
 * (`--password-file`, `CLOUDY_PASSWORD_FILE`, `CLOUDY_PASSWORD_COMMAND`, `CLOUDY_PASSWORD`) it
 * unlocks at once; otherwise it starts locked and waits for `cloudy unlock`.
 */
export async function daemon(io: CliIo, args: DaemonArgs): Promise<number> {
  if (await serviceFor(io.env, { unlocked: false }))
    throw new CloudyError('ERUNNING', EXIT.USAGE, `a Cloudy service already runs for this user (${serviceSocket(cloudyPaths(io.env))})`)
  const service = new Service({ env: io.env, log: (line) => io.stderr.write(line + '\n'), fullLookMs: args.poll && args.poll * 1000 })
  const { CLOUDY_PASSWORD_FILE, CLOUDY_PASSWORD_COMMAND, CLOUDY_PASSWORD } = io.env
  if (args.passwordFile || CLOUDY_PASSWORD_FILE || CLOUDY_PASSWORD_COMMAND || CLOUDY_PASSWORD !== undefined) {
    await service.unlock(await readPassword({ passwordFile: args.passwordFile, env: io.env, prompt: '' }))
    // The environment's copy is not needed any more (as far as Node lets it go).
    delete process.env.CLOUDY_PASSWORD
  }
  // A failure nobody awaited is a bug to report, not a reason to stop following the chain.
  process.on('unhandledRejection', (e: unknown) => {
    io.stderr.write(`cloudy service: internal error, please report it (the service goes on): ${(e as Error)?.stack ?? String(e)}\n`)
  })
  await service.start()
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve())
    process.once('SIGTERM', () => resolve())
  })
  // The running job finishes (or is abandoned safely: every step of a sync is resumable) within 10 s.
  const force = setTimeout(() => {
    io.stderr.write('cloudy service: stopping took over 10 s; exiting (the next start resumes the work)\n')
    process.exit(EXIT.PARTIAL)
  }, 10_000)
  force.unref()
  await service.stop()
  clearTimeout(force)
  io.stderr.write('cloudy service: stopped\n')
  return EXIT.OK
}

async function running(io: CliIo) {
  const client = await serviceFor(io.env, { unlocked: false })
  if (!client) throw new CloudyError('ENOSERVICE', EXIT.USAGE, 'no Cloudy service runs for this user: start it with "cloudy daemon"')
  return client
}

export async function unlock(io: CliIo, args: { passwordFile?: string }): Promise<number> {
  const client = await running(io)
  if (!client.status.locked) {
    io.stdout.write('The Cloudy service is already unlocked.\n')
    return EXIT.OK
  }
  const password = await masterPassword(io, args.passwordFile)
  await client.call({ op: 'unlock', password })
  io.stdout.write('Unlocked: commands use the service and do not ask for the password.\n')
  return EXIT.OK
}

export async function lock(io: CliIo): Promise<number> {
  const client = await running(io)
  await client.call({ op: 'lock' })
  io.stdout.write('Locked: the service forgot the keys; commands ask for the password again.\n')
  return EXIT.OK
}

export interface ServiceInstallArgs {
  /** A command that prints the master password (a keyring), for a service that unlocks at start. */
  passwordCommand?: string
}

const systemctl = (args: string[]) => promisify(execFile)('systemctl', ['--user', ...args], { timeout: 30_000 })

/** Whether this user has a systemd instance to talk to. */
async function userSystemd(): Promise<boolean> {
  if (!existsSync('/run/systemd/system')) return false
  return systemctl(['is-system-running']).then(
    () => true,
    // "degraded" and friends exit non-zero but answer: systemd is there.
    (e: { stdout?: string }) => typeof e.stdout === 'string' && e.stdout.trim() !== '' && !/offline|Failed to connect/i.test(e.stdout),
  )
}

/** `cloudy service install`: a systemd user unit that starts the service at login, enabled and started where systemd runs. */
export async function serviceInstall(io: CliIo, args: ServiceInstallArgs): Promise<number> {
  const paths = cloudyPaths(io.env)
  const file = userUnitFile(io.env, paths.home)
  const env: Record<string, string> = {}
  if (io.env.CLOUDY_HOME) env.CLOUDY_HOME = paths.configDir
  const command = args.passwordCommand ?? io.env.CLOUDY_PASSWORD_COMMAND
  if (command) env.CLOUDY_PASSWORD_COMMAND = command
  const script = realpathSync(process.argv[1] ?? '')
  await mkdir(dirname(file), { recursive: true })
  await writeFileAtomic(file, unitText({ node: process.execPath, script, env }))
  io.stdout.write(`Wrote ${file}.\n`)
  if (!(await userSystemd())) {
    io.stdout.write(
      'systemd is not running for this user here, so nothing was enabled: start the service at login another way ' +
        `(your desktop's autostart, ~/.profile) with:\n  ${shellQuote(process.execPath)} ${shellQuote(script)} daemon\n`,
    )
    return EXIT.OK
  }
  try {
    await systemctl(['daemon-reload'])
    await systemctl(['enable', '--now', UNIT_NAME])
  } catch (e) {
    throw new CloudyError(
      'ESYSTEMD',
      EXIT.FAILED,
      `systemctl --user enable --now ${UNIT_NAME} failed: ${(e as { stderr?: string }).stderr?.trim() || (e as Error).message}`,
    )
  }
  io.stdout.write(
    `Enabled and started ${UNIT_NAME}: it starts at each login${command ? ' and unlocks with the password command' : '; "cloudy unlock" unlocks it'}.\n`,
  )
  return EXIT.OK
}

/** `cloudy service uninstall`: stop and disable the unit, and remove it. */
export async function serviceUninstall(io: CliIo): Promise<number> {
  const paths = cloudyPaths(io.env)
  const file = userUnitFile(io.env, paths.home)
  if (await userSystemd()) await systemctl(['disable', '--now', UNIT_NAME]).catch(() => {})
  if (!existsSync(file)) {
    io.stdout.write(`No unit to remove (${file} does not exist).\n`)
    return EXIT.OK
  }
  await rm(file)
  if (await userSystemd()) await systemctl(['daemon-reload']).catch(() => {})
  io.stdout.write(`Removed ${file}; the service no longer starts at login.\n`)
  return EXIT.OK
}

function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`
}
