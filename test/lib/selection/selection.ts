/**
 * The chain's selection: a map of clocked settings that converges whatever order computers
 * change and read it in, kept in one sealed record per device; replaying or deleting records
 * never takes back a choice a computer has seen.
 */
import t, { type Test } from 'tap'
import { join } from 'node:path'
import { memory } from '../../../providers/memory.js'
import { StateDb } from '../../../lib/state/db.js'
import { Vault } from '../../../lib/vault/vault.js'
import { mergeSelections, readSelection, setSelection, type SelectionMap } from '../../../lib/selection/selection.js'
import { changeSelection, loadSelectionMap, selectionProblems } from '../../../lib/selection/records.js'
import { tempDir } from '../../helpers/temp.js'

t.test('the later choice wins, whatever order the maps are merged in; a tie goes to the higher tag', async (t) => {
  const a0 = setSelection({}, { 'include:~/notes': true }, 'aa', 't1')
  const b1 = setSelection(a0, { 'include:~/notes': false, 'app:vim': true }, 'bb', 't2')
  const a1 = setSelection(a0, { 'app:emacs': true }, 'aa', 't3')
  for (const order of [
    [a0, b1, a1],
    [a1, b1, a0],
    [b1, a1],
  ])
    t.same(readSelection(mergeSelections(...order)), readSelection(mergeSelections(a0, a1, b1)), 'same selection in any order')
  const sel = readSelection(mergeSelections(a1, b1))
  t.same(sel.include, [], "B's removal came after A's add")
  t.same(
    [...sel.apps].sort(([x], [y]) => x.localeCompare(y)),
    [
      ['emacs', true],
      ['vim', true],
    ],
  )
  // Two computers that set one key at the same clock: the same winner everywhere.
  const x = setSelection({}, { 'category:system': false }, 'aa')
  const y = setSelection({}, { 'category:system': true }, 'bb')
  t.equal(mergeSelections(x, y)['category:system']!.v, true)
  t.equal(mergeSelections(y, x)['category:system']!.v, true)
})

t.test('defaults: every category on, applications found join, nothing else chosen', async (t) => {
  const sel = readSelection({})
  t.same(sel.categories, { settings: true, apps: true, system: true, inventory: true })
  t.equal(sel.autoApps, true)
  t.same([sel.include, sel.exclude, sel.secrets, sel.apps.size], [[], [], [], 0])
  const map: SelectionMap = setSelection(
    {},
    { 'category:inventory': false, 'apps:auto': false, 'secret:~/.npmrc': true, 'exclude:*.log': true },
    'aa',
  )
  const s = readSelection(map)
  t.equal(s.categories.inventory, false)
  t.equal(s.autoApps, false)
  t.same(s.secrets, ['~/.npmrc'])
  t.same(s.exclude, ['*.log'])
})

async function setup(t: Test) {
  const provider = memory()
  const vault = await Vault.create(provider, 'pw', { kdf: 'interactive' })
  const db = (name: string) => {
    const d = new StateDb(join(tempDir(t), `${name}.db`))
    t.teardown(() => d.close())
    return d
  }
  return { provider, vault, db }
}

t.test('each device writes its own sealed record; every computer reads the merged map', async (t) => {
  const { provider, vault, db } = await setup(t)
  const [a, b] = [db('a'), db('b')]
  await changeSelection(vault, a, 'alpha', { 'include:~/notes': true })
  await changeSelection(vault, b, 'bravo', { 'app:vim': true })
  const keys: string[] = []
  for await (const o of provider.list('selection/')) keys.push(o.key)
  t.same(keys.sort(), [`selection/${vault.deviceTag('alpha')}`, `selection/${vault.deviceTag('bravo')}`].sort())
  const raw = Buffer.from(await provider.get(keys[0]!)).toString('latin1')
  t.notMatch(raw, /notes|vim|include/, 'nothing readable on the storage account')
  const sel = readSelection(await loadSelectionMap(vault, db('c')))
  t.same(sel.include, ['~/notes'])
  t.same([...sel.apps], [['vim', true]])
})

t.test('a replayed old record or a deleted one takes back nothing a computer has seen', async (t) => {
  const { provider, vault, db } = await setup(t)
  const a = db('a')
  const b = db('b')
  await changeSelection(vault, a, 'alpha', { 'include:~/notes': true })
  const key = `selection/${vault.deviceTag('alpha')}`
  const old = await provider.get(key)
  await changeSelection(vault, a, 'alpha', { 'include:~/notes': false, 'include:~/todo': true })
  t.same(readSelection(await loadSelectionMap(vault, b)).include, ['~/todo'], 'B saw the change')
  await provider.put(key, old)
  t.same(readSelection(await loadSelectionMap(vault, b)).include, ['~/todo'], 'the replayed record loses to what B saw')
  await provider.delete(key)
  t.same(readSelection(await loadSelectionMap(vault, b)).include, ['~/todo'], 'the deleted record is still known here')
  // A record moved under another device's name does not open there.
  await changeSelection(vault, a, 'alpha', { 'app:vim': true })
  await provider.put(`selection/${vault.deviceTag('bravo')}`, await provider.get(key))
  await provider.delete(key)
  t.same([...readSelection(await loadSelectionMap(vault, db('fresh'))).apps], [], 'a moved record is not read')
  t.same(
    (await selectionProblems(vault)).problems.map((p) => p.object),
    [`selection/${vault.deviceTag('bravo')}`],
    'and check names it',
  )
})

t.test('a failed publish changes nothing here', async (t) => {
  const { provider, vault, db } = await setup(t)
  const a = db('a')
  const put = provider.put.bind(provider)
  provider.put = async () => {
    throw new Error('account full')
  }
  await t.rejects(changeSelection(vault, a, 'alpha', { 'include:~/notes': true }), /account full/)
  provider.put = put
  t.same(readSelection(await loadSelectionMap(vault, a)).include, [])
})
