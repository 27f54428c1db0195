/**
 * Retention policies (docs/FORMAT.md, "Retention and prune"): which commits of a space `forget`
 * keeps. The rules are restic's, so what a restic user expects holds: commits are taken newest
 * first; `last` keeps the newest N; `hourly`, `daily`, `weekly`, `monthly` and `yearly` keep the
 * newest commit of each of the last N hours, days, ISO weeks, months or years that have one (in
 * local time); `within` keeps every commit less than a duration older than the newest; a count
 * of -1 (`unlimited`) means every one. A bucket rule that did not use up its count keeps the oldest commit too,
 * as restic does since 0.16, so a short history is not cut below what the policy asks for.
 */
import { UsageError } from '../errors.js'

export interface RetentionPolicy {
  last?: number
  hourly?: number
  daily?: number
  weekly?: number
  monthly?: number
  yearly?: number
  /** A duration as restic writes it: years, months, days and hours, e.g. `1y6m`, `30d`, `12h`. */
  within?: string
}

/** The rules in the order they are shown and applied. */
export const RULES = ['last', 'hourly', 'daily', 'weekly', 'monthly', 'yearly', 'within'] as const
export type Rule = (typeof RULES)[number]

const BUCKETS = ['hourly', 'daily', 'weekly', 'monthly', 'yearly'] as const
type Bucket = (typeof BUCKETS)[number]

/**
 * What a space keeps when nothing was chosen: hourly states for a day (an edit to undo today),
 * daily ones for a month, monthly ones for a year. Settings change a few times a day at most,
 * so this is about 70 commits per computer and space.
 */
export const DEFAULT_POLICY: Readonly<RetentionPolicy> = { hourly: 24, daily: 30, monthly: 12 }

const DURATION = /^(?:(\d+)y)?(?:(\d+)m)?(?:(\d+)d)?(?:(\d+)h)?$/

interface Duration {
  years: number
  months: number
  days: number
  hours: number
}

function parseDuration(text: string): Duration | undefined {
  const m = DURATION.exec(text)
  if (!m || text === '') return undefined
  return { years: Number(m[1] ?? 0), months: Number(m[2] ?? 0), days: Number(m[3] ?? 0), hours: Number(m[4] ?? 0) }
}

const FORMS =
  'keep rules are last, hourly, daily, weekly, monthly, yearly (a count, or unlimited) and within (a duration such as 2y, 6m, 30d or 1y6m12h)'

/** A policy with each rule checked; a usage error names the rule that is wrong and the forms there are. */
export function checkPolicy(p: RetentionPolicy): RetentionPolicy {
  const out: RetentionPolicy = {}
  for (const rule of RULES) {
    const v = p[rule]
    if (v === undefined) continue
    if (rule === 'within') {
      if (typeof v !== 'string' || !parseDuration(v)) throw new UsageError(`keep within "${String(v)}": not a duration; ${FORMS}`)
      out.within = v
    } else {
      if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < -1)
        throw new UsageError(`keep ${rule} "${String(v)}": not a count; ${FORMS}`)
      if (v !== 0) out[rule] = v
    }
  }
  return out
}

/** Whether the policy keeps nothing at all (forget would then take every commit but the heads). */
export function isEmptyPolicy(p: RetentionPolicy): boolean {
  return RULES.every((r) => p[r] === undefined)
}

/** `last=3,daily=30,within=1y`: how a policy is written in the selection and shown. */
export function formatPolicy(p: RetentionPolicy): string {
  return RULES.filter((r) => p[r] !== undefined)
    .map((r) => `${r}=${p[r] === -1 ? 'unlimited' : String(p[r])}`)
    .join(',')
}

/** A count as written on the command line or in a policy: digits, -1 or `unlimited` (restic's word). */
export function countOf(text: string): number | string {
  return text === 'unlimited' ? -1 : /^-?\d+$/.test(text) ? Number(text) : text
}

/** A policy written by `formatPolicy`, or by a person the same way. */
export function parsePolicy(text: string): RetentionPolicy {
  const p: Record<string, unknown> = {}
  for (const part of text.split(',').map((s) => s.trim())) {
    if (!part) continue
    const [rule, value, ...rest] = part.split('=')
    if (!RULES.includes(rule as Rule) || value === undefined || rest.length)
      throw new UsageError(`retention "${text}": "${part}" is not rule=value; ${FORMS}`)
    if (p[rule!] !== undefined) throw new UsageError(`retention "${text}": ${rule} is given twice`)
    p[rule!] = rule === 'within' ? value : countOf(value)
  }
  return checkPolicy(p as RetentionPolicy)
}

