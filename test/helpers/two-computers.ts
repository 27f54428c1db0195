/**
 * The two-computer scenario of the sync engine, run against every provider: two computers of
 * one chain (two HOME/CLOUDY_HOME pairs) join, preview, down-sync in part and in full, edit and
 * delete both ways, up-sync at the same moment, meet conflicts, and take a device out.
 */
import type { Test } from 'tap'
import { mkdir, readFile, rm, symlink, utimes, writeFile } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { cloudy, ok, computer, initVault, joinVault, previewOps, type Computer } from './cli.js'
import { describeTree } from './tree.js'

const INCLUDE = ['~/cfg', '~/.gitconfig']

async function synced(c: Computer) {
  return [...(await describeTree(join(c.home, 'cfg'))), ...(await describeTree(c.home)).filter((d) => d.path === '.gitconfig')]
}

/** Where the scenario's vault lives: a provider URL, and how a computer is set up to reach it. */
export interface VaultPlace {
  url: string
  /** Set a computer up for the provider (credentials, environment); nothing for a local folder. */
  setup(c: Computer): Promise<void>
}

/** The scenario, against the vault at `place`. */
export async function twoComputers(t: Test, place: VaultPlace): Promise<void> {
  const vault = place.url
  const a = computer(t)
  await place.setup(a)
  await mkdir(join(a.home, 'cfg/sub'), { recursive: true })
  await writeFile(join(a.home, 'cfg/a.txt'), 'alpha')
  await writeFile(join(a.home, 'cfg/b.txt'), 'bravo')
  await writeFile(join(a.home, 'cfg/sub/c.txt'), 'charlie')
  await symlink('a.txt', join(a.home, 'cfg/link'))
  await writeFile(join(a.home, '.gitconfig'), '[user]\n\tname = A\n')
  await writeFile(join(a.home, 'not-included'), 'stays on A')
  await initVault(t, a, vault, INCLUDE, 'alpha-pc')
  await ok(t, a, ['sync', 'up'], 'up-sync on A')

  const b = computer(t)
  await place.setup(b)
  await joinVault(t, b, vault, INCLUDE, 'bravo-pc')
  t.same(
    await previewOps(b),
    [
      'add settings/.gitconfig',
      'add settings/cfg',
      'add settings/cfg/a.txt',
      'add settings/cfg/b.txt',
      'add settings/cfg/link',
      'add settings/cfg/sub',
      'add settings/cfg/sub/c.txt',
    ],
    'the preview lists exactly the adds',
  )
  t.notOk(existsSync(join(b.home, 'cfg')), 'the preview changed nothing')

  await ok(t, b, ['sync', 'down', '--yes', '--only', 'settings/cfg/a.txt', join(b.home, '.gitconfig')], 'partial down-sync')
  t.equal(await readFile(join(b.home, 'cfg/a.txt'), 'utf8'), 'alpha')
  t.equal(await readFile(join(b.home, '.gitconfig'), 'utf8'), '[user]\n\tname = A\n')
  t.notOk(existsSync(join(b.home, 'cfg/b.txt')), 'an item not asked for is not applied')
  t.notOk(existsSync(join(b.home, 'cfg/sub')), 'nor a folder not asked for')
  t.same(await previewOps(b), ['add settings/cfg/b.txt', 'add settings/cfg/link', 'add settings/cfg/sub', 'add settings/cfg/sub/c.txt'])

  await ok(t, b, ['sync', 'down', '--yes'], 'full down-sync')
  t.same(await synced(b), await synced(a), 'B equals A')
  t.notOk(existsSync(join(b.home, 'not-included')))
  t.same(await previewOps(b), [], 'nothing left to do')
  const up = await ok(t, b, ['sync', 'up'], 'up-sync on B after the down-sync')
  t.match(up.stdout, /no change/, 'a down-sync is not sent back as a change')

  const chain = JSON.parse((await ok(t, b, ['chain', 'list', '--json'], 'chain list')).stdout)
  t.same(
    chain.devices.map((d: { name: string; self: boolean }) => [d.name, d.self]),
    [
      ['alpha-pc', false],
      ['bravo-pc', true],
    ],
  )
  t.ok(chain.devices[0].lastUpSync, 'A has up-synced')
  t.notOk(chain.devices[1].lastUpSync, 'B has not published anything')

  await t.test('an edit and a deletion on A reach B', async (t) => {
    await writeFile(join(a.home, 'cfg/a.txt'), 'alpha, edited')
    await rm(join(a.home, 'cfg/b.txt'))
    await rm(join(a.home, 'cfg/sub'), { recursive: true })
    await ok(t, a, ['sync', 'up'], 'up A')
    t.same(await previewOps(b), [
      'delete settings/cfg/b.txt',
      'delete settings/cfg/sub',
      'delete settings/cfg/sub/c.txt',
      'update settings/cfg/a.txt',
    ])
    await ok(t, b, ['sync', 'down', '--yes'], 'down B')
    t.equal(await readFile(join(b.home, 'cfg/a.txt'), 'utf8'), 'alpha, edited')
    t.notOk(existsSync(join(b.home, 'cfg/b.txt')), 'deleted on B too')
    t.notOk(existsSync(join(b.home, 'cfg/sub')), 'the folder too')
    t.same(await synced(b), await synced(a))
  })

  await t.test('edits of different files on both sides at once: no lost update', async (t) => {
    await writeFile(join(a.home, 'cfg/a.txt'), 'edited on A')
    await writeFile(join(b.home, '.gitconfig'), '[user]\n\tname = B\n')
    await writeFile(join(b.home, 'cfg/new-on-b'), 'new on B')
    // Both up-sync at the same moment: no lock, both succeed.
    const [ua, ub] = await Promise.all([cloudy(a, ['sync', 'up']), cloudy(b, ['sync', 'up'])])
    t.equal(ua.code, 0, ua.stderr)
    t.equal(ub.code, 0, ub.stderr)
    for (const c of [a, b, a, b]) await ok(t, c, ['sync', 'down', '--yes'], 'down')
    for (const c of [a, b]) await ok(t, c, ['sync', 'up'], 'up')
    for (const c of [a, b]) await ok(t, c, ['sync', 'down', '--yes'], 'down')
    for (const c of [a, b]) {
      t.equal(await readFile(join(c.home, 'cfg/a.txt'), 'utf8'), 'edited on A')
      t.equal(await readFile(join(c.home, '.gitconfig'), 'utf8'), '[user]\n\tname = B\n')
      t.equal(await readFile(join(c.home, 'cfg/new-on-b'), 'utf8'), 'new on B')
    }
    t.same(await synced(b), await synced(a), 'A and B converge')
    t.same(await previewOps(a), [])
    t.same(await previewOps(b), [])
  })

  await t.test('the same file edited on both sides: a conflict, both versions kept', async (t) => {
    await writeFile(join(a.home, 'cfg/a.txt'), 'A version')
    await ok(t, a, ['sync', 'up'], 'up A')
    await writeFile(join(b.home, 'cfg/a.txt'), 'B version, never synced')
    // The local version is the older one: the incoming keeps the name.
    const past = new Date('2026-01-02T03:04:05Z')
    await utimes(join(b.home, 'cfg/a.txt'), past, past)
    const preview = JSON.parse((await ok(t, b, ['sync', 'down', '--preview', '--json'], 'preview')).stdout).spaces[0].items
    t.same(
      preview.map((i: { op: string; item: string }) => `${i.op} ${i.item}`),
      ['conflict settings/cfg/a.txt'],
    )
    t.match(
      preview[0].reason,
      /changed here since the last sync and changed in the chain: the local version is kept as a\.conflict-bravo-pc-20260102-030405\.txt/,
    )
    t.equal(preview[0].local.size, 'B version, never synced'.length)
    t.equal(preview[0].incoming.size, 'A version'.length)
    t.equal(preview[0].incoming.device, 'alpha-pc')
    const table = await ok(t, b, ['sync', 'down', '--preview'], 'preview table')
    t.match(table.stdout, /^ACTION\s+ITEM\s+LOCAL\s+INCOMING/)
    t.match(table.stdout, /conflict\s+settings\/cfg\/a\.txt\s+23 B 2026-01-02 03:04:05\s+9 B \S+ \S+ alpha-pc/)

    const down = await cloudy(b, ['sync', 'down', '--yes'])
    t.equal(down.code, 6, 'exit 6: done, with a conflict')
    t.match(down.stdout, /conflict: settings\/cfg\/a\.txt/)
    t.equal(await readFile(join(b.home, 'cfg/a.txt'), 'utf8'), 'A version', 'the newer (incoming) version keeps the name')
    t.equal(await readFile(join(b.home, 'cfg/a.conflict-bravo-pc-20260102-030405.txt'), 'utf8'), 'B version, never synced')

    // Local newer than incoming: the local version keeps the name, the incoming goes beside.
    await writeFile(join(a.home, 'cfg/a.txt'), 'A again')
    await utimes(join(a.home, 'cfg/a.txt'), past, past)
    await ok(t, a, ['sync', 'up'], 'up A')
    await writeFile(join(b.home, 'cfg/a.txt'), 'B again, newer')
    t.equal((await cloudy(b, ['sync', 'down', '--yes'])).code, 6)
    t.equal(await readFile(join(b.home, 'cfg/a.txt'), 'utf8'), 'B again, newer')
    t.equal(await readFile(join(b.home, 'cfg/a.conflict-alpha-pc-20260102-030405.txt'), 'utf8'), 'A again')

    // Both versions reach A with the next round; then everything is equal.
    await ok(t, b, ['sync', 'up'], 'up B')
    await ok(t, a, ['sync', 'down', '--yes'], 'down A')
    t.same(await synced(a), await synced(b))
  })

  await t.test('the same file changed and up-synced on both sides: the merge keeps both', async (t) => {
    await writeFile(join(a.home, 'cfg/m.txt'), 'base')
    await ok(t, a, ['sync', 'up'], 'up A')
    await ok(t, b, ['sync', 'down', '--yes'], 'down B')
    await writeFile(join(a.home, 'cfg/m.txt'), 'merge A')
    await utimes(join(a.home, 'cfg/m.txt'), new Date('2026-03-01T00:00:00Z'), new Date('2026-03-01T00:00:00Z'))
    await writeFile(join(b.home, 'cfg/m.txt'), 'merge B')
    await utimes(join(b.home, 'cfg/m.txt'), new Date('2026-03-02T00:00:00Z'), new Date('2026-03-02T00:00:00Z'))
    await Promise.all([ok(t, a, ['sync', 'up'], 'up A'), ok(t, b, ['sync', 'up'], 'up B')])
    const ops = await previewOps(a)
    t.same(ops, ['add settings/cfg/m.conflict-alpha-pc-20260301-000000.txt', 'conflict settings/cfg/m.txt'])
    t.equal((await cloudy(a, ['sync', 'down', '--yes'])).code, 6, 'A reports the conflict')
    t.equal((await cloudy(b, ['sync', 'down', '--yes'])).code, 0, 'B already has the winning version; it only gains the copy')
    for (const c of [a, b]) {
      t.equal(await readFile(join(c.home, 'cfg/m.txt'), 'utf8'), 'merge B', 'the newer version keeps the name')
      t.equal(await readFile(join(c.home, 'cfg/m.conflict-alpha-pc-20260301-000000.txt'), 'utf8'), 'merge A')
    }
    t.same(await synced(a), await synced(b))
  })

  await t.test('a device taken out of the chain: what it published stays, it is refused from then on', async (t) => {
    await writeFile(join(b.home, 'cfg/from-b.txt'), 'B, before its removal')
    await ok(t, b, ['sync', 'up'], 'up B')
    await ok(t, a, ['chain', 'remove', 'bravo-pc'], 'remove B (before A down-synced its last up-sync)')
    await ok(t, a, ['sync', 'down', '--yes'], 'down A')
    t.equal(await readFile(join(a.home, 'cfg/from-b.txt'), 'utf8'), 'B, before its removal', "B's last up-sync still reaches A")
    t.equal(await readFile(join(a.home, 'cfg/m.txt'), 'utf8'), 'merge B', "B's earlier work is not undone")
    const list = JSON.parse((await ok(t, a, ['chain', 'list', '--json'], 'list')).stdout)
    t.ok(list.devices.find((d: { name: string }) => d.name === 'bravo-pc').removed, 'listed as removed')
    const r = await cloudy(b, ['sync', 'up'])
    t.equal(r.code, 2)
    t.match(r.stderr, /was removed from the chain by alpha-pc/)
    t.equal((await cloudy(a, ['chain', 'remove', 'alpha-pc'])).code, 2, 'a computer cannot remove itself')
  })
}
