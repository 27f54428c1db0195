/**
 * Key epochs (docs/FORMAT.md, "Key epochs"): after `passwd --rekey`, a copy of the key slot taken
 * before it, with the old password, opens none of the objects written after (every one is
 * tried, with every key it gives); the new password still restores the history from before; the
 * other computer is asked for the new password once and syncs on. After `chain remove DEVICE
 * --rekey`, the removed computer's password and keys open nothing written after either. A service
 * that meets the new epoch while following the chain locks itself and asks for the new password.
 */
import t, { type Test } from 'tap'
import { createHash, randomBytes } from 'node:crypto'
import { cpSync, existsSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join, relative } from 'node:path'
import { cloudy, computer, initVault, joinVault, setInclude, tempDir, type Computer } from '../helpers/cli.js'
import { BlobType, open } from '../../lib/vault/aead.js'
import { deriveKek } from '../../lib/vault/kdf.js'
import { spaceKey, spaceKeys } from '../../lib/vault/keys.js'
import { openEpochRecord } from '../../lib/vault/epochs.js'
import { startService, until } from '../helpers/service.js'

const OLD = 'correct horse'
const NEW = 'battery staple 2'

/** `cloudy ARGS` on `c` with `password`, which must exit with `code`. */
async function as(t: Test, c: Computer, password: string, args: string[], code = 0) {
  const r = await cloudy(c, args, { CLOUDY_PASSWORD: password, CLOUDY_NEW_PASSWORD: NEW })
  t.equal(r.code, code, `${args.join(' ')}: ${r.stdout}${r.stderr}`)
  return r
}

/** Every object of the vault folder by path, with the hash of its bytes. */
function objects(root: string): Map<string, string> {
  const out = new Map<string, string>()
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name)
      if (e.name === '.tmp') continue
      if (e.isDirectory()) walk(p)
      else out.set(relative(root, p), createHash('sha256').update(readFileSync(p)).digest('hex'))
    }
  }
  walk(root)
  return out
}

/** The master key a copied slot gives with `password`. */
async function keyOf(keysDir: string, vaultId: string, password: string): Promise<Buffer> {
  for (const name of readdirSync(keysDir)) {
    if (!/^[0-9a-f]{32}$/.test(name)) continue
    const slot = JSON.parse(readFileSync(join(keysDir, name), 'utf8')) as { kdf: never; wrapped: string; epoch?: number }
    const kek = await deriveKek(password, slot.kdf)
    const ad = Buffer.from(slot.epoch ? `${vaultId}/${name}/epoch-${slot.epoch}` : `${vaultId}/${name}`)
    const key = open(kek, BlobType.keySlot, ad, Buffer.from(slot.wrapped, 'base64'))
    if (key) return Buffer.from(key)
  }
  throw new Error('the copied slot does not open with that password')
}

const SPACES = ['settings', 'apps', 'inventory', 'system', 'chain']

/**
 * Whether any key that `master` gives (every space's blob key, the epoch record key) opens the
 * object at `path` (relative to the vault folder), as any kind of object, with the ids its name gives.
 */
function opensWith(master: Buffer, root: string, path: string, vaultId: string): boolean {
  const bytes = readFileSync(join(root, path))
  const name = path.slice(path.lastIndexOf('/') + 1)
  if (path.startsWith('keys/epoch-')) return !!openEpochRecord(vaultId, Number(name.slice('epoch-'.length)), master, bytes)
  const ids: Buffer[] = []
  if (/^[0-9a-f]+$/.test(name) && name.length % 2 === 0) ids.push(Buffer.from(name, 'hex'))
  const tag = /^(?:devices|selection)\/([0-9a-f]{32})/.exec(path)?.[1]
  if (tag)
    ids.push(
      Buffer.from(tag, 'hex'),
      Buffer.concat([Buffer.from(tag, 'hex'), Buffer.from('.removed')]),
      Buffer.concat([Buffer.from(tag, 'hex'), Buffer.from('selection')]),
    )
  ids.push(Buffer.from('moved'), Buffer.from(path))
  // A pack: its header, at the end (the blobs in it are found through the header only).
  const sealed: Uint8Array[] = [bytes]
  if (path.includes('/packs/') && bytes.length > 4) {
    const hlen = bytes.readUInt32LE(bytes.length - 4)
    if (hlen + 4 <= bytes.length) sealed.push(bytes.subarray(bytes.length - 4 - hlen, bytes.length - 4))
  }
  for (const space of SPACES) {
    const k = spaceKeys(space, spaceKey(master, space))
    for (const s of sealed)
      for (const id of ids) for (let type = 1; type <= 15; type++) if (open(k.blobKey, type as BlobType, id, s)) return true
  }
  return false
}

