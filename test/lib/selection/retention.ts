/**
 * Retention policies in the selection: per category or application, a new one turning off the
 * old, two computers setting one at once ending with the same, an application following its
 * category until it has its own, and a policy this release cannot read falling back.
 */
import t from 'tap'
import { policyOf, retentionChanges, retentionPolicies, retentionScope } from '../../../lib/selection/retention.js'
import { mergeSelections, setSelection, type SelectionMap } from '../../../lib/selection/selection.js'
import { DEFAULT_POLICY } from '../../../lib/sync/retention.js'

const A = 'a'.repeat(32)
const B = 'b'.repeat(32)

t.test('scopes: the categories and app:<id>; anything else is refused, naming them', async (t) => {
  t.equal(retentionScope('settings'), 'settings')
  t.equal(retentionScope('app:org.mozilla.firefox'), 'app:org.mozilla.firefox')
  t.throws(() => retentionScope('photos'), {
    name: 'UsageError',
    message: /photos: not a retention scope; use a category \(settings, apps, system, inventory\) or app:<id>/,
  })
  t.throws(() => retentionScope('app:../x'), { name: 'UsageError' })
})

t.test('each space follows its own scope, then its category, then the default', async (t) => {
  let map: SelectionMap = {}
  t.same(policyOf(map, 'settings'), { policy: DEFAULT_POLICY })
  map = setSelection(map, retentionChanges('apps', { daily: 7 }, map), A)
  map = setSelection(map, retentionChanges('app:editor', { last: 3, within: '2d' }, map), A)
  t.same(policyOf(map, 'app/editor'), { policy: { last: 3, within: '2d' }, scope: 'app:editor' })
  t.same(
    policyOf(map, 'app/editor/home'),
    { policy: { last: 3, within: '2d' }, scope: 'app:editor' },
    "an application's HOME files follow it too",
  )
  t.same(policyOf(map, 'app/other'), { policy: { daily: 7 }, scope: 'apps' })
  t.same(policyOf(map, 'apps'), { policy: { daily: 7 }, scope: 'apps' })
  t.same(policyOf(map, 'system'), { policy: DEFAULT_POLICY }, 'another category keeps the default')
  t.same([...retentionPolicies(map).keys()].sort(), ['app:editor', 'apps'])
  // A new policy turns the old one off; --inherit turns the scope's own off.
  map = setSelection(map, retentionChanges('app:editor', { yearly: 2 }, map), A)
  t.same(policyOf(map, 'app/editor').policy, { yearly: 2 })
  t.equal(Object.keys(map).filter((k) => k.startsWith('retention:app:editor:') && map[k]!.v).length, 1)
  map = setSelection(map, retentionChanges('app:editor', undefined, map), A)
  t.same(policyOf(map, 'app/editor'), { policy: { daily: 7 }, scope: 'apps' })
})

t.test('two computers setting one scope at once end with the same policy, whatever order they merge in', async (t) => {
  const base: SelectionMap = {}
  const a = setSelection(base, retentionChanges('settings', { daily: 3 }, base), A)
  const b = setSelection(base, retentionChanges('settings', { monthly: 6 }, base), B)
  const ab = mergeSelections(a, b)
  const ba = mergeSelections(b, a)
  t.same(policyOf(ab, 'settings'), policyOf(ba, 'settings'))
  t.same(policyOf(ab, 'settings').policy, { monthly: 6 }, 'a tie of clocks: the higher device tag')
})

t.test('a policy of rules this release does not know is passed over, not fatal', async (t) => {
  const map: SelectionMap = {
    'retention:apps:daily=5': { v: true, clock: 1, by: A, at: '' },
    'retention:app:x:fortnightly=2': { v: true, clock: 2, by: A, at: '' },
  }
  t.same(policyOf(map, 'app/x'), { policy: { daily: 5 }, scope: 'apps' })
})
