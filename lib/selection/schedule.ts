/**
 * When each category is up-synced by the service (docs/ARCHITECTURE.md, "Schedules"): chosen
 * once for the chain, in the selection, as `schedule:<category>:<when>` set on (so the
 * selection's map of clocked booleans carries them without a new record shape: setting a new
 * one sets the old one off; of two set on at once, the higher clock wins, as for any key).
 *
 * `<when>` is one of:
 *   on-change              as soon as a collected file changes (after a short quiet period)
 *   manual                 only when asked (`cloudy sync up`)
 *   hourly, daily, weekly  that long after the last up-sync of the category (a run missed
 *                          while the computer was off happens as soon as the service starts)
 *   every <n><s|m|h|d>     likewise, any interval from 10 s
 *   a cron expression      five or six fields, e.g. "30 2 * * *" (croner; a missed time runs
 *                          at the next start)
 */
import { Cron } from 'croner'
import { CATEGORIES, type Category } from '../catalog/entry.js'
import { UsageError } from '../errors.js'

export type Schedule = { kind: 'on-change' } | { kind: 'manual' } | { kind: 'every'; ms: number } | { kind: 'cron'; expression: string }

export const DEFAULT_SCHEDULES: Readonly<Record<Category, string>> = {
  settings: 'on-change',
  inventory: 'on-change',
  apps: 'daily',
  system: 'daily',
}

const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const
const NAMED_MS: Record<string, number> = { hourly: UNIT_MS.h, daily: UNIT_MS.d, weekly: 7 * UNIT_MS.d }

const FORMS =
  'on-change, manual, hourly, daily, weekly, "every 30m" (s, m, h or d; at least 10 s), or a cron expression such as "30 2 * * *"'

/** `when`, read; a usage error naming what is wrong and the forms there are. */
export function parseSchedule(when: string): Schedule {
  const w = when.trim()
  if (w === 'on-change' || w === 'manual') return { kind: w }
  if (NAMED_MS[w]) return { kind: 'every', ms: NAMED_MS[w] }
  const every = /^every\s+(\d+)\s*([smhd])$/.exec(w)
  if (every) {
    const ms = Number(every[1]) * UNIT_MS[every[2] as keyof typeof UNIT_MS]
    if (ms < 10_000) throw new UsageError(`schedule "${when}": shorter than 10 s; use on-change to send changes as they happen`)
    return { kind: 'every', ms }
  }
  const fields = w.split(/\s+/).length
  if (fields === 5 || fields === 6) {
    try {
      new Cron(w, { paused: true }).stop()
      return { kind: 'cron', expression: w }
    } catch (e) {
      throw new UsageError(`schedule "${when}": not a valid cron expression (${(e as Error).message}); use ${FORMS}`)
    }
  }
  throw new UsageError(`schedule "${when}": not a schedule; use ${FORMS}`)
}

/** A category named on the command line, or a usage error listing them. */
export function scheduleCategory(name: string): Category {
  if ((CATEGORIES as readonly string[]).includes(name)) return name as Category
  throw new UsageError(`${name}: not a category; schedules are set per category: ${CATEGORIES.join(', ')}`)
}

/**
 * When a category on `schedule` is next due: `last` is its last up-sync (ms; undefined for
 * never). Now or earlier means at once; undefined means never by itself (on-change, manual).
 */
export function nextDue(schedule: Schedule, last: number | undefined, now: number): number | undefined {
  switch (schedule.kind) {
    case 'on-change':
    case 'manual':
      return undefined
    case 'every':
      return last === undefined ? now : last + schedule.ms
    case 'cron': {
      const cron = new Cron(schedule.expression, { paused: true })
      try {
        // A time that passed since the last run (the computer was off, the service stopped) is due now.
        const missed = cron.previousRuns(1, new Date(now))[0]
        if (last === undefined || (missed && missed.getTime() > last)) return now
        return cron.nextRun(new Date(now))?.getTime()
      } finally {
        cron.stop()
      }
    }
  }
}

/** The selection keys that set `category` to `when`, turning off the ones set before. */
export function scheduleChanges(category: Category, when: string, map: Readonly<Record<string, { v: boolean }>>): Record<string, boolean> {
  parseSchedule(when)
  const prefix = `schedule:${category}:`
  const out: Record<string, boolean> = {}
  for (const [k, s] of Object.entries(map)) if (k.startsWith(prefix) && s.v) out[k] = false
  out[prefix + when.trim()] = true
  return out
}