/** Every object of the vault that `master` opens, key slots, cloudy.json and the pulse aside. */
function openedBy(master: Buffer, root: string, vaultId: string): string[] {
  return [...objects(root).keys()].filter((p) => sealedWithVaultKeys(p) && opensWith(master, root, p, vaultId))
}

/** Whether the object at `path` is sealed with the vault's keys (key slots, cloudy.json, the pulse and locks are not). */
const sealedWithVaultKeys = (p: string) => !/^keys\/[0-9a-f]{32}$/.test(p) && p !== 'cloudy.json' && p !== 'pulse' && !p.endsWith('.lock')

/** The objects written or rewritten since `before`, key slots, cloudy.json and the pulse aside (not sealed with the vault's keys). */
function writtenSince(root: string, before: Map<string, string>): string[] {
  return [...objects(root)]
    .filter(([p, h]) => before.get(p) !== h)
    .map(([p]) => p)
    .filter(sealedWithVaultKeys)
}

/** pc-a with ~/cfg/`file` up-synced (its first commit), and a second computer `name` joined and down-synced. */
async function chain(t: Test, file: string, text: string, name: string) {
  const vault = tempDir(t, 'vault')
  const root = join(vault, 'Cloudy')
  const a = computer(t)
  const b = computer(t)
  await mkdir(join(a.home, 'cfg'))
  await writeFile(join(a.home, 'cfg', file), text)
  await initVault(t, a, vault, ['~/cfg'], 'pc-a')
  const first = JSON.parse((await as(t, a, OLD, ['sync', 'up', '--json'])).stdout).spaces[0].commit as string
  await joinVault(t, b, vault, ['~/cfg'], name)
  await as(t, b, OLD, ['sync', 'down', '--yes'])
  const vaultId = JSON.parse(await readFile(join(root, 'cloudy.json'), 'utf8')).vaultId as string
  return { root, a, b, first, vaultId }
}

t.test('passwd --rekey: an old slot and password open nothing written after; history restores; the other computer asks once', async (t) => {
  const { root, a, b, first, vaultId } = await chain(t, 'before.txt', 'written before the rekey', 'pc-b')

  // What a thief keeps: the key slot as it was, and the old password.
  const stolen = tempDir(t, 'slot')
  cpSync(join(root, 'keys'), stolen, { recursive: true })
  const before = objects(root)
  const oldKey = await keyOf(stolen, vaultId, OLD)
  t.ok(
    [...before.keys()].some((p) => p.includes('/commits/') && opensWith(oldKey, root, p, vaultId)),
    'the old key opens what was written before (the way objects are tried works)',
  )

  const rekeyed = await as(t, a, OLD, ['passwd', '--rekey', '--kdf', 'interactive'])
  t.match(rekeyed.stdout, /rekeyed \(key epoch 1\)/)
  await as(t, a, OLD, ['status'], 3)
  await writeFile(join(a.home, 'cfg', 'after.txt'), 'written after the rekey')
  const second = JSON.parse((await as(t, a, NEW, ['sync', 'up', '--json'])).stdout).spaces[0].commit as string
  t.ok(second, 'A up-syncs with the new password')

  const written = writtenSince(root, before)
  for (const kind of ['/packs/', '/index/', '/commits/', '/heads/', 'devices/', 'keys/epoch-1'])
    t.ok(
      written.some((p) => p.includes(kind)),
      `written after the rekey: ${kind}`,
    )
  const opened = written.filter((p) => opensWith(oldKey, root, p, vaultId))
  t.same(opened, [], `none of the ${written.length} objects written after the rekey opens with the old slot and password`)

  // History from before restores with the new password.
  await as(t, a, NEW, ['restore', '--at', first, 'settings/cfg/before.txt'])
  t.equal(await readFile(join(a.home, 'cfg', 'before.txt'), 'utf8'), 'written before the rekey')
  const history = JSON.parse((await as(t, a, NEW, ['history', '--json'])).stdout).commits.map((c: { commit: string }) => c.commit)
  t.same(history, [second, first], 'the whole history is there')

  // B: asked for the new password (exit 3, saying why), then syncs on.
  const refused = await as(t, b, OLD, ['sync', 'down', '--yes'], 3)
  t.match(refused.stderr, /rekeyed.*give the password set then/s)
  await as(t, b, NEW, ['sync', 'down', '--yes'])
  t.equal(await readFile(join(b.home, 'cfg', 'after.txt'), 'utf8'), 'written after the rekey')
  await writeFile(join(b.home, 'cfg', 'from-b.txt'), 'B after the rekey')
  await as(t, b, NEW, ['sync', 'up'])
  await as(t, a, NEW, ['sync', 'down', '--yes'])
  t.equal(await readFile(join(a.home, 'cfg', 'from-b.txt'), 'utf8'), 'B after the rekey')
  const check = await as(t, a, NEW, ['check', '--read-data'])
  t.match(check.stdout, /Key epoch 1: the records of every epoch open/)
  t.same(
    writtenSince(root, before).filter((p) => opensWith(oldKey, root, p, vaultId)),
    [],
    'still nothing new opens with the old key after B synced',
  )
})

