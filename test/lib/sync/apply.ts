/** Applying a plan never replaces what changed here after the plan was made. */
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { readFile, utimes, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { memory } from '../../../providers/memory.js'
import { StateDb } from '../../../lib/state/db.js'
import type { TreeEntry } from '../../../lib/store/objects.js'
import { SpaceStore } from '../../../lib/store/space-store.js'
import { spaceKeys } from '../../../lib/vault/keys.js'
import { BlobType } from '../../../lib/vault/aead.js'
import { idsToHex } from '../../../lib/sources/walk.js'
import { planDiff, type PlanItem } from '../../../lib/sync/plan.js'
import { applyItems } from '../../../lib/sync/apply.js'
import { Warnings } from '../../../lib/sync/warnings.js'
import { tempDir } from '../../helpers/temp.js'

const T0 = new Date('2026-01-01T00:00:00Z')

t.test('a file edited, or one that appeared, between plan and apply is kept', async (t) => {
  const home = tempDir(t, 'home')
  const db = new StateDb(join(tempDir(t, 'state'), 'state.db'))
  t.teardown(() => db.close())
  const store = new SpaceStore(memory(), spaceKeys('settings', randomBytes(32)), db)
  await store.open()
  const file = async (name: string, text: string, ms: number): Promise<TreeEntry> => ({
    name,
    type: 'file',
    mode: 0o644,
    mtimeNs: String(BigInt(ms) * 1_000_000n),
    size: text.length,
    content: idsToHex(await store.addBlob(BlobType.data, Buffer.from(text))),
  })
  const base = await store.putTree({ entries: [await file('edited', 'v1', T0.getTime())] })
  const target = await store.putTree({
    entries: [await file('appeared', 'incoming', T0.getTime() + 5000), await file('edited', 'v2 incoming', T0.getTime() + 5000)],
  })
  await store.flush()
  await writeFile(join(home, 'edited'), 'v1')
  await utimes(join(home, 'edited'), T0, T0)

  const items: PlanItem[] = []
  for await (const it of planDiff({ store, home, cache: new Map(), device: 'other', thisDevice: 'here' }, base, target)) items.push(it)
  t.same(
    items.map((i) => `${i.op} ${i.path}`),
    ['add appeared', 'update edited'],
  )

  // The user edits one file and creates the other before the plan is applied.
  await writeFile(join(home, 'edited'), 'edited here meanwhile')
  await writeFile(join(home, 'appeared'), 'made here meanwhile')
  const warnings = new Warnings()
  await applyItems({ store, home, warnings }, items)
  t.equal(await readFile(join(home, 'edited'), 'utf8'), 'edited here meanwhile')
  t.equal(await readFile(join(home, 'appeared'), 'utf8'), 'made here meanwhile')
  t.same(
    warnings.list.map((w) => `${w.code} ${w.path}`),
    ['ECHANGED settings/appeared', 'ECHANGED settings/edited'],
  )

  // Unchanged since the plan: applied.
  const again: PlanItem[] = []
  await writeFile(join(home, 'edited'), 'v1')
  await utimes(join(home, 'edited'), T0, T0)
  for await (const it of planDiff({ store, home, cache: new Map(), device: 'other', thisDevice: 'here' }, base, target)) again.push(it)
  const w2 = new Warnings()
  await applyItems(
    { store, home, warnings: w2 },
    again.filter((i) => i.path === 'edited'),
  )
  t.same(w2.list, [])
  t.equal(await readFile(join(home, 'edited'), 'utf8'), 'v2 incoming')
})
