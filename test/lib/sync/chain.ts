/**
 * The chain's records on an in-memory vault: removals that cannot be undone by deleting a marker;
 * a device record that ends with the bases the state database holds.
 */
import t, { type Test } from 'tap'
import { join } from 'node:path'
import { memory } from '../../../providers/memory.js'
import { StateDb } from '../../../lib/state/db.js'
import { Vault } from '../../../lib/vault/vault.js'
import { readChain, rememberedRemovals, removeDevice, removedDevices, touchDevice, writeRemoval } from '../../../lib/sync/chain.js'
import type { DeviceIdentity } from '../../../lib/sync/up.js'
import { tempDir } from '../../helpers/temp.js'

const device = (name: string): DeviceIdentity => ({ id: `${name}-id`, name, username: 'u', hostname: 'h', home: '/home/u' })
const alpha = device('alpha')
const bravo = device('bravo')

async function setup(t: Test) {
  const provider = memory()
  const vault = await Vault.create(provider, 'pw', { kdf: 'interactive' })
  const db = (name: string) => {
    const d = new StateDb(join(tempDir(t), `${name}.db`))
    t.teardown(() => d.close())
    return d
  }
  await touchDevice(vault, alpha, 'join')
  await touchDevice(vault, bravo, 'join')
  const marker = `devices/${vault.deviceTag(bravo.id)}.removed`
  return { provider, vault, db, marker, bTag: vault.deviceTag(bravo.id), aTag: vault.deviceTag(alpha.id) }
}

t.test('a removal is remembered, published in the remover record, and its deleted marker refused', async (t) => {
  const { provider, vault, db, marker, bTag } = await setup(t)
  const a = db('a')
  const target = (await readChain(vault, a)).devices.find((d) => d.name === 'bravo')!
  const removal = await removeDevice(vault, a, alpha, target, { settings: 'c'.repeat(64) })
  t.same(rememberedRemovals(a).get(bTag), removal, 'the remover remembers it')
  t.ok((await readChain(vault)).devices.find((d) => d.name === 'alpha')!.removals?.[bTag], "the remover's record carries it")

  const other = db('other')
  t.ok((await removedDevices(vault, other)).has(bTag), 'another computer sees the marker')
  t.ok(rememberedRemovals(other).has(bTag), 'and remembers it')

  await provider.delete(marker)
  await t.rejects(removedDevices(vault, a), {
    code: 'EROLLBACK',
    message: /removal marker of bravo .* is gone, though this computer saw it/,
  })
  await t.rejects(removedDevices(vault, other), { code: 'EROLLBACK' })
  // A computer that never saw the marker learns of it from the remover's record.
  const fresh = await readChain(vault, db('fresh'))
  t.match(fresh.problems, [{ object: marker, markerGone: true, message: /though alpha \([0-9a-f]{8}\) saw it/ }])
  t.ok(fresh.devices.find((d) => d.name === 'bravo')?.markerGone, 'listed with its marker gone')

  // Written again, as it was: the recorded heads are those that count.
  await writeRemoval(vault, a, alpha, bTag, removal)
  t.same((await removedDevices(vault, a)).get(bTag), removal)
  t.same((await readChain(vault, db('later'))).problems, [])
})

t.test('removals only accumulate in a device record', async (t) => {
  const { provider, vault, db, marker, bTag, aTag } = await setup(t)
  const target = (await readChain(vault)).devices.find((d) => d.name === 'bravo')!
  await removeDevice(vault, db('a'), alpha, target, {})
  await provider.delete(marker)
  await touchDevice(vault, alpha, 'seen')
  const record = (await readChain(vault)).devices.find((d) => d.tag === aTag)!
  t.ok(record.removals?.[bTag], 'a deleted marker does not drop the removal from the record')
})

t.test('a record under another device name is reported, not dropped silently', async (t) => {
  const { provider, vault, db, aTag, bTag } = await setup(t)
  await provider.put(`devices/${bTag}`, await provider.get(`devices/${aTag}`))
  const chain = await readChain(vault, db('a'))
  t.same(
    chain.devices.map((d) => d.name),
    ['alpha'],
  )
  t.match(chain.problems, [{ object: `devices/${bTag}`, message: /holds the record of another device \(alpha, / }])
  await provider.put(`devices/${bTag}`, Buffer.from('not a record'))
  t.match((await readChain(vault)).problems, [{ object: `devices/${bTag}`, message: /fails authentication/ }])
})

t.test("two writers of one device's record at once: it ends with the bases the state database holds", async (t) => {
  const { provider, vault, db } = await setup(t)
  const a = db('a')
  const key = `devices/${vault.deviceTag(alpha.id)}`
  // The first write of the record waits until the second one has landed.
  const put = provider.put.bind(provider)
  let release = () => {}
  const gate = new Promise<void>((r) => (release = r))
  let held = false
  provider.put = async (k, data, o) => {
    if (k === key && !held) {
      held = true
      await gate
    }
    return put(k, data, o)
  }
  a.setMeta('tree:settings', 'a'.repeat(64))
  const slow = touchDevice(vault, alpha, 'seen', a)
  while (!held) await new Promise((r) => setTimeout(r, 5))
  // Meanwhile another process of this computer records a newer base, and its record lands first.
  a.setMeta('tree:settings', 'b'.repeat(64))
  await touchDevice(vault, alpha, 'seen', a)
  release()
  await slow
  const record = (await readChain(vault)).devices.find((d) => d.name === 'alpha')!
  t.same(record.bases, { [vault.space('settings').tag]: ['b'.repeat(64)] }, 'the newer base, not the one written last')
})
