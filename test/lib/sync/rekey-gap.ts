/**
 * What a computer stores while another one rekeys the vault (docs/FORMAT.md, "Key epochs"). Its
 * up-sync may write index files, and even its head, with keys the rekey has just replaced, after
 * the rekey took stock: the chain does not trust them. They are stale, never damage: the other
 * computers go on syncing (the head as they last saw it stands in), check and chain list name
 * them, and the writer, given the new password, stores that data anew and writes its head and
 * its device record with the new keys.
 */
import t, { type Test } from 'tap'
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { openSession, type Session } from '../../../lib/session.js'
import { syncUpAll } from '../../../lib/sync/up-all.js'
import { touchDevice } from '../../../lib/sync/chain.js'
import { changeSelection } from '../../../lib/selection/records.js'
import { cloudy, computer, initVault, joinVault, setInclude, tempDir, type Computer } from '../../helpers/cli.js'

const OLD = 'correct horse'
const NEW = 'battery staple 2'

/** `c`'s session in this process, opened with the password from before the rekey. */
function session(t: Test, c: Computer): Promise<Session> {
  const env = { PATH: process.env.PATH, HOME: c.home, CLOUDY_HOME: c.cloudyHome, ...c.env }
  return openSession({ env, password: async () => OLD }).then((s) => {
    t.teardown(() => s.close())
    return s
  })
}

/** `cloudy ARGS` on `c` with `password`: exit 0, its output. */
async function run(t: Test, c: Computer, password: string, args: string[]): Promise<string> {
  const r = await cloudy(c, args, { CLOUDY_PASSWORD: password, CLOUDY_NEW_PASSWORD: NEW })
  t.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`)
  return r.stdout
}

/** A and B on one vault, each with the other's file (A's ~/cfg/f, B's ~/cfg/b). */
async function pair(t: Test) {
  const vault = tempDir(t, 'vault')
  const [a, b] = [computer(t), computer(t)]
  for (const c of [a, b]) await mkdir(join(c.home, 'cfg'))
  await writeFile(join(a.home, 'cfg', 'f'), 'from A')
  await initVault(t, a, vault, ['~/cfg'], 'pc-a')
  await run(t, a, OLD, ['sync', 'up'])
  await joinVault(t, b, vault, ['~/cfg'], 'pc-b')
  await run(t, b, OLD, ['sync', 'down', '--yes'])
  await writeFile(join(b.home, 'cfg', 'b'), 'from B')
  await run(t, b, OLD, ['sync', 'up'])
  await run(t, a, OLD, ['sync', 'down', '--yes'])
  return { vault, a, b }
}

/** B's session opened with the keys from before A rekeys the vault. */
async function keysBeforeRekey(t: Test, a: Computer, b: Computer): Promise<Session> {
  const sb = await session(t, b)
  await run(t, a, OLD, ['passwd', '--rekey', '--kdf', 'interactive'])
  return sb
}

/** `s`'s next look for a newer epoch is as if made a moment before the rekey: it finds none. */
function missNextLook(s: Session): void {
  const proto = Object.getPrototypeOf(s.vault) as Session['vault']
  let missed = false
  s.vault.newerEpochListed = async () => (missed ? proto.newerEpochListed.call(s.vault) : ((missed = true), false))
}

/** A computer joined with the new password, down-synced: it never saw a stale object's earlier version. */
async function newComputer(t: Test, vault: string): Promise<Computer> {
  const c = computer(t)
  await mkdir(join(c.home, 'cfg'))
  await run(t, c, NEW, ['join', '--provider', vault, '--name', 'pc-c'])
  await setInclude(c, ['~/cfg'])
  await run(t, c, NEW, ['sync', 'down', '--yes'])
  return c
}

t.test('stored while another computer rekeys: stale for the chain, never damage; stored anew with the new keys', async (t) => {
  const { vault, a, b } = await pair(t)

  // B holds the keys from before; A rekeys.
  const sb = await keysBeforeRekey(t, a, b)

  // 1. B's up-sync stores its data, then finds the new epoch before it writes its head.
  await writeFile(join(b.home, 'cfg', 'one'), 'stored while A rekeyed')
  await t.rejects(syncUpAll(sb), { code: 'EKEYSCHANGED' }, 'B stops before its head')
  let check = await run(t, a, NEW, ['check', '--read-data'])
  t.match(check, /^STALE s\/[0-9a-f]{32}\/index\/[0-9a-f]{64}: sealed with keys a rekey replaced/m, 'check names the index file')
  t.match(check, /No problems found/)
  await run(t, a, NEW, ['sync', 'down', '--yes'])

  // 2. B looked for a newer epoch a moment before the rekey was recorded, and wrote its head after.
  missNextLook(sb)
  await writeFile(join(b.home, 'cfg', 'two'), 'B’s head written after the rekey')
  await t.rejects(syncUpAll(sb), { code: 'EKEYSCHANGED' }, 'B finds the new epoch after its head')
  check = await run(t, a, NEW, ['check', '--read-data'])
  t.match(check, /^STALE s\/[0-9a-f]{32}\/heads\/[0-9a-f]{32}: /m, "check names B's head")
  t.match(check, /No problems found/)
  // A goes on: B's head as A last saw it stands in (not "gone", not damaged).
  await writeFile(join(a.home, 'cfg', 'f'), 'from A, after the rekey')
  await run(t, a, NEW, ['sync', 'up'])
  await run(t, a, NEW, ['sync', 'down', '--yes'])
  t.equal(await readFile(join(a.home, 'cfg', 'b'), 'utf8'), 'from B')
  t.notOk(existsSync(join(a.home, 'cfg', 'one')), 'nothing stale is applied')
  // 3. Its device record and its selection record, written the same way.
  missNextLook(sb)
  await touchDevice(sb.vault, sb.device, 'seen', sb.db)
  missNextLook(sb)
  await t.rejects(changeSelection(sb.vault, sb.db, sb.device.id, { 'include:~/notes': true }), { code: 'EKEYSCHANGED' })
  const chain = await run(t, a, NEW, ['chain', 'list'])
  t.match(chain, /^STALE devices\/[0-9a-f]{32}: device record sealed with keys a rekey replaced/m, 'chain list: stale, exit 0')
  check = await run(t, a, NEW, ['check'])
  t.match(check, /^STALE devices\/[0-9a-f]{32}: /m)
  t.match(check, /^STALE selection\/[0-9a-f]{32}: /m)
  t.notMatch(await run(t, a, NEW, ['selection']), /notes/, 'a stale selection record is left out')
  await sb.close()
  t.notMatch(await run(t, b, NEW, ['selection']), /notes/, 'nor on B: its change did not happen')

  // Given the new password, B stores what was stale anew and writes its head with the new keys.
  await run(t, b, NEW, ['sync', 'down', '--yes'])
  await run(t, b, NEW, ['sync', 'up'])
  await run(t, a, NEW, ['sync', 'down', '--yes'])
  for (const [name, text] of [
    ['one', 'stored while A rekeyed'],
    ['two', 'B’s head written after the rekey'],
  ] as const)
    t.equal(await readFile(join(a.home, 'cfg', name), 'utf8'), text, `A has B's ${name}`)
  check = await run(t, a, NEW, ['check', '--read-data'])
  t.notMatch(check, /STALE s\/[0-9a-f]{32}\/heads\/|STALE devices\//, "B's head and record are current again")
  t.match(check, /No problems found/)

  // A computer that never saw B's old head reads the new one.
  const c = await newComputer(t, vault)
  t.equal(await readFile(join(c.home, 'cfg', 'two'), 'utf8'), 'B’s head written after the rekey')
})

