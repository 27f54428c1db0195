/**
 * The command line as a shell user meets it: a mistyped command gets a suggestion, --version,
 * completion scripts that complete in a real bash, --only that names nothing, questions asked
 * on a terminal before what cannot be undone, and a removed computer that comes back.
 */
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { chmodSync, existsSync, readFileSync, readdirSync } from 'node:fs'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { BIN, cloudy, computer, initVault, joinVault, ok, tempDir } from '../helpers/cli.js'
import { onTerminal } from '../helpers/terminal.js'

const VERSION = (JSON.parse(readFileSync(resolve(import.meta.dirname, '../../package.json'), 'utf8')) as { version: string }).version

t.test('a mistyped command gets a suggestion; --version says the version', async (t) => {
  const c = computer(t)
  const typo = await cloudy(c, ['stauts'])
  t.equal(typo.code, 2)
  t.match(typo.stderr, /Did you mean status\?/)
  const sub = await cloudy(c, ['sync', 'upp'])
  t.equal(sub.code, 2)
  t.match(sub.stderr, /Did you mean up\?/)
  const v = await cloudy(c, ['--version'])
  t.equal(v.code, 0)
  t.equal(v.stdout.trim(), VERSION)
})

t.test('the bash completion script completes commands, subcommands and options', async (t) => {
  const c = computer(t)
  // `cloudy` on PATH, as `npm link` or `npm install -g` puts it.
  const bin = tempDir(t, 'bin')
  await writeFile(join(bin, 'cloudy'), `#!/bin/sh\nexec '${process.execPath}' '${BIN}' "$@"\n`)
  chmodSync(join(bin, 'cloudy'), 0o755)
  const script = await cloudy(c, ['completion', 'bash'])
  t.equal(script.code, 0, script.stderr)
  const file = join(tempDir(t, 'completion'), 'cloudy.bash')
  await writeFile(file, script.stdout)
  const complete = (...words: string[]) =>
    execFileSync(
      'bash',
      [
        '-c',
        `source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _cloudy_completions; printf '%s\\n' "\${COMPREPLY[@]}"`,
        'complete',
        file,
        'cloudy',
        ...words,
      ],
      { env: { PATH: `${bin}:${process.env.PATH}`, HOME: c.home, CLOUDY_HOME: c.cloudyHome }, encoding: 'utf8' },
    )
      .split('\n')
      .filter(Boolean)
  t.same(complete('sy'), ['sync'])
  t.same(complete('sync', 'd'), ['down'])
  t.same(complete('sync', 'down', '--pre'), ['--preview'])
  t.same(complete('completion', 'z'), ['zsh'])
  for (const shell of ['zsh', 'fish']) {
    const other = await cloudy(c, ['completion', shell])
    t.equal(other.code, 0)
    t.match(other.stdout, /--get-yargs-completions/)
  }
  t.equal((await cloudy(c, ['completion', 'tcsh'])).code, 2, 'an unknown shell is a usage error')
})

t.test('--only that matches nothing is an error naming what exists', async (t) => {
  const vault = tempDir(t, 'vault')
  const a = computer(t)
  await mkdir(join(a.home, 'cfg'))
  await writeFile(join(a.home, 'cfg/x'), 'x')
  await initVault(t, a, vault, ['~/cfg'], 'a')
  for (const only of ['nosuchapp', 'system', join(a.home, 'elsewhere'), 'settings2/x']) {
    for (const verb of ['up', 'down']) {
      const r = await cloudy(a, ['sync', verb, ...(verb === 'down' ? ['--yes'] : []), '--only', only])
      t.equal(r.code, 2, `sync ${verb} --only ${only}: ${r.stderr}`)
      t.match(r.stderr, `--only ${only}`)
      t.match(r.stderr, /settings/, 'the message names what exists')
    }
  }
  const good = await ok(t, a, ['sync', 'up', '--only', join(a.home, 'cfg/x')])
  t.match(good.stdout, /settings: published/)
})

