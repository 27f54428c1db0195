// The cost of collecting everything (npm run bench, after the restic comparison): a no-change
// up-sync of the bench's small files with every category on and 30 catalog applications found
// (their commands on a fixture PATH, a file of each in HOME), beside the same files with the
// settings category alone. The goal: at most 1.3 times the settings-only time. A fixture system
// root keeps /etc and the dpkg database of this machine out of it. A benchmark, never a test.
import { spawnSync } from 'node:child_process'
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
const CLOUDY = join(ROOT, 'bin', 'cloudy.js')
const CATALOG = join(ROOT, 'lib', 'catalog', 'apps')

/** 30 catalog entries with a command and a settings path under ~/.config: what the fixture makes "found". */
function thirtyApps() {
  const out = []
  for (const name of readdirSync(CATALOG).sort()) {
    const text = readFileSync(join(CATALOG, name), 'utf8')
    const command = /^commands = \["([^"]+)"/m.exec(text)?.[1]
    const setting = /^settings = \["\$XDG_CONFIG_HOME\/([^"*?[]+)"/m.exec(text)?.[1]
    if (command && setting) out.push({ id: name.slice(0, -5), command, setting })
    if (out.length === 30) break
  }
  return out
}

function cloudy(env, args) {
  const r = spawnSync(process.execPath, [CLOUDY, ...args], { env, encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`cloudy ${args.join(' ')} failed (${r.status}): ${r.stderr}`)
  return r.stdout
}

/** Seconds of one no-change up-sync. */
function noChange(env) {
  const t0 = process.hrtime.bigint()
  cloudy(env, ['sync', 'up'])
  return Number(process.hrtime.bigint() - t0) / 1e9
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

export function benchCatalog({ smallDir, say }) {
  const work = mkdtempSync(join(tmpdir(), 'cloudy-bench-catalog-'))
  try {
    const apps = thirtyApps()
    const bin = join(work, 'bin')
    const system = join(work, 'system')
    mkdirSync(bin, { recursive: true })
    mkdirSync(system)
    for (const a of apps) writeFileSync(join(bin, a.command), '#!/bin/sh\n', { mode: 0o755 })
    const result = {}
    const envs = {}
    for (const { kind, init } of [
      { kind: 'settings', init: ['--collect', 'settings', '--no-auto-apps'] },
      { kind: 'all', init: [] },
    ]) {
      const home = join(work, kind, 'home')
      const state = join(work, kind, 'state')
      mkdirSync(state, { recursive: true })
      say(`  catalog: copying the small files for ${kind}…`)
      cpSync(smallDir, join(home, 'data'), { recursive: true })
      if (kind === 'all')
        for (const a of apps) {
          const file = join(home, '.config', a.setting, a.setting.includes('.') ? '' : 'config')
          mkdirSync(dirname(file), { recursive: true })
          writeFileSync(file, `# ${a.id}\n`)
        }
      const env = {
        PATH: `${bin}:/usr/bin:/bin`,
        HOME: home,
        CLOUDY_HOME: state,
        CLOUDY_PASSWORD: 'bench password',
        CLOUDY_SYSTEM_ROOT: system,
      }
      cloudy(env, ['init', '--provider', join(work, kind, 'vault'), '--kdf', 'interactive', ...init])
      cloudy(env, ['add', '~/data'])
      const first = cloudy(env, ['sync', 'up'])
      result[kind] = { spaces: first.split('\n').filter((l) => / published/.test(l)).length, times: [] }
      envs[kind] = env
    }
    // Taken in turns, so that whatever else the machine does weighs on both alike.
    for (let i = 0; i < 7; i++) for (const kind of ['settings', 'all']) result[kind].times.push(noChange(envs[kind]))
    for (const kind of ['settings', 'all']) result[kind].secs = median(result[kind].times)
    return { apps: apps.length, ...result, ratio: result.all.secs / result.settings.secs }
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
}

export function printCatalog(r) {
  const f = (n) => n.toFixed(2)
  console.log(`\nNo-change up-sync with every category on and ${r.apps} catalog applications found (goal: at most 1.3x settings alone)`)
  console.log(`  settings alone: ${f(r.settings.secs)} s (${r.settings.spaces} space)`)
  console.log(`  everything:     ${f(r.all.secs)} s (${r.all.spaces} spaces)   ratio ${f(r.ratio)}`)
}