t.test('a stale head is written anew even when nothing changed since', async (t) => {
  const { vault, a, b } = await pair(t)

  // B's head lands just after A's rekey; then B takes its change back.
  const sb = await keysBeforeRekey(t, a, b)
  missNextLook(sb)
  // The folder's time as it was, to the nanosecond (what a tree records).
  const { mtimeNs } = await stat(join(b.home, 'cfg'), { bigint: true })
  const sec = mtimeNs / 1_000_000_000n
  const was = `@${sec}.${String(mtimeNs - sec * 1_000_000_000n).padStart(9, '0')}`
  await writeFile(join(b.home, 'cfg', 'gone'), 'taken back')
  await t.rejects(syncUpAll(sb), { code: 'EKEYSCHANGED' })
  await sb.close()
  await rm(join(b.home, 'cfg', 'gone'))
  execFileSync('touch', ['-m', '-d', was, join(b.home, 'cfg')])
  t.match(await run(t, a, NEW, ['check']), /^STALE s\/[0-9a-f]{32}\/heads\//m)

  // Nothing differs from what B last published, yet its head is written anew.
  t.match(await run(t, b, NEW, ['sync', 'up']), /^settings: published/m)
  t.notMatch(await run(t, a, NEW, ['check', '--read-data']), /STALE s\/[0-9a-f]{32}\/heads\//, "B's head is current again")
  const c = await newComputer(t, vault)
  t.equal(await readFile(join(c.home, 'cfg', 'b'), 'utf8'), 'from B', "a computer that never saw B's old head has B's file")
  t.notOk(existsSync(join(c.home, 'cfg', 'gone')))
  // Once is enough: the next up-sync with nothing new publishes nothing.
  t.notMatch(await run(t, b, NEW, ['sync', 'up']), /published/)
})
