/**
 * The soak test, small: 5 seeds of each mode (normal, adversarial) of the 3-computer model test
 * (scripts/soak-run.ts), fewer steps than `npm run soak` runs. A failing seed prints its step
 * log and how to run it again.
 */
import t from 'tap'
import { runSoak, type SoakMode, type SoakResult } from '../../scripts/soak-run.js'

const SEEDS = [1, 2, 3, 4, 5]
const STEPS = 50
/** Two seeds at a time: each waits on its CLI child processes most of the time. */
const JOBS = 2

t.setTimeout(600_000)

const runs = (['normal', 'adversarial'] as SoakMode[]).flatMap((mode) => SEEDS.map((seed) => ({ seed, mode })))
const results = new Map<string, Promise<SoakResult>>()
const queue: (() => void)[] = []
let running = 0

/** The seed's result, run with at most JOBS others. */
function soak(seed: number, mode: SoakMode): Promise<SoakResult> {
  const id = `${mode} ${seed}`
  let r = results.get(id)
  if (!r) {
    r = new Promise<void>((go) => (running < JOBS ? (running++, go()) : queue.push(go)))
      .then(() => runSoak({ seed, steps: STEPS, mode }))
      .finally(() => {
        const go = queue.shift()
        if (go) go()
        else running--
      })
    results.set(id, r)
  }
  return r
}

// Start every seed now (JOBS at a time); the subtests below wait for their own.
for (const { seed, mode } of runs) void soak(seed, mode)

for (const { seed, mode } of runs) {
  t.test(`${mode} seed ${seed}: all computers equal, no version lost`, async (t) => {
    const r = await soak(seed, mode)
    if (r.failures.length)
      t.comment(`step log (again: npm run soak -- --seed ${seed} --steps ${STEPS} --mode ${mode}):\n${r.log.join('\n')}`)
    t.same(
      r.failures.map((f) => `[${f.kind}] ${f.detail}`),
      [],
      `${mode} seed ${seed}: ${r.stats.cliRuns} CLI runs, ${r.stats.conflicts} conflicts, ${r.stats.kills} kills`,
    )
    for (const n of r.notes) t.comment(n)
  })
}
