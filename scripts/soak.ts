/**
 * `npm run soak`: the seeded 3-computer model test, many seeds (scripts/soak-run.ts).
 *
 *   npm run soak -- [--seeds N] [--from S] [--steps M] [--mode normal|adversarial|both] [--jobs J]
 *   npm run soak -- --seed N --steps M --mode adversarial     # one seed again, its log as it goes
 *
 * Prints one line per seed, and after it at once the step log and differences of a seed that
 * failed or left notes, then a summary of the failures by kind with a seed that reproduces each.
 * Exits 1 if any seed failed.
 */
import { parseArgs } from 'node:util'
import { runSoak, type SoakMode, type SoakResult } from './soak-run.js'

const USAGE = 'usage: npm run soak -- [--seeds N] [--from S] [--seed S] [--steps M] [--mode normal|adversarial|both] [--jobs J] [--keep]'

function positive(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback
  const n = Number(value)
  if (!Number.isInteger(n) || n < 0) {
    process.stderr.write(`--${name}: not a whole number: ${value}\n${USAGE}\n`)
    process.exit(2)
  }
  return n
}

const { values } = parseArgs({
  options: {
    seeds: { type: 'string' },
    from: { type: 'string' },
    seed: { type: 'string' },
    steps: { type: 'string' },
    mode: { type: 'string' },
    jobs: { type: 'string' },
    keep: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  },
})
if (values.help) {
  process.stdout.write(USAGE + '\n')
  process.exit(0)
}
const single = values.seed !== undefined
const from = positive('seed', values.seed, positive('from', values.from, 1))
const count = single ? 1 : positive('seeds', values.seeds, 10)
const steps = positive('steps', values.steps, 200)
const jobs = Math.max(1, positive('jobs', values.jobs, 2))
const modeArg = values.mode ?? 'both'
if (!['normal', 'adversarial', 'both'].includes(modeArg)) {
  process.stderr.write(`--mode: normal, adversarial or both, not ${modeArg}\n${USAGE}\n`)
  process.exit(2)
}
const modes: SoakMode[] = modeArg === 'both' ? ['normal', 'adversarial'] : [modeArg as SoakMode]

const runs: { seed: number; mode: SoakMode }[] = []
for (const mode of modes) for (let seed = from; seed < from + count; seed++) runs.push({ seed, mode })

const again = (r: SoakResult) => `npm run soak -- --seed ${r.seed} --steps ${r.steps} --mode ${r.mode}`

function report(r: SoakResult): string {
  const lines = [`=== ${r.mode} seed ${r.seed}: ${r.failures.length} failure(s); again: ${again(r)}`, ...r.log.map((l) => `  ${l}`)]
  for (const f of r.failures) lines.push(`  FAIL [${f.kind}] ${f.detail}`)
  for (const n of r.notes) lines.push(`  note: ${n}`)
  if (r.dir) lines.push(`  kept in ${r.dir}`)
  return lines.join('\n') + '\n'
}

// Ctrl-C: exit through process.exit, whose handler kills every CLI child still running.
process.once('SIGINT', () => process.exit(130))

const results: SoakResult[] = []
let next = 0
async function worker() {
  while (next < runs.length) {
    const { seed, mode } = runs[next++]!
    const r = await runSoak({ seed, steps, mode, keep: values.keep, onLog: single ? (l) => process.stdout.write(`  ${l}\n`) : undefined })
    results.push(r)
    const kinds = [...new Set(r.failures.map((f) => f.kind))]
    process.stdout.write(
      `${r.mode} seed ${r.seed}: ${kinds.length ? `FAIL ${kinds.join('; ')}` : 'ok'} (${r.stats.cliRuns} runs, ${r.stats.conflicts} conflicts, ${r.stats.kills} kills, ${r.stats.rounds} rounds, ${(r.stats.ms / 1000).toFixed(1)} s)${r.notes.length ? `, ${r.notes.length} note(s)` : ''}\n`,
    )
    // The step log at once, not only at the end: a soak stopped early keeps what it found.
    if (r.failures.length || r.notes.length || single) process.stdout.write(report(r))
  }
}
await Promise.all(Array.from({ length: Math.min(jobs, runs.length) }, worker))

results.sort((a, b) => a.mode.localeCompare(b.mode) || a.seed - b.seed)
const failed = results.filter((r) => r.failures.length)

const byKind = new Map<string, SoakResult[]>()
for (const r of failed) for (const kind of new Set(r.failures.map((f) => f.kind))) byKind.set(kind, [...(byKind.get(kind) ?? []), r])
process.stdout.write(`\n${results.length - failed.length} of ${results.length} seeds passed (${steps} steps each)\n`)
for (const mode of modes) {
  const mine = results.filter((r) => r.mode === mode)
  process.stdout.write(
    `  ${mode}: ${mine.filter((r) => !r.failures.length).length} of ${mine.length} passed; ${mine.reduce((s, r) => s + r.notes.length, 0)} note(s)\n`,
  )
}
for (const [kind, rs] of [...byKind].sort((a, b) => b[1].length - a[1].length))
  process.stdout.write(`  ${rs.length} seed(s): ${kind}; e.g. ${again(rs[0]!)}\n`)
process.exitCode = failed.length ? 1 : 0
