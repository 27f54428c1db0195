// Prune (npm run bench, after the restic comparison): the bench's small files backed up, half of
// them deleted and backed up again, then every commit but the last forgotten and the vault
// pruned: `cloudy forget --keep-last 1 --prune` beside `restic forget --keep-last 1 --prune` on the
// same data, in the same run. Cloudy's prune marks, waits its grace period (the shortest, 2 s,
// which the time leaves out: it is waiting, not work) and deletes: the run that forgets and
// marks, and the one that deletes after the grace period, both count.
// Printed: seconds, peak RSS and the repository's size after. A benchmark, never a test.
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
const CLOUDY = join(ROOT, 'bin', 'cloudy.js')
const PASSWORD = 'bench password'

/** Delete every other file under `dir` (sorted walk): half the data goes. */
function deleteHalf(dir) {
  let i = 0
  const walk = (d) => {
    for (const e of readdirSync(d, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = join(d, e.name)
      if (e.isDirectory()) walk(p)
      else if (i++ % 2 === 0) rmSync(p)
    }
  }
  walk(dir)
}

/**
 * `measure(label, cmd, args, env)` runs under /usr/bin/time (bench.js); `duBytes(dir)` sizes the
 * repository. Returns { cloudy, restic }: prune seconds, peak RSS MiB, repository MiB before and after.
 */
export function benchPrune({ smallDir, say, measure, duBytes }) {
  const out = {}
  for (const tool of ['cloudy', 'restic']) {
    say(`  prune: ${tool}…`)
    const w = mkdtempSync(join(tmpdir(), `cloudy-bench-prune-${tool}-`))
    try {
      const home = join(w, 'home')
      const data = join(home, 'small')
      mkdirSync(home)
      cpSync(smallDir, data, { recursive: true })
      const repo = join(w, 'repo')
      const state = join(w, 'state')
      mkdirSync(state)
      let backup, prune
      if (tool === 'cloudy') {
        const env = { HOME: home, CLOUDY_HOME: state, CLOUDY_PASSWORD: PASSWORD }
        const c = (args) => [process.execPath, [CLOUDY, ...args], env]
        measure('cloudy init', ...c(['init', '--provider', repo, '--kdf', 'interactive', '--collect', 'settings', '--no-auto-apps']))
        const cfg = join(state, 'config.toml')
        writeFileSync(cfg, readFileSync(cfg, 'utf8').replace(/^include = \[[^\]]*\]/m, 'include = ["~/small"]'))
        backup = () => measure('cloudy sync up', ...c(['sync', 'up']))
        // As restic's one command: forget and the prune's mark, then (after the grace period)
        // the prune that deletes.
        prune = () => {
          const mark = measure('cloudy forget --prune', ...c(['forget', '--keep-last', '1', '--prune', '--grace', '2s', '--no-wait']))
          const t0 = Date.now()
          while (Date.now() - t0 < 2100) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100)
          const finish = measure('cloudy prune (delete)', ...c(['prune', '--grace', '2s', '--no-wait']))
          return { secs: mark.secs + finish.secs, rssMiB: Math.max(mark.rssMiB, finish.rssMiB) }
        }
      } else {
        const env = { RESTIC_PASSWORD: PASSWORD, RESTIC_REPOSITORY: repo, RESTIC_CACHE_DIR: state }
        measure('restic init', 'restic', ['init', '-q'], env)
        backup = () => measure('restic backup', 'restic', ['backup', '-q', data], env)
        prune = () => measure('restic forget --prune', 'restic', ['forget', '-q', '--keep-last', '1', '--prune'], env)
      }
      backup()
      deleteHalf(data)
      backup()
      const before = duBytes(repo)
      const p = prune()
      out[tool] = { secs: p.secs, rssMiB: p.rssMiB, beforeMiB: before / 1048576, afterMiB: duBytes(repo) / 1048576 }
    } finally {
      rmSync(w, { recursive: true, force: true })
    }
  }
  return out
}

export function printPrune(r) {
  const f = (n, d = 2) => n.toFixed(d)
  console.log('\nForget and prune after half the small files are deleted (time and RSS: below 1 means Cloudy is faster or smaller)')
  for (const tool of ['cloudy', 'restic'])
    console.log(
      `  ${tool.padEnd(6)}  ${f(r[tool].secs)} s  peak RSS ${f(r[tool].rssMiB, 0)} MiB  repo ${f(r[tool].beforeMiB, 1)} -> ${f(r[tool].afterMiB, 1)} MiB`,
    )
  console.log(
    `  ratio   time ${f(r.cloudy.secs / r.restic.secs)}  RSS ${f(r.cloudy.rssMiB / r.restic.rssMiB)}  repo after ${f(r.cloudy.afterMiB / r.restic.afterMiB)}`,
  )
}
