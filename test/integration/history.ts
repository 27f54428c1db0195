/** `cloudy status`, `cloudy history [PATH]` and `cloudy restore --at WHEN PATH`. */
import t from 'tap'
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { cloudy, computer, initVault, joinVault, tempDir } from '../helpers/cli.js'

t.test('history lists versions; restore brings one back and keeps unsynced local work', async (t) => {
  const vault = tempDir(t, 'vault')
  const a = computer(t)
  await mkdir(join(a.home, 'cfg'))
  await writeFile(join(a.home, 'cfg/f.txt'), 'v1')
  await writeFile(join(a.home, 'cfg/g'), 'gone later')
  await initVault(t, a, vault, ['~/cfg'], 'a')
  const commits: string[] = []
  const up = async () => {
    const r = await cloudy(a, ['sync', 'up', '--json'])
    t.equal(r.code, 0, r.stderr)
    commits.push(JSON.parse(r.stdout).spaces[0].commit)
  }
  await up()
  await writeFile(join(a.home, 'cfg/f.txt'), 'v2 is longer')
  await rm(join(a.home, 'cfg/g'))
  await up()
  await writeFile(join(a.home, 'cfg/f.txt'), 'v3')
  await up()

  const all = JSON.parse((await cloudy(a, ['history', '--json'])).stdout)
  t.same(
    all.commits.map((c: { commit: string }) => c.commit),
    [...commits].reverse(),
    'every commit, newest first',
  )
  const hist = await cloudy(a, ['history', 'settings/cfg/f.txt', '--json'])
  t.equal(hist.code, 0)
  const versions = JSON.parse(hist.stdout).versions
  t.same(
    versions.map((v: { commit: string; size: number }) => [v.commit, v.size]),
    [
      [commits[2], 2],
      [commits[1], 12],
      [commits[0], 2],
    ],
  )
  const gHist = JSON.parse((await cloudy(a, ['history', join(a.home, 'cfg/g'), '--json'])).stdout).versions
  t.same(
    gHist.map((v: { kind: string }) => v.kind),
    ['deleted', 'file'],
    'a deletion is a version',
  )
  t.match((await cloudy(a, ['history', 'settings/cfg/f.txt'])).stdout, /^TIME \(UTC\)\s+DEVICE\s+VERSION\s+MODIFIED\s+COMMIT/)

  // The synced version is replaced (it is in the vault); nothing else appears.
  const r1 = await cloudy(a, ['restore', '--at', commits[1]!.slice(0, 10), 'settings/cfg/f.txt'])
  t.equal(r1.code, 0, r1.stderr)
  t.equal(await readFile(join(a.home, 'cfg/f.txt'), 'utf8'), 'v2 is longer')
  t.same((await readdir(join(a.home, 'cfg'))).sort(), ['f.txt'])

  // A local version never synced is kept beside the restored one.
  await writeFile(join(a.home, 'cfg/f.txt'), 'unsynced work')
  const r2 = await cloudy(a, ['restore', '--at', commits[0]!, join(a.home, 'cfg/f.txt')])
  t.equal(r2.code, 0, r2.stderr)
  t.match(r2.stdout, /kept the local version as cfg\/f\.conflict-a-\d{8}-\d{6}\.txt/)
  t.equal(await readFile(join(a.home, 'cfg/f.txt'), 'utf8'), 'v1')
  const copy = (await readdir(join(a.home, 'cfg'))).find((n) => n.startsWith('f.conflict-a-'))!
  t.equal(await readFile(join(a.home, 'cfg', copy), 'utf8'), 'unsynced work')

  // By time; a deleted file comes back.
  const time = all.commits.find((c: { commit: string }) => c.commit === commits[0]).time
  const r3 = await cloudy(a, ['restore', '--at', time, 'settings/cfg/g'])
  t.equal(r3.code, 0, r3.stderr)
  t.equal(await readFile(join(a.home, 'cfg/g'), 'utf8'), 'gone later')

  const early = await cloudy(a, ['restore', '--at', '2001-01-01', 'settings/cfg/g'])
  t.equal(early.code, 2)
  t.match(early.stderr, /nothing was synced that early/)
  const bad = await cloudy(a, ['restore', '--at', 'yesterday-ish', 'settings/cfg/g'])
  t.equal(bad.code, 2)
  t.match(bad.stderr, /not a time/)
  const missing = await cloudy(a, ['restore', '--at', commits[2]!, 'settings/cfg/nope'])
  t.equal(missing.code, 1)
  t.match(missing.stderr, /settings\/cfg\/nope did not exist at/)

  // status: local changes counted by stat; incoming changes on another computer.
  const st = JSON.parse((await cloudy(a, ['status', '--json'])).stdout).spaces[0]
  t.ok(st.lastUpSync, 'last up-sync known')
  t.same(st.pending, { added: 2, changed: 1, deleted: 0 }, 'the conflict copy and g are new, f.txt changed')
  t.same(st.incoming, { add: 0, update: 0, delete: 0 })
  t.equal((await cloudy(a, ['sync', 'up'])).code, 0)
  const b = computer(t)
  await joinVault(t, b, vault, ['~/cfg'], 'b')
  const sb = JSON.parse((await cloudy(b, ['status', '--json'])).stdout).spaces[0]
  t.same(sb.incoming, { add: 4, update: 0, delete: 0 })
  t.equal(sb.lastUpSync, undefined)
  t.match((await cloudy(b, ['status'])).stdout, /settings\s+never\s+0 new, 0 changed, 0 deleted\s+4 add, 0 update, 0 delete\s+0/)
  t.notOk(existsSync(join(b.home, 'cfg')), 'status changed nothing')
})

t.test('restore brings back what was deleted or changed here since the last sync', async (t) => {
  const a = computer(t)
  await mkdir(join(a.home, 'cfg/sub'), { recursive: true })
  await writeFile(join(a.home, 'cfg/gone.txt'), 'deleted by mistake')
  await writeFile(join(a.home, 'cfg/sub/edited.txt'), 'as synced')
  await initVault(t, a, tempDir(t, 'vault'), ['~/cfg'], 'a')
  t.equal((await cloudy(a, ['sync', 'up'])).code, 0)
  const commit = JSON.parse((await cloudy(a, ['history', '--json'])).stdout).commits[0].commit as string
  // Nothing sent since: the last synced state is that very version.
  await rm(join(a.home, 'cfg/gone.txt'))
  await writeFile(join(a.home, 'cfg/sub/edited.txt'), 'changed here, not sent')
  const one = await cloudy(a, ['restore', '--at', commit, join(a.home, 'cfg/gone.txt')])
  t.equal(one.code, 0, one.stderr)
  t.match(one.stdout, /1 items written/)
  t.equal(await readFile(join(a.home, 'cfg/gone.txt'), 'utf8'), 'deleted by mistake')
  const folder = await cloudy(a, ['restore', '--at', commit, join(a.home, 'cfg')])
  t.equal(folder.code, 0, folder.stderr)
  t.equal(await readFile(join(a.home, 'cfg/sub/edited.txt'), 'utf8'), 'as synced')
  const kept = (await readdir(join(a.home, 'cfg/sub'))).filter((n) => n.includes('.conflict-'))
  t.equal(kept.length, 1, 'the unsent change is kept beside it')
  t.equal(await readFile(join(a.home, 'cfg/sub', kept[0]!), 'utf8'), 'changed here, not sent')
})
