/** On a terminal, `sync down` without --yes shows the plan and asks; only "y" applies it. */
import t from 'tap'
import { existsSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { cloudy, computer, initVault, joinVault, tempDir } from '../helpers/cli.js'
import { onTerminal } from '../helpers/terminal.js'

t.test('asks before applying on a terminal', async (t) => {
  const vault = tempDir(t, 'vault')
  const a = computer(t)
  await mkdir(join(a.home, 'cfg'))
  await writeFile(join(a.home, 'cfg/x'), 'x')
  await initVault(t, a, vault, ['~/cfg'], 'a')
  t.equal((await cloudy(a, ['sync', 'up'])).code, 0)
  const b = computer(t)
  await joinVault(t, b, vault, ['~/cfg'], 'b')

  const no = await onTerminal(b, ['sync', 'down'], 'n\n')
  t.equal(no.code, 0)
  t.match(no.out, /add\s+settings\/cfg\/x/, 'the plan is shown')
  t.match(no.out, /Apply these changes\? \[y\/N\]/)
  t.match(no.out, /Nothing was changed/)
  t.notOk(existsSync(join(b.home, 'cfg/x')))

  const yes = await onTerminal(b, ['sync', 'down'], 'y\n')
  t.equal(yes.code, 0, yes.out)
  t.match(yes.out, /applied 2 of 2 items/)
  t.ok(existsSync(join(b.home, 'cfg/x')))
})
