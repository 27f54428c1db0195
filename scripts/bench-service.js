// The service in npm run bench: real-time propagation and the cost of waiting.
//
// Propagation: two computers, a service on each (`cloudy daemon`), on one vault (the local
// folder, then S3 and SFTP on loopback: the test servers of scripts/servers/). A writes a file
// under its HOME 50 times; the time until B's copy of the file has the new bytes is measured
// (A's service up-syncs on change, B's notices the chain's pulse and down-syncs). p50 and p95 per
// provider, against the goal: p50 under 1 s and p95 under 3 s. (Syncthing, the anchor for
// "always in step", waits 10 s before it even looks at a change; it is not installed here.)
//
// Idle: a service with the bench's small files collected (20,000 by default) and watched, left
// alone for --idle-minutes (default 10): its peak RSS and the CPU it used, against the goal:
// under 150 MiB and under 1 % of one core. A benchmark, never a test.
import { spawn, spawnSync } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
const CLOUDY = join(ROOT, 'bin', 'cloudy.js')
const PASSWORD = 'bench password'
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

function cloudy(env, args) {
  const r = spawnSync(process.execPath, [CLOUDY, ...args], { env, encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`cloudy ${args.join(' ')} failed (${r.status}): ${r.stderr}`)
  return r.stdout
}

/** A computer: HOME and CLOUDY_HOME under `dir`, set up for `server` (credentials, environment). */
function computer(dir, server) {
  const home = join(dir, 'home')
  const state = join(dir, 'state')
  mkdirSync(home, { recursive: true })
  mkdirSync(state, { recursive: true })
  if (server) writeFileSync(join(state, 'credentials.toml'), tomlOf(server.credentials), { mode: 0o600 })
  return { home, env: { PATH: process.env.PATH, HOME: home, CLOUDY_HOME: state, CLOUDY_PASSWORD: PASSWORD, ...server?.env } }
}

function tomlOf(tables) {
  return (
    Object.entries(tables)
      .map(
        ([t, kv]) =>
          `[${t}]\n${Object.entries(kv)
            .map(([k, v]) => `${k} = ${JSON.stringify(v)}`)
            .join('\n')}`,
      )
      .join('\n\n') + '\n'
  )
}

/** `cloudy daemon` for computer `c`, once it listens and has sent its categories at start. */
async function startService(c) {
  const child = spawn(process.execPath, [CLOUDY, 'daemon'], { env: c.env, stdio: ['ignore', 'ignore', 'pipe'] })
  let log = ''
  child.stderr.on('data', (d) => (log += d))
  for (let i = 0; !/up-sync of settings \(start\)/.test(log); i++) {
    if (child.exitCode !== null) throw new Error(`cloudy daemon exited: ${log}`)
    if (i > 1200) throw new Error(`cloudy daemon did not start in 60 s: ${log}`)
    await sleep(50)
  }
  return {
    pid: child.pid,
    log: () => log,
    stop: async () => {
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000)
      if (child.exitCode === null) await new Promise((r) => child.once('exit', r))
      clearTimeout(timer)
    },
  }
}

const percentile = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]

/** 50 writes on A, each timed until B has it. */
async function propagation(name, url, server, changes, say) {
  const work = mkdtempSync(join(tmpdir(), `cloudy-bench-rt-${name}-`))
  const services = []
  try {
    const a = computer(join(work, 'a'), server)
    const b = computer(join(work, 'b'), server)
    mkdirSync(join(a.home, 'cfg'))
    writeFileSync(join(a.home, 'cfg', 'start.conf'), 'start\n')
    cloudy(a.env, ['init', '--provider', url, '--kdf', 'interactive', '--collect', 'settings', '--no-auto-apps', '--name', 'a'])
    cloudy(a.env, ['add', '~/cfg'])
    cloudy(a.env, ['sync', 'up'])
    cloudy(b.env, ['join', '--provider', url, '--name', 'b'])
    cloudy(b.env, ['sync', 'down', '--yes'])
    services.push(await startService(a), await startService(b))
    const ms = []
    for (let i = 0; i < changes; i++) {
      const text = `change ${i} at ${Date.now()}\n`
      const file = `f${i % 5}.conf`
      const t0 = performance.now()
      writeFileSync(join(a.home, 'cfg', file), text)
      for (;;) {
        let got
        try {
          got = readFileSync(join(b.home, 'cfg', file), 'utf8')
        } catch {}
        if (got === text) break
        if (performance.now() - t0 > 60_000)
          throw new Error(`${name}: change ${i} did not reach B in 60 s\nA: ${services[0].log()}\nB: ${services[1].log()}`)
        await sleep(5)
      }
      ms.push(performance.now() - t0)
      // Apart, so that each change is one up-sync and one down-sync, not a batch.
      await sleep(300)
    }
    say(`  ${name}: p50 ${percentile(ms, 50).toFixed(0)} ms, p95 ${percentile(ms, 95).toFixed(0)} ms`)
    if (process.env.CLOUDY_BENCH_LOGS) say(`A:\n${services[0].log()}\nB:\n${services[1].log()}`)
    return { provider: name, changes, p50Ms: percentile(ms, 50), p95Ms: percentile(ms, 95), maxMs: Math.max(...ms) }
  } finally {
    for (const s of services) await s.stop()
    rmSync(work, { recursive: true, force: true })
  }
}

