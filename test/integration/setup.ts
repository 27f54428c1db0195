/**
 * `cloudy setup` on a terminal, end to end, as a new user types it: the strength estimate
 * refuses 123456, the accepted password is typed twice (and never again: the first up-sync
 * uses the key setup holds), and it ends with a vault and a first up-sync. And the same
 * choices as flags, for scripts.
 */
import t from 'tap'
import { existsSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { cloudy, computer, tempDir } from '../helpers/cli.js'
import { converse } from '../helpers/terminal.js'

const STRONG = 'violet harbour tractor 1987 sandals'

t.test('setup on a terminal: asks, refuses 123456, creates the vault and sends the first up-sync', async (t) => {
  const a = computer(t)
  await mkdir(join(a.home, 'cfg'))
  await writeFile(join(a.home, 'cfg/app.conf'), 'theme = dark\n')
  await writeFile(join(a.home, '.bashrc'), 'alias ll="ls -l"\n')
  const vault = join(tempDir(t, 'vault'), 'nested', 'vault')
  const r = await converse(
    a,
    ['setup', '--kdf', 'interactive'],
    [
      { expect: /Where should the vault live\?[^\n]*\n\[[^\]]*\] $/, answer: `${vault}\r` },
      { expect: /New master password: $/, answer: '123456\r' },
      { expect: /Too easy to guess[\s\S]*New master password: $/, answer: `${STRONG}\r` },
      { expect: /Repeat it: $/, answer: `${STRONG}\r` },
      { expect: /your settings[^\n]*\[Y\/n\] $/, answer: '\r' },
      { expect: /applications' settings and data[^\n]*\[Y\/n\] $/, answer: 'n\r' },
      { expect: /this computer's settings[^\n]*\[Y\/n\] $/, answer: 'n\r' },
      { expect: /installed applications[^\n]*\[Y\/n\] $/, answer: 'n\r' },
      { expect: /files and folders to collect now[^\n]*: $/, answer: '~/cfg ~/.bashrc\r' },
      { expect: /Start the Cloudy service at each login[^\n]*\[Y\/n\] $/, answer: 'n\r' },
    ],
  )
  t.equal(r.code, 0, r.out)
  t.equal(r.answered, 10, 'every question was asked')
  t.match(r.out, /Strength: 0\/4, too guessable/, 'the estimate is shown')
  t.match(r.out, /Too easy to guess/, '123456 is refused')
  t.equal(r.out.match(/New master password: /g)?.length, 2, 'asked again after the refusal')
  t.equal(r.out.match(/Repeat it: /g)?.length, 1, 'the accepted password is typed twice in all')
  t.notMatch(r.out, /Master password: /, 'and never asked for again')
  t.match(r.out, /Created vault [0-9a-f]{32}/)
  t.match(r.out, /settings: sent 2 files/, 'the first up-sync ran')
  t.notOk(r.out.includes(STRONG), 'the password was not echoed')
  t.ok(existsSync(join(vault, 'Cloudy', 'cloudy.json')), 'the vault was made, in a folder that did not exist')

  // The vault opens with the password chosen, and holds what the first up-sync sent.
  const b = computer(t)
  const joined = await cloudy(b, ['join', '--provider', vault, '--name', 'b'], { CLOUDY_PASSWORD: STRONG })
  t.equal(joined.code, 0, joined.stderr)
  t.match((await cloudy(b, ['sync', 'down', '--preview'], { CLOUDY_PASSWORD: STRONG })).stdout, /add\s+settings\/cfg\/app\.conf/)
})

t.test('setup for scripts: flags, a weak password refused unless --force', async (t) => {
  const a = computer(t)
  await writeFile(join(a.home, '.profile'), 'export EDITOR=vi\n')
  const vault = tempDir(t, 'vault')
  const weak = await cloudy(a, ['setup', '--provider', vault, '--kdf', 'interactive', '--collect', 'settings', '--add', '~/.profile'], {
    CLOUDY_PASSWORD: '123456',
  })
  t.equal(weak.code, 2)
  t.match(weak.stderr, /too easy to guess .*--force/)
  t.notOk(existsSync(join(vault, 'Cloudy', 'cloudy.json')), 'nothing was created')
  const forced = await cloudy(
    a,
    ['setup', '--provider', vault, '--kdf', 'interactive', '--collect', 'settings', '--add', '~/.profile', '--force', '--no-service'],
    { CLOUDY_PASSWORD: '123456' },
  )
  t.equal(forced.code, 0, forced.stderr)
  t.match(forced.stdout, /settings: sent 1 file\b/)
  const again = await cloudy(a, ['setup', '--provider', vault], { CLOUDY_PASSWORD: STRONG })
  t.equal(again.code, 2, 'a computer is set up once')
  const other = computer(t)
  const there = await cloudy(other, ['setup', '--provider', vault], { CLOUDY_PASSWORD: STRONG })
  t.equal(there.code, 2)
  t.match(there.stderr, /already there: add this computer to it with "cloudy join --provider/)
})
