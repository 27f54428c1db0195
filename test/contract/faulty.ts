/**
 * The contract holds through the retry policy over a provider that fails a fifth of its
 * operations in every way faults come (dropped requests, lost answers, delays, hangs, 503s,
 * broken-off uploads and listings): what the rest of Cloudy sees is a provider that works.
 */
import t from 'tap'
import { faulty } from '../../providers/faulty.js'
import { memory } from '../../providers/memory.js'
import { withRetries } from '../../providers/retry.js'
import { providerContract } from './suite.js'

let seed = 1
const injected: ReturnType<typeof faulty>[] = []
providerContract(t, async () => {
  const f = faulty(memory(), { rate: 0.2, delayMs: 20, hangMs: 400, seed: seed++ })
  injected.push(f)
  return withRetries(f, { retries: 30, baseMs: 1, maxMs: 20, timeoutMs: 200 })
})

t.test('faults of every kind were met', async (t) => {
  const total: Record<string, number> = {}
  for (const f of injected) for (const [k, n] of Object.entries(f.stats.faults)) total[k] = (total[k] ?? 0) + n
  t.comment(JSON.stringify(total))
  for (const kind of ['drop', 'lost-answer', 'delay', 'hang', 'busy', 'cut']) t.ok(total[kind]! > 0, kind)
})
