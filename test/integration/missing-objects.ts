/**
 * Something the vault refers to is gone: a pack an index lists, a blob no index lists. That is
 * integrity damage (exit 7) named with the way to see all of it, not a failure (exit 1) or an
 * "unexpected error" with a stack.
 */
import t from 'tap'
import Database from 'better-sqlite3'
import { rm, writeFile } from 'node:fs/promises'
import { join, relative } from 'node:path'
import { cloudy, computer, initVault, joinVault, tempDir } from '../helpers/cli.js'
import { listFiles } from '../helpers/tree.js'

t.test('packs gone from the vault: exit 7 naming a missing pack and "cloudy check"', async (t) => {
  const vault = tempDir(t, 'vault')
  const a = computer(t)
  await writeFile(join(a.home, '.bashrc'), 'alias ll="ls -l"\n')
  await initVault(t, a, vault, ['~/.bashrc'], 'alpha')
  t.equal((await cloudy(a, ['sync', 'up'])).code, 0)
  const b = computer(t)
  await joinVault(t, b, vault, ['~/.bashrc'], 'bravo')
  const packs = await listFiles(vault, '/packs/')
  t.ok(packs.length > 0)
  for (const p of packs) await rm(p)
  await writeFile(join(a.home, '.bashrc'), 'alias ll="ls -la"\n')

  for (const [who, args] of [
    [b, ['sync', 'down', '--yes']],
    [a, ['history', 'settings/.bashrc']],
    [a, ['sync', 'up']],
  ] as const) {
    const r = await cloudy(who, [...args])
    t.equal(r.code, 7, `${args.join(' ')}: exit 7 (${r.stderr})`)
    t.notMatch(r.stderr, /unexpected error|\n\s+at /, 'no stack')
    t.match(r.stderr, /integrity damage in s\/\w+\/packs\/\w+\/\w+: this pack is missing, though an index file lists blobs in it/)
    t.ok(
      packs.some((p) => r.stderr.includes(relative(join(vault, 'Cloudy'), p))),
      'names one of the missing packs',
    )
    t.match(r.stderr, /Run "cloudy check" to list all the damage/)
  }
})

t.test('a blob no index lists: exit 7 naming it and "cloudy check"', async (t) => {
  const vault = tempDir(t, 'vault')
  const a = computer(t)
  await writeFile(join(a.home, '.bashrc'), 'same content\n')
  await initVault(t, a, vault, ['~/.bashrc', '~/.profile'], 'alpha')
  t.equal((await cloudy(a, ['sync', 'up'])).code, 0)
  const b = computer(t)
  await joinVault(t, b, vault, ['~/.bashrc', '~/.profile'], 'bravo')
  t.equal((await cloudy(b, ['sync', 'down', '--yes'])).code, 0)
  // B's copy of the index forgets the file's data blob (type 1) (the index files it read are known, so
  // none is read again); a new file with the same content then needs that blob.
  const db = new Database(join(b.cloudyHome, 'state.db'))
  const removed = db.prepare('DELETE FROM blobs WHERE type = 1').run().changes
  db.close()
  t.ok(removed > 0, 'data blobs forgotten')
  await writeFile(join(a.home, '.profile'), 'same content\n')
  t.equal((await cloudy(a, ['sync', 'up'])).code, 0)
  const r = await cloudy(b, ['sync', 'down', '--yes'])
  t.equal(r.code, 7, `exit 7 (${r.stderr})`)
  t.notMatch(r.stderr, /unexpected error|\n\s+at /, 'no stack')
  t.match(r.stderr, /integrity damage in blob [0-9a-f]{64}: settings\/\.profile needs it, but no index file of the vault lists it/)
  t.match(r.stderr, /Run "cloudy check" to list all the damage/)
})
