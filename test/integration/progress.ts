/**
 * Progress of a long up-sync: on a terminal, the total, percent, rate and ETA; in a pipe,
 * nothing but the summary; with --json, progress events on stderr that a script can parse.
 */
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { open, mkdir, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { cloudy, computer, initVault, ok, tempDir } from '../helpers/cli.js'
import { onTerminal } from '../helpers/terminal.js'

const MiB = 1 << 20

/** A file of `size` random bytes (incompressible, no two chunks alike: all of it is sent). */
async function randomFile(path: string, size: number): Promise<void> {
  const fh = await open(path, 'w')
  try {
    for (let done = 0; done < size; done += 8 * MiB) await fh.write(randomBytes(Math.min(8 * MiB, size - done)))
  } finally {
    await fh.close()
  }
}

t.test('a 300 MiB up-sync on a terminal shows the total, percent and ETA', async (t) => {
  const a = computer(t)
  await mkdir(join(a.home, 'data'))
  await writeFile(join(a.home, 'data/small.txt'), 'small')
  await randomFile(join(a.home, 'data/big.bin'), 300 * MiB)
  await initVault(t, a, tempDir(t, 'vault'), ['~/data'], 'a')
  const r = await onTerminal(a, ['sync', 'up'], '')
  t.equal(r.code, 0, r.out.slice(-2000))
  // cli-progress redraws by moving to column 1 (ESC [ 1 G).
  const frames = r.out.split(new RegExp(`\\r|\\n|${String.fromCharCode(27)}\\[1G`)).filter((l) => l.includes('up-sync settings'))
  t.ok(frames.length >= 2, `the bar was drawn ${frames.length} times`)
  t.match(r.out, /up-sync settings +\d+% \[[^\]]*\] [\d.]+ [KMG]?i?B of 300\.0 MiB, \d of 2 files, [\d.]+ [KMG]?i?B\/s, ETA \S+/)
  t.ok(
    frames.some((l) => /ETA \d/.test(l) && !/ 100% /.test(l)),
    'an ETA is shown while it runs',
  )
  t.match(r.out, /big\.bin/, 'the current file is named')
  t.match(r.out, /settings: published [0-9a-f]{12}: 2 new, 0 changed, 0 deleted/)
})

t.test('in a pipe only the summary; --json progress events on stderr', async (t) => {
  const a = computer(t)
  await mkdir(join(a.home, 'data'))
  await randomFile(join(a.home, 'data/one.bin'), 8 * MiB)
  await randomFile(join(a.home, 'data/two.bin'), 8 * MiB)
  await initVault(t, a, tempDir(t, 'vault'), ['~/data'], 'a')
  const piped = await ok(t, a, ['sync', 'up'])
  t.equal(piped.stderr, '', 'nothing on stderr in a pipe')
  t.same(piped.stdout.trim().split('\n').length, 1, 'one summary line')

  await randomFile(join(a.home, 'data/two.bin'), 8 * MiB)
  await randomFile(join(a.home, 'data/three.bin'), 4 * MiB)
  const json = await ok(t, a, ['sync', 'up', '--json'])
  const result = JSON.parse(json.stdout)
  t.ok(result.spaces[0].commit, 'stdout is still the one result document')
  const events = json.stderr
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>)
  t.ok(events.length >= 2, `${events.length} events`)
  t.ok(
    events.every((e) => e.type === 'progress' && e.operation === 'up-sync settings'),
    'every line is a progress event',
  )
  const last = events.at(-1)!
  t.match(last, { done: true, files_total: 2, files_done: 2, bytes_total: 12 * MiB, percent: 100 })
  t.ok((last.bytes_done as number) >= 12 * MiB)
  // Events come at most every quarter second: a fast run has only its first and last (the pty
  // test sees the current file named).
  for (const e of events.slice(1, -1)) t.ok(e.file === 'data/two.bin' || e.file === 'data/three.bin', 'the current file is named')

  // check --read-data and restore report the same way.
  const lines = (stderr: string) =>
    stderr
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>)
  const check = await ok(t, a, ['check', '--read-data', '--json'])
  const checked = lines(check.stderr).filter((e) => e.operation === 'check settings')
  t.match(checked.at(-1), { done: true, percent: 100 }, 'check reads every pack, with totals')
  t.ok((checked.at(-1)!.files_total as number) >= 1 && (checked.at(-1)!.bytes_total as number) > 20 * MiB)
  const first = JSON.parse((await ok(t, a, ['history', '--json'])).stdout).commits.at(-1).commit as string
  await rm(join(a.home, 'data/one.bin'))
  const restore = await ok(t, a, ['restore', '--at', first, join(a.home, 'data/one.bin'), '--json'])
  t.match(lines(restore.stderr).at(-1), { operation: 'restore settings/data/one.bin', done: true, files_total: 1, bytes_total: 8 * MiB })
})

t.test('down-sync shows its totals too', async (t) => {
  const vault = tempDir(t, 'vault')
  const a = computer(t)
  await mkdir(join(a.home, 'data'))
  await randomFile(join(a.home, 'data/one.bin'), 4 * MiB)
  await initVault(t, a, vault, ['~/data'], 'a')
  await ok(t, a, ['sync', 'up'])
  const b = computer(t)
  t.equal((await cloudy(b, ['join', '--provider', vault, '--name', 'b'])).code, 0)
  const { setInclude } = await import('../helpers/cli.js')
  await setInclude(b, ['~/data'])
  const down = await ok(t, b, ['sync', 'down', '--yes', '--json'])
  const done = down.stderr
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .at(-1)!
  t.match(done, { operation: 'down-sync settings', done: true, files_total: 1, files_done: 1, bytes_total: 4 * MiB })
})