t.test('chain remove --rekey: the removed computer opens nothing written after', async (t) => {
  const { root, a, b: c, vaultId } = await chain(t, 'f', 'one', 'pc-c')
  // What the lost computer holds: its password, and the key it unlocked (as a copy of the slot gives it).
  const slot = tempDir(t, 'slot')
  cpSync(join(root, 'keys'), slot, { recursive: true })
  const cKey = await keyOf(slot, vaultId, OLD)
  const before = objects(root)

  const removed = await as(t, a, OLD, ['chain', 'remove', 'pc-c', '--rekey', '--kdf', 'interactive', '--yes'])
  t.match(removed.stdout, /Removed pc-c .*rekeyed \(key epoch 1\)/s)
  await writeFile(join(a.home, 'cfg', 'f'), 'two, after the removal')
  await as(t, a, NEW, ['sync', 'up'])
  const written = writtenSince(root, before)
  t.ok(written.length > 0)
  t.same(
    written.filter((p) => opensWith(cKey, root, p, vaultId)),
    [],
    `none of the ${written.length} objects written after opens with the removed computer's key`,
  )
  // Its saved state and password: refused before anything is read.
  const r = await as(t, c, OLD, ['sync', 'down', '--yes'], 3)
  t.match(r.stderr, /wrong password/)
  t.equal(await readFile(join(c.home, 'cfg', 'f'), 'utf8'), 'one', 'nothing came down to it')
  t.ok(statSync(join(root, 'keys', 'epoch-1')).size > 0)
})

t.test('a service that meets a rekey locks itself, says why, and follows on once unlocked anew', async (t) => {
  const { a, b } = await chain(t, 'before.txt', 'written before the rekey', 'pc-b')
  const noPassword = { CLOUDY_PASSWORD: undefined }
  const service = await startService(t, b, [], { CLOUDY_PASSWORD: OLD })
  await until(t, 'unlocked with the old password', () => /cloudy service: unlocked/.test(service.log()))

  await as(t, a, OLD, ['passwd', '--rekey', '--kdf', 'interactive'])
  await writeFile(join(a.home, 'cfg', 'after.txt'), 'written after the rekey')
  await as(t, a, NEW, ['sync', 'up'])
  // B's service follows the chain: the next down-sync meets the new epoch.
  await until(t, 'the service locks itself', () => /rekeyed on another computer; locking/.test(service.log()))
  await until(t, 'locked', async () =>
    /service: running \(process \d+\), locked:/.test((await cloudy(b, ['status'], { CLOUDY_PASSWORD: NEW })).stdout),
  )
  t.notOk(existsSync(join(b.home, 'cfg', 'after.txt')), 'nothing applied with keys the chain no longer trusts')
  const asked = await cloudy(b, ['sync', 'down', '--yes'], noPassword)
  t.equal(asked.code, 2, `a command asks for the password again: ${asked.stderr}`)

  const old = join(tempDir(t, 'pw'), 'old')
  await writeFile(old, `${OLD}\n`, { mode: 0o600 })
  const refused = await cloudy(b, ['unlock', '--password-file', old], noPassword)
  t.equal(refused.code, 3, `the old password unlocks nothing: ${refused.stderr}`)
  const fresh = join(tempDir(t, 'pw'), 'new')
  await writeFile(fresh, `${NEW}\n`, { mode: 0o600 })
  t.match((await cloudy(b, ['unlock', '--password-file', fresh], noPassword)).stdout, /Unlocked/)
  await until(t, "A's file from after the rekey, followed with no command typed", () => existsSync(join(b.home, 'cfg', 'after.txt')))
  t.equal(await readFile(join(b.home, 'cfg', 'after.txt'), 'utf8'), 'written after the rekey')
  t.equal(await service.stop(), 0, 'SIGTERM: stopped cleanly')
})

