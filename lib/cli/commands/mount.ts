/**
 * `cloudy mount DIR [--app ID]`: the vault as a folder until Ctrl-C (or SIGTERM, or an unmount
 * from outside), run in this process (lib/mount/run.ts); `--background` asks the running
 * service to hold it instead. `cloudy unmount DIR` ends either.
 */
import { execFile } from 'node:child_process'
import { resolve } from 'node:path'
import { promisify } from 'node:util'
import { CloudyError, EXIT, UsageError } from '../../errors.js'
import { fuseMountIdsAt } from '../../mount/mountinfo.js'
import { checkAppId, prepareMountPoint, runMount } from '../../mount/run.js'
import { openSession } from '../context.js'
import type { CliIo } from '../io.js'
import { serviceFor } from '../service-client.js'

export interface MountArgs {
  dir: string
  app?: string
  passwordFile?: string
  /** Seconds after the last change before an up-sync. */
  upsyncAfter?: number
  /** Seconds between looks at the chain's heads. */
  poll?: number
  /** Decrypted chunks kept in memory, in MiB. */
  cacheMb?: number
  /** Sealed chunks kept on disk per space, in MiB (remote providers only). */
  diskCacheMb?: number
  /** Held by the running service, not this process. */
  background?: boolean
}

export async function mount(io: CliIo, args: MountArgs): Promise<number> {
  const dir = resolve(args.dir)
  if (args.background) {
    if (args.app !== undefined)
      throw new UsageError(
        '--app with --background: an application mount runs in a process of its own (holding that key alone); leave out --background',
      )
    const service = await serviceFor(io.env)
    if (!service)
      throw new CloudyError(
        'ENOSERVICE',
        EXIT.USAGE,
        'no unlocked Cloudy service runs for this user: start it ("cloudy daemon") and unlock it ("cloudy unlock"), or mount without --background',
      )
    await service.call({
      op: 'mount',
      dir,
      upsyncAfter: args.upsyncAfter,
      poll: args.poll,
      cacheMb: args.cacheMb,
      diskCacheMb: args.diskCacheMb,
    })
    io.stdout.write(`Mounted at ${dir} by the Cloudy service (process ${service.status.pid}); "cloudy unmount ${dir}" unmounts it.\n`)
    return EXIT.OK
  }
  // A bad --app or a folder that cannot be mounted on is said before the password is asked for.
  checkAppId(args.app)
  await prepareMountPoint(dir, (line) => io.stderr.write(line + '\n'))
  const s = await openSession(io, args)
  try {
    const log = (line: string) => io.stderr.write(line + '\n')
    // A failure nobody awaited must not take the mount down with every open file on it: it is
    // said (with its stack, to be reported) and the mount goes on; the journal is durable.
    process.on('unhandledRejection', (e: unknown) => {
      io.stderr.write(`cloudy mount: internal error, please report it (the mount goes on): ${(e as Error)?.stack ?? String(e)}\n`)
    })
    const running = await runMount(s, { ...args, dir, log })
    io.stderr.write(`Mounted at ${dir}; Ctrl-C unmounts.\n`)
    // Until Ctrl-C or SIGTERM, or an unmount from outside (fusermount -u, a file manager's eject).
    const outside = await new Promise<boolean>((resolve) => {
      process.once('SIGINT', () => resolve(false))
      process.once('SIGTERM', () => resolve(false))
      void running.gone.then(() => resolve(true))
    })
    if (outside) io.stderr.write(`${dir} was unmounted from outside; publishing what the journal holds, then exiting.\n`)
    // A second signal, or a stop that takes over a minute, ends the process at once: what was
    // closed is in the journal, replayed by the next mount.
    const force = () => {
      io.stderr.write('cloudy mount: stopping took too long; exiting (the journal keeps every closed file)\n')
      process.exit(EXIT.PARTIAL)
    }
    process.once('SIGINT', force)
    process.once('SIGTERM', force)
    setTimeout(force, 60_000).unref()
    const { detached, failure } = await running.stop()
    if (detached) io.stderr.write(`${dir} is busy; detached, it goes once its last open file closes.\n`)
    if (outside) io.stderr.write(`Unmounted from outside; stopped.\n`)
    if (failure === undefined) return EXIT.OK
    // The exit code says the run did not publish it (5 for a refused upload).
    io.stderr.write('cloudy mount: what the journal holds is kept for the next mount or "cloudy sync up".\n')
    return failure instanceof CloudyError ? failure.exitCode : EXIT.FAILED
  } finally {
    await s.close()
  }
}

const run = promisify(execFile)

/** `cloudy unmount DIR`: the service's mount there, or one a `cloudy mount` process holds (it then publishes and exits). */
export async function unmount(io: CliIo, args: { dir: string }): Promise<number> {
  const dir = resolve(args.dir)
  const service = await serviceFor(io.env, { unlocked: false })
  if (service?.status.mounts?.includes(dir)) {
    await service.call({ op: 'unmount', dir })
    io.stdout.write(`Unmounted ${dir}; what it held was published.\n`)
    return EXIT.OK
  }
  if (!(await fuseMountIdsAt(dir)).length) throw new UsageError(`${dir}: no Cloudy mount there`)
  try {
    await run('fusermount', ['-u', dir])
  } catch (e) {
    const why = ((e as { stderr?: string }).stderr ?? (e as Error).message).trim()
    throw new CloudyError('EBUSY', EXIT.FAILED, `${dir} could not be unmounted (${why}): close the files open there and try again`)
  }
  io.stdout.write(`Unmounted ${dir}; the process that held it publishes what it wrote and exits.\n`)
  return EXIT.OK
}
