/** On a terminal, `sync down` without --yes shows the plan and asks; only "y" applies it. */
import t from 'tap'
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { BIN, cloudy, computer, initVault, joinVault, tempDir, type Computer } from '../helpers/cli.js'

/** Run `cloudy sync down` on a pseudo-terminal (util-linux `script`), typing `answer`. */
function onTerminal(c: Computer, answer: string): Promise<{ code: number; out: string }> {
  return new Promise((resolve, reject) => {
    const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`
    const child = spawn('script', ['-qec', `${quote(process.execPath)} ${quote(BIN)} sync down`, '/dev/null'], {
      env: { PATH: process.env.PATH, HOME: c.home, CLOUDY_HOME: c.cloudyHome, CLOUDY_PASSWORD: 'correct horse', TERM: 'dumb' },
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    let out = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (out += d))
    child.stdin.end(answer)
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code: code ?? 1, out })
    })
  })
}

t.test('asks before applying on a terminal', async (t) => {
  const vault = tempDir(t, 'vault')
  const a = computer(t)
  await mkdir(join(a.home, 'cfg'))
  await writeFile(join(a.home, 'cfg/x'), 'x')
  await initVault(t, a, vault, ['~/cfg'], 'a')
  t.equal((await cloudy(a, ['sync', 'up'])).code, 0)
  const b = computer(t)
  await joinVault(t, b, vault, ['~/cfg'], 'b')

  const no = await onTerminal(b, 'n\n')
  t.equal(no.code, 0)
  t.match(no.out, /add\s+settings\/cfg\/x/, 'the plan is shown')
  t.match(no.out, /Apply these changes\? \[y\/N\]/)
  t.match(no.out, /Nothing was changed/)
  t.notOk(existsSync(join(b.home, 'cfg/x')))

  const yes = await onTerminal(b, 'y\n')
  t.equal(yes.code, 0, yes.out)
  t.match(yes.out, /applied 2 of 2 items/)
  t.ok(existsSync(join(b.home, 'cfg/x')))
})