t.test('a rekey stopped after each of its steps: one password opens, says which, and a rerun finishes', async (t) => {
  const { root, a, b } = await chain(t, 'f', 'one', 'pc-b')
  const keys = join(root, 'keys')
  const oldSlots = tempDir(t, 'old-slots')
  cpSync(keys, oldSlots, { recursive: true })
  const slotsNow = () =>
    readdirSync(keys)
      .filter((n) => /^[0-9a-f]{32}$/.test(n))
      .sort()
  // A rekey whose last step has run: the old slots are gone.
  await as(t, a, OLD, ['passwd', '--rekey', '--kdf', 'interactive'])

  // Stopped after its first step (the new slot written, not the epoch record): the rekey did
  // not happen. The old password holds; the new one is refused, saying why.
  cpSync(oldSlots, keys, { recursive: true })
  rmSync(join(keys, 'epoch-1'))
  t.equal(slotsNow().length, 2, 'the old slot and the stopped rekey’s slot')
  const early = await as(t, b, NEW, ['sync', 'down', '--yes'], 3)
  t.match(early.stderr, /a rekey .* was setting when it stopped, before it took effect: the password from before still holds/s)
  await writeFile(join(b.home, 'cfg', 'f'), 'two, with the old keys')
  await as(t, b, OLD, ['sync', 'up'])
  await as(t, a, OLD, ['sync', 'down', '--yes'])
  t.equal(await readFile(join(a.home, 'cfg', 'f'), 'utf8'), 'two, with the old keys', 'the chain syncs on with the old password')
  t.equal((await as(t, a, OLD, ['check', '--read-data'])).code, 0)
  // Run again, it finishes, and takes the stopped one's slot away with the old ones.
  await as(t, a, OLD, ['passwd', '--rekey', '--kdf', 'interactive'])
  t.equal(slotsNow().length, 1, 'one slot: the new password’s')
  await as(t, b, NEW, ['sync', 'down', '--yes'])

  // Stopped before its last step (the record written, the old slots not yet deleted): the
  // rekey took effect. The old password is refused as out of date; check names the old slot;
  // the next password change removes it.
  cpSync(oldSlots, keys, { recursive: true })
  const late = await as(t, b, OLD, ['sync', 'down', '--yes'], 3)
  t.match(late.stderr, /keys were changed .*Give the new password/s)
  const check = await as(t, a, NEW, ['check'])
  t.match(check.stdout, /^OLD SLOT keys\/[0-9a-f]{32}: a key slot of an earlier key epoch/m)
  const changed = await cloudy(a, ['passwd', '--kdf', 'interactive'], { CLOUDY_PASSWORD: NEW, CLOUDY_NEW_PASSWORD: 'third one 3' })
  t.equal(changed.code, 0, changed.stderr)
  t.equal(slotsNow().length, 1, 'the old slot is gone with the changed password’s')
  t.notMatch((await as(t, a, 'third one 3', ['check'])).stdout, /OLD SLOT/)
  await as(t, b, 'third one 3', ['sync', 'down', '--yes'])
})

