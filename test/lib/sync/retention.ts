/**
 * Retention policies: restic's rules (newest first; one commit per hour, day, ISO week, month
 * or year; within a duration of the newest; the oldest kept when a count is not used up), the
 * policy's written form, and clear errors for a wrong one.
 */
import t from 'tap'
import { applyPolicy, DEFAULT_POLICY, formatPolicy, parsePolicy, type Dated } from '../../../lib/sync/retention.js'

let n = 0
const at = (time: string): Dated => ({ id: `c${String(n++).padStart(3, '0')}`, time })
const kept = (items: Dated[], policy: Parameters<typeof applyPolicy>[1]) =>
  applyPolicy(items, policy, { utc: true })
    .keep.map((k) => k.item.time)
    .sort()
const everyHour = (from: string, hours: number) =>
  Array.from({ length: hours }, (_, i) => at(new Date(Date.parse(from) + i * 3_600_000).toISOString()))

t.test('last: the newest N, whatever order they come in', async (t) => {
  const items = everyHour('2026-01-01T00:00:00Z', 10).reverse()
  t.same(kept(items, { last: 3 }), ['2026-01-01T07:00:00.000Z', '2026-01-01T08:00:00.000Z', '2026-01-01T09:00:00.000Z'])
  t.equal(kept(items, { last: -1 }).length, 10, 'unlimited keeps every one')
  t.same(kept(items, {}), [], 'an empty policy keeps nothing (forget keeps heads on its own)')
})

t.test('hourly and daily: the newest commit of each of the last N hours or days that have one', async (t) => {
  // Three commits an hour, 20 minutes apart, for five hours.
  const items = Array.from({ length: 15 }, (_, i) => at(new Date(Date.parse('2026-03-01T10:00:00Z') + i * 20 * 60_000).toISOString()))
  t.same(kept(items, { hourly: 3 }), ['2026-03-01T12:40:00.000Z', '2026-03-01T13:40:00.000Z', '2026-03-01T14:40:00.000Z'])
  // Days with gaps: the days that have a commit count, not calendar days.
  const days = ['2026-03-01T09:00:00Z', '2026-03-01T18:00:00Z', '2026-03-04T08:00:00Z', '2026-03-09T23:59:59Z', '2026-03-10T00:00:01Z'].map(
    at,
  )
  t.same(kept(days, { daily: 3 }), ['2026-03-04T08:00:00Z', '2026-03-09T23:59:59Z', '2026-03-10T00:00:01Z'])
})

t.test('a count not used up keeps the oldest commit too', async (t) => {
  const days = ['2026-03-01T09:00:00Z', '2026-03-01T18:00:00Z', '2026-03-02T08:00:00Z'].map(at)
  const d = applyPolicy(days, { daily: 7 }, { utc: true })
  t.same(
    d.keep.map((k) => [k.item.time, k.reasons]),
    [
      ['2026-03-02T08:00:00Z', ['daily']],
      ['2026-03-01T18:00:00Z', ['daily']],
      ['2026-03-01T09:00:00Z', ['oldest daily']],
    ],
  )
  t.same(d.forget, [], 'nothing goes')
})

t.test('weekly: ISO weeks, across the turn of the year', async (t) => {
  // 2026-12-31 and 2027-01-01 are in ISO week 53 of 2026; 2027-01-04 starts week 1 of 2027.
  const items = ['2026-12-28T12:00:00Z', '2026-12-31T12:00:00Z', '2027-01-01T12:00:00Z', '2027-01-04T12:00:00Z'].map(at)
  t.same(kept(items, { weekly: 2 }), ['2027-01-01T12:00:00Z', '2027-01-04T12:00:00Z'])
  // 2021-01-03 (a Sunday) is in week 53 of 2020, with 2020-12-28.
  const sunday = ['2020-12-28T12:00:00Z', '2021-01-03T12:00:00Z'].map(at)
  t.same(kept(sunday, { weekly: 1 }), ['2021-01-03T12:00:00Z'])
})

t.test('monthly and yearly, and rules together: a commit kept by any rule stays, with every reason', async (t) => {
  const items = [
    '2024-06-01T00:00:00Z',
    '2025-02-10T00:00:00Z',
    '2025-11-30T00:00:00Z',
    '2025-12-01T00:00:00Z',
    '2026-01-15T00:00:00Z',
    '2026-01-20T00:00:00Z',
  ].map(at)
  t.same(kept(items, { monthly: 2 }), ['2025-12-01T00:00:00Z', '2026-01-20T00:00:00Z'])
  t.same(kept(items, { yearly: 5 }), ['2024-06-01T00:00:00Z', '2025-12-01T00:00:00Z', '2026-01-20T00:00:00Z'])
  const d = applyPolicy(items, { last: 1, monthly: 1, yearly: 2 }, { utc: true })
  t.same(d.keep[0]!.reasons, ['last', 'monthly', 'yearly'])
  t.same(
    d.keep.map((k) => k.item.time),
    ['2026-01-20T00:00:00Z', '2025-12-01T00:00:00Z'],
  )
  t.equal(d.forget.length, 4)
})

t.test('within: every commit less than the duration older than the newest (not than now)', async (t) => {
  const items = everyHour('2020-05-01T00:00:00Z', 72)
  t.equal(kept(items, { within: '1d' }).length, 24, 'the newest and the 23 hours before it')
  t.equal(kept(items, { within: '1d12h' }).length, 36)
  t.equal(kept(items, { within: '1y' }).length, 72)
  // Calendar months, as restic: a month before March 31 is March 3 (February has 28 days).
  const months = ['2026-03-02T00:00:00Z', '2026-03-04T00:00:00Z', '2026-03-31T00:00:00Z'].map(at)
  t.same(kept(months, { within: '1m' }), ['2026-03-04T00:00:00Z', '2026-03-31T00:00:00Z'])
})

t.test('ties in time are taken in id order, so the outcome does not depend on the input order', async (t) => {
  const a = { id: 'aaa', time: '2026-01-01T00:00:00Z' }
  const b = { id: 'bbb', time: '2026-01-01T00:00:00Z' }
  t.same(applyPolicy([a, b], { last: 1 }).keep[0]!.item.id, 'aaa')
  t.same(applyPolicy([b, a], { last: 1 }).keep[0]!.item.id, 'aaa')
})

t.test('the written form: parsed, checked and written back; a wrong rule is named with the forms', async (t) => {
  t.same(parsePolicy('last=3, daily=30,within=1y6m'), { last: 3, daily: 30, within: '1y6m' })
  t.same(parsePolicy('daily=unlimited,weekly=0'), { daily: -1 }, 'unlimited is -1; 0 is no rule')
  t.equal(formatPolicy({ daily: -1, last: 2 }), 'last=2,daily=unlimited')
  t.same(parsePolicy(formatPolicy(DEFAULT_POLICY)), DEFAULT_POLICY)
  t.throws(() => parsePolicy('daily=many'), { name: 'UsageError', message: /keep daily "many": not a count; keep rules are last, hourly/ })
  t.throws(() => parsePolicy('daily=-2'), { name: 'UsageError', message: /not a count/ })
  t.throws(() => parsePolicy('within=3w'), { name: 'UsageError', message: /keep within "3w": not a duration/ })
  t.throws(() => parsePolicy('fortnightly=2'), { name: 'UsageError', message: /"fortnightly=2" is not rule=value/ })
  t.throws(() => parsePolicy('daily=2,daily=3'), { name: 'UsageError', message: /daily is given twice/ })
})
