/** Acceptance: wrong password is exit 3 with nothing written; after passwd the old password is exit 3. */
import t from 'tap'
import { stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { cloudy, computer, initVault, tempDir } from '../helpers/cli.js'
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