t.test('prune --reencrypt: once done and each computer has synced, the old key opens nothing in the vault', async (t) => {
  const { root, a, b, first, vaultId } = await chain(t, 'before.txt', 'written before the rekey', 'pc-b')
  await writeFile(join(b.home, 'cfg', 'from-b.txt'), 'B before the rekey')
  await as(t, b, OLD, ['sync', 'up'])
  await as(t, a, OLD, ['sync', 'down', '--yes'])
  const stolen = tempDir(t, 'slot')
  cpSync(join(root, 'keys'), stolen, { recursive: true })
  const oldKey = await keyOf(stolen, vaultId, OLD)
  const opened = () => openedBy(oldKey, root, vaultId)
  t.ok(opened().length > 5, 'before: the old key opens what was written before')

  await as(t, a, OLD, ['passwd', '--rekey', '--kdf', 'interactive'])
  const dry = await as(t, a, NEW, ['prune', '--reencrypt', '--dry-run'])
  t.match(dry.stdout, /would seal anew with the current keys: [1-9]\d* packs/, 'the dry run says what it would do')
  const pruned = await as(t, a, NEW, ['prune', '--reencrypt', '--grace', '2s'])
  t.match(pruned.stdout, /sealed anew with the current keys: [1-9]\d* packs \(copied out of\) and [1-9]\d* objects/)
  // Heads and device records are their computers' own: each seals them anew at its next sync.
  await as(t, b, NEW, ['sync', 'up'])
  await as(t, a, NEW, ['sync', 'up'])
  t.same(opened(), [], 'the old key opens nothing left in the vault')

  await as(t, a, NEW, ['restore', '--at', first, 'settings/cfg/before.txt'])
  t.equal(await readFile(join(a.home, 'cfg', 'before.txt'), 'utf8'), 'written before the rekey', 'history from before restores')
  await as(t, a, NEW, ['check', '--read-data'])
  const c = computer(t)
  await mkdir(join(c.home, 'cfg'))
  await as(t, c, NEW, ['join', '--provider', join(root, '..'), '--name', 'pc-c'])
  await setInclude(c, ['~/cfg'])
  await as(t, c, NEW, ['sync', 'down', '--yes'])
  t.equal(await readFile(join(c.home, 'cfg', 'from-b.txt'), 'utf8'), 'B before the rekey', 'a new computer gets everything')
})

t.test('prune --reencrypt whose uploads fail part-way leaves the vault whole; a later run finishes', async (t) => {
  const { root, a, b, first, vaultId } = await chain(t, 'before.txt', 'written before the rekey', 'pc-b')
  // Bytes that do not compress, so that the copies fill several small packs.
  const more = Array.from({ length: 12 }, () => randomBytes(3000))
  for (const [i, bytes] of more.entries()) await writeFile(join(a.home, 'cfg', `more-${i}`), bytes)
  await as(t, a, OLD, ['sync', 'up'])
  const stolen = tempDir(t, 'slot')
  cpSync(join(root, 'keys'), stolen, { recursive: true })
  const oldKey = await keyOf(stolen, vaultId, OLD)
  await as(t, a, OLD, ['passwd', '--rekey', '--kdf', 'interactive'])

  // Uploads refused at random, at rates that stop the run at different points (the first copy,
  // a pack's copies, the records sealed anew in place, the marks).
  let failed = 0
  for (const [i, rate] of [0.6, 0.3, 0.15, 0.05].entries()) {
    const r = await cloudy(a, ['prune', '--reencrypt', '--grace', '2s'], {
      CLOUDY_PASSWORD: NEW,
      CLOUDY_FAULT_INJECTION: `putfail=${rate},seed=${11 + i}`,
      CLOUDY_PACK_SIZE: '8192',
    })
    if (r.code !== 0) {
      failed++
      t.equal(r.code, 5, `a refused upload is the provider's error: ${r.stderr}`)
      t.notMatch(r.stderr, /unexpected|\n\s+at /, 'named, without a stack trace')
    }
    await as(t, a, NEW, ['check', '--read-data'])
    await as(t, a, NEW, ['restore', '--at', first, 'settings/cfg/before.txt'])
    t.equal(await readFile(join(a.home, 'cfg', 'before.txt'), 'utf8'), 'written before the rekey', `history restores after run ${i + 1}`)
  }
  t.ok(failed > 0, `${failed} of the faulty runs stopped part-way`)

  await as(t, a, NEW, ['prune', '--reencrypt', '--grace', '2s'])
  await as(t, b, NEW, ['sync', 'down', '--yes'])
  await as(t, b, NEW, ['sync', 'up'])
  await as(t, a, NEW, ['sync', 'up'])
  t.same(openedBy(oldKey, root, vaultId), [], 'the old key opens nothing left in the vault')
  // The packs of copies a stopped run stored without their index file: deleted by a prune once
  // seen for the grace period.
  await new Promise((r) => setTimeout(r, 2100))
  await as(t, a, NEW, ['prune', '--grace', '2s'])
  t.notMatch((await as(t, a, NEW, ['check', '--read-data'])).stdout, /ORPHAN/, 'no pack left that no index lists')
  for (const [i, bytes] of more.entries()) t.same(await readFile(join(b.home, 'cfg', `more-${i}`)), bytes, `B has more-${i}, byte for byte`)
})