/** A commit (or anything dated) a policy decides on. */
export interface Dated {
  id: string
  /** ISO 8601. */
  time: string
}

export interface Decision<T extends Dated> {
  keep: { item: T; reasons: string[] }[]
  forget: T[]
}

/** ISO 8601 week-numbering year and week of `d` (local, or UTC). */
function isoWeek(d: Date, utc: boolean): number {
  const y = utc ? d.getUTCFullYear() : d.getFullYear()
  const m = utc ? d.getUTCMonth() : d.getMonth()
  const day = utc ? d.getUTCDate() : d.getDate()
  // The Thursday of this week decides its year.
  const t = new Date(Date.UTC(y, m, day))
  const dow = t.getUTCDay() || 7
  t.setUTCDate(t.getUTCDate() + 4 - dow)
  const yearStart = Date.UTC(t.getUTCFullYear(), 0, 1)
  const week = Math.ceil(((t.getTime() - yearStart) / 86_400_000 + 1) / 7)
  return t.getUTCFullYear() * 100 + week
}

function bucketOf(rule: Bucket, d: Date, utc: boolean): number {
  const y = utc ? d.getUTCFullYear() : d.getFullYear()
  const m = (utc ? d.getUTCMonth() : d.getMonth()) + 1
  const day = utc ? d.getUTCDate() : d.getDate()
  const h = utc ? d.getUTCHours() : d.getHours()
  switch (rule) {
    case 'hourly':
      return ((y * 100 + m) * 100 + day) * 100 + h
    case 'daily':
      return (y * 100 + m) * 100 + day
    case 'weekly':
      return isoWeek(d, utc)
    case 'monthly':
      return y * 100 + m
    case 'yearly':
      return y
  }
}

/** `latest` moved back by `d`, as restic does (calendar years, months and days, then hours). */
function before(latest: Date, d: Duration, utc: boolean): number {
  const t = new Date(latest.getTime())
  if (utc) {
    t.setUTCFullYear(t.getUTCFullYear() - d.years, t.getUTCMonth() - d.months, t.getUTCDate() - d.days)
  } else {
    t.setFullYear(t.getFullYear() - d.years, t.getMonth() - d.months, t.getDate() - d.days)
  }
  return t.getTime() - d.hours * 3_600_000
}

/**
 * What `policy` keeps of `items` (one computer's commits of one space), and why. Buckets are
 * counted in local time unless `utc`. Items of the same time are taken in id order, so the
 * outcome does not depend on the order they come in.
 */
export function applyPolicy<T extends Dated>(items: readonly T[], policy: RetentionPolicy, { utc = false } = {}): Decision<T> {
  const sorted = [...items].sort((a, b) => Date.parse(b.time) - Date.parse(a.time) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
  const reasons = sorted.map(() => [] as string[])
  const left = Object.fromEntries(BUCKETS.map((b) => [b, policy[b] ?? 0])) as Record<Bucket, number>
  const last: Partial<Record<Bucket, number>> = {}
  const latest = sorted[0] ? new Date(Date.parse(sorted[0].time)) : undefined
  const within = policy.within ? parseDuration(policy.within) : undefined
  const cut = latest && within ? before(latest, within, utc) : undefined
  sorted.forEach((item, i) => {
    const d = new Date(Date.parse(item.time))
    if (policy.last !== undefined && (policy.last === -1 || i < policy.last)) reasons[i]!.push('last')
    for (const b of BUCKETS) {
      if (left[b] === 0) continue
      const v = bucketOf(b, d, utc)
      if (v === last[b]) continue
      last[b] = v
      if (left[b] > 0) left[b]--
      reasons[i]!.push(b)
    }
    if (cut !== undefined && d.getTime() > cut) reasons[i]!.push('within')
  })
  // A bucket rule with count left over keeps the oldest commit too (restic's rule since 0.16).
  const oldest = sorted.length - 1
  if (oldest >= 0) for (const b of BUCKETS) if (left[b] > 0 && !reasons[oldest]!.includes(b)) reasons[oldest]!.push(`oldest ${b}`)
  const out: Decision<T> = { keep: [], forget: [] }
  sorted.forEach((item, i) => (reasons[i]!.length ? out.keep.push({ item, reasons: reasons[i]! }) : out.forget.push(item)))
  return out
}
