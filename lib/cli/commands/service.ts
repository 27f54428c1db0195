/**
 * `cloudy daemon` runs the service in the foreground (a systemd user unit runs this);
 * `cloudy unlock` gives it the master password, `cloudy lock` makes it forget the keys.
 */
import { Service, serviceSocket } from '../../daemon/service.js'
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
