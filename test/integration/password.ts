/** Acceptance: wrong password is exit 3 with nothing written; after passwd the old password is exit 3. */
import t from 'tap'
import { existsSync } from 'node:fs'
import { stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { cloudy, computer, initVault, joinVault, tempDir } from '../helpers/cli.js'
import { listFiles } from '../helpers/tree.js'

/** Every file under `dir` with its size and time: equal snapshots mean nothing was written. */
async function snapshot(dir: string): Promise<string[]> {
  const files = await listFiles(dir)
  return Promise.all(files.sort().map(async (p) => `${p} ${(await stat(p)).size} ${(await stat(p)).mtimeMs}`))
}

t.test('wrong password, then passwd', async (t) => {
  const a = computer(t)
  const vault = tempDir(t, 'vault')
  await writeFile(join(a.home, '.gitconfig'), '[user]\n')
  await initVault(t, a, vault, ['~/.gitconfig'])
  t.equal((await cloudy(a, ['sync', 'up'])).code, 0)

  const before = await snapshot(vault)
  const stateBefore = await snapshot(a.cloudyHome)
  for (const cmd of [['sync', 'up'], ['sync', 'down', '--yes'], ['check'], ['passwd']]) {
    const r = await cloudy(a, cmd, { CLOUDY_PASSWORD: 'wrong', CLOUDY_NEW_PASSWORD: 'whatever' })
    t.equal(r.code, 3, `${cmd.join(' ')} with a wrong password exits 3`)
    t.match(r.stderr, /wrong password/)
  }
  t.same(await snapshot(vault), before, 'nothing written to the vault')
  t.same(await snapshot(a.cloudyHome), stateBefore, 'nothing written locally')

  const pw = await cloudy(a, ['passwd'], { CLOUDY_NEW_PASSWORD: 'battery staple' })
  t.equal(pw.code, 0, pw.stderr)
  const old = await cloudy(a, ['sync', 'up'])
  t.equal(old.code, 3, 'the old password no longer opens the vault')
  const fresh = await cloudy(a, ['check', '--read-data'], { CLOUDY_PASSWORD: 'battery staple' })
  t.equal(fresh.code, 0, 'the new one does, and the data is intact')

  const pwFile = join(a.cloudyHome, 'pw')
  await writeFile(pwFile, 'battery staple\n')
  t.equal((await cloudy(a, ['sync', 'up', '--password-file', pwFile], { CLOUDY_PASSWORD: '' })).code, 0, '--password-file works')
})

t.test('passwd on two computers at once: one new password holds, the other computer is told', async (t) => {
  const vault = tempDir(t, 'vault')
  const a = computer(t)
  await initVault(t, a, vault, [], 'alpha')
  const b = computer(t)
  await joinVault(t, b, vault, [], 'bravo')
  const [ra, rb] = await Promise.all([
    cloudy(a, ['passwd'], { CLOUDY_NEW_PASSWORD: 'new from alpha' }),
    cloudy(b, ['passwd'], { CLOUDY_NEW_PASSWORD: 'new from bravo' }),
  ])
  const opens = async (password: string) => (await cloudy(a, ['chain', 'list'], { CLOUDY_PASSWORD: password })).code === 0
  const works = { alpha: await opens('new from alpha'), bravo: await opens('new from bravo') }
  t.equal(works.alpha && works.bravo, false, 'not both new passwords open the vault')
  t.equal(await opens('correct horse'), false, 'the old one does not either')
  const winner = works.alpha ? ra : works.bravo ? rb : undefined
  t.ok(winner, 'one of the new passwords opens the vault')
  t.equal(winner?.code, 0, `the computer whose password holds said done: ${ra.stderr} / ${rb.stderr}`)
  const loser = winner === ra ? rb : ra
  t.not(loser.code, 0, 'the other one did not say done')
  t.match(loser.stderr, /another computer is changing it.*Nothing was changed here|wrong password/, 'and said why')
  t.notOk(existsSync(join(vault, 'Cloudy/keys/passwd.lock')), 'the lock is gone')
})

t.test('passwd while another computer changes it: refused, nothing changed; a stale lock is taken over', async (t) => {
  const vault = tempDir(t, 'vault')
  const a = computer(t)
  await initVault(t, a, vault, [])
  const lock = join(vault, 'Cloudy/keys/passwd.lock')
  await writeFile(lock, JSON.stringify({ since: new Date().toISOString() }))
  const slots = await listFiles(join(vault, 'Cloudy/keys'))
  const r = await cloudy(a, ['passwd'], { CLOUDY_NEW_PASSWORD: 'battery staple' })
  t.equal(r.code, 2, r.stderr)
  t.match(r.stderr, /ELOCKED|is in use by another Cloudy process: another computer is changing it since \S+Z.*Nothing was changed here/)
  t.same(await listFiles(join(vault, 'Cloudy/keys')), slots, 'no slot written or removed')
  t.equal((await cloudy(a, ['chain', 'list'])).code, 0, 'the old password still works')

  await writeFile(lock, JSON.stringify({ since: new Date(Date.now() - 3_600_000).toISOString() }))
  const taken = await cloudy(a, ['passwd'], { CLOUDY_NEW_PASSWORD: 'battery staple' })
  t.equal(taken.code, 0, `a lock an hour old was left by a stopped change: ${taken.stderr}`)
  t.equal((await cloudy(a, ['chain', 'list'], { CLOUDY_PASSWORD: 'battery staple' })).code, 0)
  t.notOk(existsSync(lock), 'the lock is gone')

  await writeFile(lock, 'not what Cloudy writes')
  const damaged = await cloudy(a, ['passwd'], { CLOUDY_PASSWORD: 'battery staple', CLOUDY_NEW_PASSWORD: 'third one' })
  t.equal(damaged.code, 0, `a damaged lock says no time and is taken over: ${damaged.stderr}`)
  t.notOk(existsSync(lock), 'the lock is gone')
})
