/**
 * Cloudy's own files (the state database, its lock, config.toml) on a disk that fills up or
 * turns read-only: every command says which folder and what to do, exits 1 with no stack
 * trace, and the vault stays whole; once the disk is usable again the next run takes up where
 * the stopped one left off.
 */
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { cloudy, computer, initVault, ok, tempDir } from '../helpers/cli.js'

const asRoot = process.getuid?.() === 0
const STACK = /\n\s+at /

t.test("the disk of Cloudy's own files full, then read-only", { skip: !asRoot && 'needs root to mount' }, async (t) => {
  const a = computer(t)
  // A small disk of its own for CLOUDY_HOME: room for the set-up, not for the index of 3000 files.
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=300k', 'tmpfs', a.cloudyHome])
  t.teardown(() => execFileSync('umount', ['-l', a.cloudyHome], { timeout: 10_000, stdio: 'ignore' }))
  const remount = (o: string) => execFileSync('mount', ['-o', `remount,${o}`, a.cloudyHome])
  await mkdir(join(a.home, 'cfg'))
  for (let i = 0; i < 3000; i++) await writeFile(join(a.home, 'cfg', `f${i}`), `file ${i}\n`)
  await initVault(t, a, tempDir(t, 'vault'), ['~/cfg'], 'pc-a')

  const full = await cloudy(a, ['sync', 'up'])
  t.equal(full.code, 1, 'the up-sync stops')
  t.match(full.stderr, /^cloudy: the disk holding Cloudy's own files \(.+\) is full: free some space there/)
  t.notMatch(full.stderr, STACK, 'no stack trace')
  t.notMatch(full.stderr, /upload failed|unexpected/, 'not blamed on the storage account')

  remount('size=20m')
  t.match((await ok(t, a, ['sync', 'up'])).stdout, /settings: published .*: 3000 new/, 'with room, the next up-sync publishes')
  await ok(t, a, ['check', '--read-data'])

  remount('ro')
  await writeFile(join(a.home, 'cfg', 'new'), 'after')
  for (const args of [['sync', 'up'], ['status'], ['prune', '--grace', '2s'], ['history']]) {
    const r = await cloudy(a, args)
    t.equal(r.code, 1, `${args.join(' ')}: exit 1`)
    t.match(r.stderr, /^cloudy: Cloudy cannot write its own file .+ \(a read-only file system\): make it writable/)
    t.notMatch(r.stderr, STACK, 'no stack trace')
  }
  remount('rw')
  t.match((await ok(t, a, ['sync', 'up'])).stdout, /settings: published .*: 1 new/, 'writable again, the change goes up')
  await ok(t, a, ['check', '--read-data'])
})
