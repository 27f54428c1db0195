/**
 * Schedules per category: the forms a user may write (and a clear error for the rest), when
 * each is next due (a run missed while the computer was off is due at once), and how two
 * computers setting schedules at once end with the same one.
 */
import t from 'tap'
import { nextDue, parseSchedule, scheduleCategory, scheduleChanges } from '../../../lib/selection/schedule.js'
import { mergeSelections, readSelection, setSelection } from '../../../lib/selection/selection.js'

const H = 3_600_000

t.test('the forms: on-change, manual, named intervals, "every", cron; anything else is refused with the forms', async (t) => {
  t.same(parseSchedule('on-change'), { kind: 'on-change' })
  t.same(parseSchedule('manual'), { kind: 'manual' })
  t.same(parseSchedule('daily'), { kind: 'every', ms: 24 * H })
  t.same(parseSchedule(' hourly '), { kind: 'every', ms: H })
  t.same(parseSchedule('weekly'), { kind: 'every', ms: 7 * 24 * H })
  t.same(parseSchedule('every 30m'), { kind: 'every', ms: 30 * 60_000 })
  t.same(parseSchedule('every 2d'), { kind: 'every', ms: 48 * H })
  t.same(parseSchedule('30 2 * * *'), { kind: 'cron', expression: '30 2 * * *' })
  t.same(parseSchedule('0 */5 * * * *'), { kind: 'cron', expression: '0 */5 * * * *' }, 'six fields: seconds first')
  t.throws(() => parseSchedule('every 5s'), { name: 'UsageError', message: /shorter than 10 s/ })
  t.throws(() => parseSchedule('sometimes'), { name: 'UsageError', message: /"sometimes": not a schedule; use on-change, manual/ })
  t.throws(() => parseSchedule('every 3 weeks'), { name: 'UsageError', message: /not a schedule/ })
  t.throws(() => parseSchedule('61 2 * * *'), { name: 'UsageError', message: /not a valid cron expression/ })
  t.equal(scheduleCategory('apps'), 'apps')
  t.throws(() => scheduleCategory('photos'), { name: 'UsageError', message: /photos: not a category; .*settings, apps, system, inventory/ })
})

t.test('when a schedule is next due', async (t) => {
  const now = Date.parse('2026-12-03T12:00:00Z')
  t.equal(nextDue(parseSchedule('on-change'), undefined, now), undefined, 'on-change: never by a timer')
  t.equal(nextDue(parseSchedule('manual'), now - 100 * H, now), undefined)
  t.equal(nextDue(parseSchedule('daily'), undefined, now), now, 'never run: at once')
  t.equal(nextDue(parseSchedule('daily'), now - H, now), now + 23 * H, 'a day after the last run')
  t.equal(nextDue(parseSchedule('daily'), now - 50 * H, now), now - 26 * H, 'missed while off: due already')
  const cron = parseSchedule('30 2 * * *')
  const todayAt230 = Date.parse('2026-12-03T02:30:00')
  t.equal(nextDue(cron, todayAt230 + 60_000, now), Date.parse('2026-12-04T02:30:00'), 'ran at 02:30: next at 02:30 tomorrow')
  t.equal(nextDue(cron, todayAt230 - 3 * H, now), now, 'the computer was off at 02:30: due at once')
  t.equal(nextDue(cron, undefined, now), now, 'never run: at once')
})

t.test('a new schedule turns the old one off; two set at once end the same on every computer', async (t) => {
  let map = setSelection({}, scheduleChanges('apps', 'hourly', {}), 'aa', 't1')
  t.equal(readSelection(map).schedules.apps, 'hourly')
  t.equal(readSelection(map).schedules.settings, 'on-change', 'the others keep their defaults')
  t.same(readSelection({}).schedules, { settings: 'on-change', apps: 'daily', system: 'daily', inventory: 'on-change' })
  map = setSelection(map, scheduleChanges('apps', 'every 6h', map), 'aa', 't2')
  t.same(scheduleChanges('apps', 'manual', map), { 'schedule:apps:every 6h': false, 'schedule:apps:manual': true })
  t.equal(readSelection(map).schedules.apps, 'every 6h')
  t.equal(map['schedule:apps:hourly']?.v, false)
  // A and B each set one, not having seen the other's.
  const onA = setSelection(map, scheduleChanges('apps', 'weekly', map), 'aa', 't3')
  const onB = setSelection(map, scheduleChanges('apps', '0 3 * * *', map), 'bb', 't3')
  const merged = [mergeSelections(onA, onB), mergeSelections(onB, onA)].map((m) => readSelection(m).schedules.apps)
  t.same(merged, ['0 3 * * *', '0 3 * * *'], 'the same clock: the higher device tag, in either order')
  t.throws(() => scheduleChanges('apps', 'never', map), /not a schedule/)
})
