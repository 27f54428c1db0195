/**
 * Desktop notifications (the freedesktop Notifications interface on the session bus), sent with
 * `gdbus` where a session bus and gdbus exist; elsewhere nothing is shown and the log is the
 * only report. Never awaited and never fatal: a notification that cannot be shown is said once.
 */
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'

export type Notify = (summary: string, body: string) => void

/** A notifier for this environment, or one that does nothing when there is no session bus. */
export function desktopNotifier(env: NodeJS.ProcessEnv, log: (line: string) => void): Notify {
  const bus =
    env.DBUS_SESSION_BUS_ADDRESS ||
    (env.XDG_RUNTIME_DIR && existsSync(join(env.XDG_RUNTIME_DIR, 'bus')) ? `unix:path=${join(env.XDG_RUNTIME_DIR, 'bus')}` : '')
  if (!bus) return () => {}
  let failed = false
  return (summary, body) => {
    const args = [
      'call',
      '--session',
      '--dest',
      'org.freedesktop.Notifications',
      '--object-path',
      '/org/freedesktop/Notifications',
      '--method',
      'org.freedesktop.Notifications.Notify',
      // app_name, replaces_id, app_icon, summary, body, actions, hints, expire_timeout (ms)
      'Cloudy',
      'uint32 0',
      'dialog-warning',
      gvariantString(summary),
      gvariantString(body),
      '@as []',
      '@a{sv} {}',
      'int32 -1',
    ]
    execFile('gdbus', args, { env: { ...env, DBUS_SESSION_BUS_ADDRESS: bus }, timeout: 10_000 }, (e, _out, err) => {
      if (!e || failed) return
      failed = true
      log(`cloudy service: a desktop notification could not be shown (${(err || e.message).trim()}); the log is the only report`)
    })
  }
}

/** `s` as a GVariant text string literal (gdbus parses its arguments as GVariant text). */
function gvariantString(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\n/g, '\\n')}'`
}