export async function benchPropagation({ say, changes = 50 }) {
  const { startS3Server } = await import('../dist/scripts/servers/s3.js')
  const { startSftpServer } = await import('../dist/scripts/servers/sftp.js')
  const out = []
  say('  real time: local folder…')
  out.push(await propagation('local', join(mkdtempSync(join(tmpdir(), 'cloudy-bench-rt-vault-')), 'vault'), undefined, changes, say))
  for (const { name, start } of [
    { name: 's3', start: startS3Server },
    { name: 'sftp', start: startSftpServer },
  ]) {
    say(`  real time: ${name}…`)
    const server = await start()
    try {
      out.push(await propagation(name, server.newUrl(), server, changes, say))
    } finally {
      await server.stop()
    }
  }
  return out
}

/** CPU seconds (user + system) and RSS (MiB) of process `pid`, from /proc. */
function usage(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  const ticks = Number(fields[11]) + Number(fields[12])
  const rss = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024
  const hz = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100
  return { cpu: ticks / hz, rss }
}

export async function benchIdle({ smallDir, minutes = 10, say }) {
  const work = mkdtempSync(join(tmpdir(), 'cloudy-bench-idle-'))
  let service
  try {
    const c = computer(join(work, 'c'))
    say(`  idle: copying the small files…`)
    cpSync(smallDir, join(c.home, 'data'), { recursive: true })
    cloudy(c.env, ['init', '--provider', join(work, 'vault'), '--kdf', 'interactive', '--collect', 'settings', '--no-auto-apps'])
    cloudy(c.env, ['add', '~/data'])
    cloudy(c.env, ['sync', 'up'])
    service = await startService(c)
    await sleep(5000)
    const st = JSON.parse(cloudy(c.env, ['status', '--json'])).service
    const watching = st.schedules?.find((x) => x.category === 'settings')?.watching
    say(`  idle: ${minutes} min with ${smallDir.endsWith('small') ? 'the small files' : smallDir} watched (${watching} paths)…`)
    const first = usage(service.pid)
    let peak = first.rss
    const t0 = performance.now()
    while (performance.now() - t0 < minutes * 60_000) {
      await sleep(5000)
      peak = Math.max(peak, usage(service.pid).rss)
    }
    const last = usage(service.pid)
    const secs = (performance.now() - t0) / 1000
    return { minutes, watching, peakRssMiB: peak, cpuPercent: (100 * (last.cpu - first.cpu)) / secs }
  } finally {
    await service?.stop()
    rmSync(work, { recursive: true, force: true })
  }
}

export function printService({ propagation, idle }) {
  const f = (n, d = 0) => n.toFixed(d)
  if (propagation?.length) {
    console.log(
      `\nReal time, A's write to B's file with a service on each (${propagation[0].changes} changes; goal: p50 under 1 s, p95 under 3 s)`,
    )
    for (const r of propagation) console.log(`  ${r.provider.padEnd(6)} p50 ${f(r.p50Ms)} ms   p95 ${f(r.p95Ms)} ms   max ${f(r.maxMs)} ms`)
  }
  if (idle) {
    console.log(`\nThe service idle for ${idle.minutes} min, ${idle.watching} paths watched (goal: under 150 MiB and under 1 % CPU)`)
    console.log(`  peak RSS ${f(idle.peakRssMiB)} MiB   CPU ${f(idle.cpuPercent, 2)} %`)
  }
}

// Run alone: node scripts/bench-service.js [--idle-minutes M] [--changes N] [--small-dir DIR]
if (import.meta.url === `file://${process.argv[1]}`) {
  const argv = process.argv.slice(2)
  const num = (name, dflt) => (argv.includes(name) ? Number(argv[argv.indexOf(name) + 1]) : dflt)
  const say = (...a) => console.log(...a)
  const propagationResults = await benchPropagation({ say, changes: num('--changes', 50) })
  const smallDir = argv.includes('--small-dir') ? argv[argv.indexOf('--small-dir') + 1] : undefined
  const idle = smallDir && existsSync(smallDir) ? await benchIdle({ smallDir, minutes: num('--idle-minutes', 10), say }) : undefined
  printService({ propagation: propagationResults, idle })
}
