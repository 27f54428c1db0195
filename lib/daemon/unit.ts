/**
 * The systemd user unit that starts the service at login (`cloudy service install`). The unit
 * starts it locked unless a password command is given (a keyring: `secret-tool lookup …`);
 * systemd restarts it after a crash and gives SIGTERM 15 s, more than the 10 s the service
 * takes at most to stop.
 */
import { join } from 'node:path'

export const UNIT_NAME = 'cloudy.service'

/** Where systemd looks for this user's units. */
export function userUnitFile(env: NodeJS.ProcessEnv, home: string): string {
  return join(env.XDG_CONFIG_HOME || join(home, '.config'), 'systemd', 'user', UNIT_NAME)
}

/** A value for systemd's `Environment=` or `ExecStart=`: quoted, with its quotes and backslashes escaped, `%` doubled. */
function quoted(v: string): string {
  return `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/%/g, '%%')}"`
}

export interface UnitOptions {
  /** The Node.js binary and the cloudy script, as absolute paths. */
  node: string
  script: string
  /** Environment the service needs (CLOUDY_HOME, CLOUDY_PASSWORD_COMMAND), set in the unit. */
  env: Record<string, string>
}

export function unitText(o: UnitOptions): string {
  const lines = [
    '# Written by "cloudy service install"; "cloudy service uninstall" removes it.',
    '[Unit]',
    "Description=Cloudy: this user's settings and applications, in step across computers",
    '',
    '[Service]',
    'Type=simple',
    `ExecStart=${quoted(o.node)} ${quoted(o.script)} daemon`,
    ...Object.entries(o.env).map(([k, v]) => `Environment=${quoted(`${k}=${v}`)}`),
    'Restart=on-failure',
    'RestartSec=5',
    'TimeoutStopSec=15',
    '',
    '[Install]',
    'WantedBy=default.target',
    '',
  ]
  return lines.join('\n')
}
