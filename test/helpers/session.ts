/**
 * Commands run inside a private D-Bus session with a computer's HOME: dconf writes through its
 * service on the session bus, so writing a setting (and a down-sync's `dconf load`) needs one.
 */
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { cloudyArgv, type Computer } from './cli.js'

/** Why dconf cannot be driven here, if it cannot (for a test's `skip`). */
export const noDconf = ((missing) => missing && `${missing} is not installed (dconf-cli, dbus)`)(
  ['/usr/bin/dconf', '/usr/bin/dbus-run-session'].find((p) => !existsSync(p)),
)

/** Run `command` with `c`'s HOME and environment inside a private session bus. */
export function inSession(c: Computer, command: string[]): { code: number | null; stdout: string; stderr: string } {
  // The session bus needs dbus-daemon from the system's PATH.
  const PATH = `${c.env?.PATH ?? ''}:/usr/bin:/bin`
  const r = spawnSync('/usr/bin/dbus-run-session', ['--', ...command], {
    env: { ...process.env, ...c.env, PATH, HOME: c.home, CLOUDY_HOME: c.cloudyHome, CLOUDY_PASSWORD: 'correct horse' },
  })
  return { code: r.status, stdout: r.stdout.toString(), stderr: r.stderr.toString() }
}

/** `cloudy ARGS` in a session bus of its own. */
export const cloudyInSession = (c: Computer, args: string[]) => inSession(c, cloudyArgv(args).flat())

/** `dconf ARGS` for `c`; its output. */
export const dconf = (c: Computer, ...args: string[]) => inSession(c, ['dconf', ...args]).stdout