t.test('without a terminal and --yes, sync down applies only what overrides nothing', async (t) => {
  const vault = tempDir(t, 'vault')
  const a = computer(t)
  await mkdir(join(a.home, 'cfg'))
  await writeFile(join(a.home, 'cfg/new.txt'), 'new from A')
  await writeFile(join(a.home, 'cfg/both.txt'), 'A')
  await initVault(t, a, vault, ['~/cfg'], 'a')
  await ok(t, a, ['sync', 'up'])
  const b = computer(t)
  await joinVault(t, b, vault, ['~/cfg'], 'b')
  await mkdir(join(b.home, 'cfg'))
  await writeFile(join(b.home, 'cfg/both.txt'), 'B, not sent')

  const refused = await cloudy(b, ['sync', 'down'])
  t.equal(refused.code, 2, refused.stderr)
  t.match(refused.stderr, /nothing was changed: 1 item would delete or conflict/)
  t.match(refused.stdout, /settings\/cfg\/both\.txt/, 'the items that need a person are shown')
  t.notOk(existsSync(join(b.home, 'cfg/new.txt')), 'nothing was applied')
  t.equal(await readFile(join(b.home, 'cfg/both.txt'), 'utf8'), 'B, not sent')

  // Once the local file is the same as the chain's, what is left only adds.
  await writeFile(join(b.home, 'cfg/both.txt'), 'A')
  const applied = await cloudy(b, ['sync', 'down'])
  t.equal(applied.code, 0, applied.stderr)
  t.equal(await readFile(join(b.home, 'cfg/new.txt'), 'utf8'), 'new from A')
})

t.test('chain remove asks on a terminal; a removed computer comes back with join --again', async (t) => {
  const vault = tempDir(t, 'vault')
  const a = computer(t)
  await mkdir(join(a.home, 'cfg'))
  await writeFile(join(a.home, 'cfg/a.txt'), 'from A')
  await initVault(t, a, vault, ['~/cfg'], 'alpha')
  await ok(t, a, ['sync', 'up'])
  const b = computer(t)
  await joinVault(t, b, vault, ['~/cfg'], 'bravo')
  await ok(t, b, ['sync', 'down', '--yes'])

  const no = await onTerminal(a, ['chain', 'remove', 'bravo'], 'n\n')
  t.equal(no.code, 0, no.out)
  t.match(no.out, /Remove bravo \([0-9a-f]{8}, .*\) from the chain\? .*\[y\/N\]/)
  t.match(no.out, /Nothing was changed/)
  t.notMatch((await ok(t, a, ['chain', 'list'])).stdout, /removed by/)
  const yes = await onTerminal(a, ['chain', 'remove', 'bravo'], 'y\n')
  t.equal(yes.code, 0, yes.out)
  t.match(yes.out, /Removed bravo/)

  // B, removed, has a local change it could not send.
  await writeFile(join(b.home, 'cfg/a.txt'), 'B, while removed')
  const refused = await cloudy(b, ['sync', 'up'])
  t.equal(refused.code, 2)
  t.match(refused.stderr, /cloudy join --again/, 'the refusal says how to come back')
  t.equal((await cloudy(a, ['join', '--again'])).code, 2, 'a computer still in the chain cannot "rejoin"')

  const again = await ok(t, b, ['join', '--again'])
  t.match(again.stdout, /Rejoined the chain as a new device "bravo"/)
  t.ok(
    readdirSync(b.cloudyHome).some((f) => f.startsWith('state.db.before-rejoin-')),
    'the earlier state database is kept aside',
  )
  const down = await cloudy(b, ['sync', 'down', '--yes'])
  t.equal(down.code, 6, `the local change meets the chain's version: both kept: ${down.stderr}`)
  const kept = readdirSync(join(b.home, 'cfg'))
  t.ok(kept.includes('a.txt'))
  const versions = await Promise.all(kept.map((f) => readFile(join(b.home, 'cfg', f), 'utf8')))
  t.ok(versions.includes('B, while removed') && versions.includes('from A'), `both versions kept: ${kept.join(', ')}`)
  await ok(t, b, ['sync', 'up'])
  await ok(t, a, ['sync', 'down', '--yes'])
  const list = (await ok(t, a, ['chain', 'list'])).stdout
  t.match(list, /bravo.*removed by alpha/, 'the old device stays removed')
  t.match(list, /bravo.*active/, 'the new one is active')
  t.ok(readdirSync(join(a.home, 'cfg')).length >= 2, 'A receives what B kept and sent under its new identity')
})
