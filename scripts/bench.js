// npm run bench: Cloudy against restic on the same data, in the same run, on this machine.
// For each case (many small files; a few big incompressible files) and tool: MB/s of the first
// up-sync, seconds of a no-change re-run, MB/s of a full down-sync into an empty folder, peak
// RSS and repository size; then the ratios Cloudy/restic; and Cloudy's no-change down-sync
// against its full one. A benchmark, never a test.
//
//   node scripts/bench.js [--small-files N] [--big-mib M] [--fresh] [--json]
//     [--providers-only | --no-providers] [--mount-only | --no-mount] [--mount-mib M]
//     [--catalog-only | --no-catalog] [--service-only | --no-service] [--idle-minutes M]
//     [--prune-only | --no-prune]
//
// After the restic comparison, forget and prune (scripts/bench-prune.js): Cloudy beside restic's
// `forget --prune` on the small files once half of them are deleted.
// Then the providers: the big files up and down through each provider on loopback (the S3 and
// SFTP test servers of scripts/servers/), beside `rclone copy` to the same servers, with ratios.
// Then the mounts (scripts/bench-mount.js): Cloudy's FUSE mount beside gocryptfs and rclone mount.
// Then the service (scripts/bench-service.js): real-time propagation per provider, and the idle
// service's memory and CPU with the small files watched.
import { execFileSync, spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdtempSync, readdirSync, readFileSync, lstatSync, rmSync, writeFileSync, mkdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { makeDataSet } from './bench-data.js'
import { benchMount, printMount } from './bench-mount.js'
import { benchCatalog, printCatalog } from './bench-catalog.js'
import { benchIdle, benchPropagation, printService } from './bench-service.js'
import { benchPrune, printPrune } from './bench-prune.js'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
const CLOUDY = join(ROOT, 'bin', 'cloudy.js')
const PASSWORD = 'bench password'

const argv = process.argv.slice(2)
const num = (name, dflt) => (argv.includes(name) ? Number(argv[argv.indexOf(name) + 1]) : dflt)
const only = ['--providers-only', '--mount-only', '--catalog-only', '--service-only', '--prune-only'].find((o) => argv.includes(o))
const options = {
  smallFiles: num('--small-files', 20000),
  bigMiB: num('--big-mib', 600),
  fresh: argv.includes('--fresh'),
  json: argv.includes('--json'),
  // --providers-only: only the provider comparison; --no-providers: skip it. --mount-only: only
  // the mounts; --no-mount: skip them. --mount-mib: the size of the file written through each mount.
  restic: !only,
  providers: !argv.includes('--no-providers') && (!only || only === '--providers-only'),
  mount: !argv.includes('--no-mount') && (!only || only === '--mount-only'),
  // --catalog-only: only the cost of collecting everything; --no-catalog: skip it.
  catalog: !argv.includes('--no-catalog') && (!only || only === '--catalog-only'),
  // --service-only: only real time and the idle service; --no-service: skip them.
  service: !argv.includes('--no-service') && (!only || only === '--service-only'),
  idleMinutes: num('--idle-minutes', 10),
  // --prune-only: only forget and prune beside restic's; --no-prune: skip them.
  prune: !argv.includes('--no-prune') && (!only || only === '--prune-only'),
  mountMiB: num('--mount-mib', num('--mount-mb', 512)),
}
const say = (...a) => (options.json ? console.error(...a) : console.log(...a))

/** Install a Debian package when its command is missing (the bench may; tests never do). */
function ensure(command, pkg) {
  if (spawnSync('sh', ['-c', `command -v ${command}`]).status === 0) return
  say(`${command} not found: installing Debian package ${pkg}`)
  let r = spawnSync('apt-get', ['install', '-y', pkg], { stdio: 'ignore' })
  if (r.status !== 0) {
    spawnSync('apt-get', ['update'], { stdio: 'ignore' })
    r = spawnSync('apt-get', ['install', '-y', pkg], { stdio: 'inherit' })
  }
  if (r.status !== 0) throw new Error(`cannot install ${pkg}: install it and run the bench again`)
}

let canDrop = true
/** Empty the page cache (root only) so that every measured step starts cold, for both tools. */
function dropCaches() {
  if (!canDrop) return
  try {
    execFileSync('sync')
    writeFileSync('/proc/sys/vm/drop_caches', '3')
  } catch {
    canDrop = false
  }
}

/** Run a command under /usr/bin/time: seconds and peak RSS in MiB. Fails loudly. */
function measure(label, cmd, args, env) {
  const out = join(tmpdir(), `cloudy-bench-time-${process.pid}`)
  const r = spawnSync('/usr/bin/time', ['-f', '%e %M', '-o', out, cmd, ...args], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  })
  if (r.status !== 0) throw new Error(`${label} failed (exit ${r.status}):\n${r.stderr}\n${r.stdout}`)
  const [secs, kib] = readFileSync(out, 'utf8').trim().split('\n').pop().split(' ').map(Number)
  rmSync(out, { force: true })
  return { secs, rssMiB: kib / 1024 }
}

function duBytes(dir) {
  return Number(execFileSync('du', ['-sb', dir], { encoding: 'utf8' }).split('\t')[0])
}

/** File count, total bytes, and a hash over the names, sizes and contents of every 97th file. */
function fingerprint(dir) {
  const files = []
  const walk = (d) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name)
      if (lstatSync(p).isDirectory()) walk(p)
      else files.push(p)
    }
  }
  walk(dir)
  const h = createHash('sha256')
  let bytes = 0
  files.forEach((p, i) => {
    const size = lstatSync(p).size
    bytes += size
    h.update(`${relative(dir, p)} ${size}\n`)
    if (i % 97 === 0) h.update(readFileSync(p))
  })
  return { files: files.length, bytes, hash: h.digest('hex') }
}

const tools = {
  cloudy: {
    version: () => `cloudy ${JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version}`,
    init(w, data, sub) {
      const env = { HOME: data, CLOUDY_HOME: w.state, CLOUDY_PASSWORD: PASSWORD }
      const r = spawnSync(
        process.execPath,
        [CLOUDY, 'init', '--provider', w.repo, '--kdf', 'interactive', '--collect', 'settings', '--no-auto-apps'],
        {
          env: { ...process.env, ...env },
          encoding: 'utf8',
        },
      )
      if (r.status !== 0) throw new Error(`cloudy init failed: ${r.stderr}`)
      const cfg = join(w.state, 'config.toml')
      writeFileSync(cfg, readFileSync(cfg, 'utf8').replace(/^include = \[[^\]]*\]/m, `include = ["~/${sub}"]`))
      return env
    },
    up: (env) => [process.execPath, [CLOUDY, 'sync', 'up'], env],
    // A computer with nothing: no state database, an empty HOME.
    down(env, w, target) {
      rmSync(join(w.state, 'state.db'), { force: true })
      rmSync(join(w.state, 'state.db-wal'), { force: true })
      rmSync(join(w.state, 'state.db-shm'), { force: true })
      return [process.execPath, [CLOUDY, 'sync', 'down', '--yes'], { ...env, HOME: target }]
    },
    // The same computer right after: nothing came in since, so nothing is to be done.
    downAgain: (env, _w, target) => [process.execPath, [CLOUDY, 'sync', 'down', '--yes'], { ...env, HOME: target }],
    restored: (target, _data, sub) => join(target, sub),
  },
  restic: {
    version: () => execFileSync('restic', ['version'], { encoding: 'utf8' }).trim().split(' ').slice(0, 2).join(' '),
    init(w) {
      const env = { RESTIC_PASSWORD: PASSWORD, RESTIC_REPOSITORY: w.repo, RESTIC_CACHE_DIR: w.state }
      execFileSync('restic', ['init', '-q'], { env: { ...process.env, ...env } })
      return env
    },
    up: (env, _w, data, sub) => ['restic', ['backup', '-q', join(data, sub)], env],
    down: (env, _w, target) => ['restic', ['restore', '-q', 'latest', '--target', target], env],
    restored: (target, data, sub) => join(target, data, sub),
  },
}

function runCase(toolName, caseName, data, sub, bytes) {
  const tool = tools[toolName]
  const w = { root: mkdtempSync(join(tmpdir(), `cloudy-bench-${toolName}-`)) }
  w.repo = join(w.root, 'repo')
  w.state = join(w.root, 'state')
  mkdirSync(w.state)
  try {
    const env = tool.init(w, data, sub)
    dropCaches()
    const [c1, a1, e1] = tool.up(env, w, data, sub)
    const up = measure(`${toolName} ${caseName} up-sync`, c1, a1, e1)
    const rerun = measure(`${toolName} ${caseName} re-run`, c1, a1, e1)
    const repoBytes = duBytes(w.repo)
    const target = join(w.root, 'restore')
    mkdirSync(target)
    const [c2, a2, e2] = tool.down(env, w, target)
    dropCaches()
    const down = measure(`${toolName} ${caseName} down-sync`, c2, a2, e2)
    const got = fingerprint(tool.restored(target, data, sub))
    const want = fingerprint(join(data, sub))
    if (JSON.stringify(got) !== JSON.stringify(want)) throw new Error(`${toolName} ${caseName}: the restored tree differs from the source`)
    let downAgain
    if (tool.downAgain) {
      // Not cold: B is the computer that just down-synced, its caches as they are. (Dropping them
      // would time loading the node binary from disk, ~0.1 s here, not the sync engine.)
      const [c3, a3, e3] = tool.downAgain(env, w, target)
      downAgain = measure(`${toolName} ${caseName} no-change down-sync`, c3, a3, e3)
    }
    return {
      tool: toolName,
      case: caseName,
      upMBps: bytes / 1e6 / up.secs,
      rerunSecs: rerun.secs,
      downMBps: bytes / 1e6 / down.secs,
      upSecs: up.secs,
      downSecs: down.secs,
      noChangeDownSecs: downAgain?.secs,
      peakRssMiB: Math.max(up.rssMiB, rerun.rssMiB, down.rssMiB),
      repoMiB: repoBytes / 1048576,
    }
  } finally {
    rmSync(w.root, { recursive: true, force: true })
  }
}

/** The servers of scripts/servers/, as built into dist/ (npm run bench builds first). */
async function startServers() {
  const { startS3Server } = await import('../dist/scripts/servers/s3.js')
  const { startSftpServer } = await import('../dist/scripts/servers/sftp.js')
  return [
    { name: 's3', server: await startS3Server() },
    { name: 'sftp', server: await startSftpServer() },
  ]
}

/** rclone's remote for a test server, as RCLONE_CONFIG_* variables, and the path of a fresh place on it. */
function rcloneRemote(name, server) {
  if (name === 's3') {
    return {
      env: {
        RCLONE_CONFIG_BENCH_TYPE: 's3',
        RCLONE_CONFIG_BENCH_PROVIDER: 'Other',
        RCLONE_CONFIG_BENCH_ACCESS_KEY_ID: server.credentials.s3.access_key_id,
        RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY: server.credentials.s3.secret_access_key,
        RCLONE_CONFIG_BENCH_ENDPOINT: server.endpoint,
        RCLONE_CONFIG_BENCH_FORCE_PATH_STYLE: 'true',
        // A CA bundle set for the machine's own proxy makes rclone refuse a plain-http endpoint.
        AWS_CA_BUNDLE: undefined,
      },
      path: `bench:${server.bucket}/rclone-${process.pid}`,
    }
  }
  return {
    env: {
      RCLONE_CONFIG_BENCH_TYPE: 'sftp',
      RCLONE_CONFIG_BENCH_HOST: server.host,
      RCLONE_CONFIG_BENCH_PORT: String(server.port),
      RCLONE_CONFIG_BENCH_USER: server.user,
      RCLONE_CONFIG_BENCH_KEY_FILE: server.identityFile,
      RCLONE_CONFIG_BENCH_KNOWN_HOSTS_FILE: server.knownHosts,
      // internal-sftp runs no shell commands: no remote md5sum.
      RCLONE_CONFIG_BENCH_SHELL_TYPE: 'none',
    },
    path: `bench:${server.dataDir}/rclone-${process.pid}`,
  }
}

/** Cloudy and rclone moving the big files up to, and down from, each provider. */
async function benchProviders(data, bigCase) {
  ensure('rclone', 'rclone')
  const servers = await startServers()
  const out = []
  try {
    for (const { name, server } of servers) {
      say(`  ${name}: cloudy and rclone, ${bigCase.name}…`)
      const w = mkdtempSync(join(tmpdir(), `cloudy-bench-${name}-`))
      try {
        // Cloudy: a computer with the data, then an empty one down-syncing it all.
        const state = join(w, 'state')
        mkdirSync(state)
        writeFileSync(join(state, 'credentials.toml'), tomlOf(server.credentials), { mode: 0o600 })
        const env = { ...server.env, HOME: data, CLOUDY_HOME: state, CLOUDY_PASSWORD: PASSWORD }
        const init = spawnSync(
          process.execPath,
          [CLOUDY, 'init', '--provider', server.newUrl(), '--kdf', 'interactive', '--collect', 'settings', '--no-auto-apps'],
          {
            env: { ...process.env, ...env },
            encoding: 'utf8',
          },
        )
        if (init.status !== 0) throw new Error(`cloudy init on ${name} failed: ${init.stderr}`)
        const cfg = join(state, 'config.toml')
        writeFileSync(cfg, readFileSync(cfg, 'utf8').replace(/^include = \[[^\]]*\]/m, `include = ["~/${bigCase.sub}"]`))
        dropCaches()
        const up = measure(`cloudy up to ${name}`, process.execPath, [CLOUDY, 'sync', 'up'], env)
        const target = join(w, 'cloudy-down')
        mkdirSync(target)
        for (const f of ['state.db', 'state.db-wal', 'state.db-shm']) rmSync(join(state, f), { force: true })
        dropCaches()
        const down = measure(`cloudy down from ${name}`, process.execPath, [CLOUDY, 'sync', 'down', '--yes'], { ...env, HOME: target })
        if (JSON.stringify(fingerprint(join(target, bigCase.sub))) !== JSON.stringify(fingerprint(join(data, bigCase.sub)))) {
          throw new Error(`cloudy over ${name}: the restored files differ`)
        }
        rmSync(target, { recursive: true, force: true })

        // rclone: the same files copied up, then down into an empty folder.
        const remote = rcloneRemote(name, server)
        const rtarget = join(w, 'rclone-down')
        dropCaches()
        const rup = measure(`rclone copy to ${name}`, 'rclone', ['copy', join(data, bigCase.sub), remote.path], remote.env)
        dropCaches()
        const rdown = measure(`rclone copy from ${name}`, 'rclone', ['copy', remote.path, rtarget], remote.env)
        if (JSON.stringify(fingerprint(rtarget)) !== JSON.stringify(fingerprint(join(data, bigCase.sub)))) {
          throw new Error(`rclone over ${name}: the copied files differ`)
        }
        const mbps = (secs) => bigCase.bytes / 1e6 / secs
        out.push({
          provider: name,
          cloudy: { upMBps: mbps(up.secs), downMBps: mbps(down.secs), peakRssMiB: Math.max(up.rssMiB, down.rssMiB) },
          rclone: { upMBps: mbps(rup.secs), downMBps: mbps(rdown.secs), peakRssMiB: Math.max(rup.rssMiB, rdown.rssMiB) },
        })
      } finally {
        rmSync(w, { recursive: true, force: true })
      }
    }
  } finally {
    for (const { server } of servers) await server.stop()
  }
  return out
}

/** A credentials.toml of plain string tables. */
function tomlOf(tables) {
  return (
    Object.entries(tables)
      .map(
        ([t, kv]) =>
          `[${t}]\n` +
          Object.entries(kv)
            .map(([k, v]) => `${k} = ${JSON.stringify(v)}`)
            .join('\n'),
      )
      .join('\n\n') + '\n'
  )
}

if (options.restic || options.prune) ensure('restic', 'restic')
ensure('/usr/bin/time', 'time')
say(`Generating or reusing the data set (${options.smallFiles} small files, ${options.bigMiB} MiB of big files)…`)
const data = makeDataSet(options)
const cases = [
  { name: `${options.smallFiles} small files`, sub: 'small' },
  { name: `${options.bigMiB} MiB big files`, sub: 'big' },
].map((c) => ({ ...c, bytes: fingerprint(join(data, c.sub)).bytes }))

const results = []
for (const c of options.restic ? cases : []) {
  for (const tool of Object.keys(tools)) {
    say(`  ${tool}: ${c.name}…`)
    results.push(runCase(tool, c.name, data, c.sub, c.bytes))
  }
}
const prune = options.prune ? benchPrune({ smallDir: join(data, 'small'), say, measure, duBytes }) : undefined
const providerResults = options.providers ? await benchProviders(data, cases[1]) : []
const catalog = options.catalog ? benchCatalog({ smallDir: join(data, 'small'), say }) : undefined
const mount = options.mount
  ? await benchMount({ smallDir: join(data, 'small'), mib: options.mountMiB, say, ensure, dropCaches })
  : undefined

const service = options.service
  ? {
      propagation: await benchPropagation({ say }),
      idle: await benchIdle({ smallDir: join(data, 'small'), minutes: options.idleMinutes, say }),
    }
  : undefined

const ratios = (options.restic ? cases : []).map((c) => {
  const a = results.find((r) => r.tool === 'cloudy' && r.case === c.name)
  const b = results.find((r) => r.tool === 'restic' && r.case === c.name)
  return {
    case: c.name,
    up: a.upMBps / b.upMBps,
    rerun: a.rerunSecs / b.rerunSecs,
    down: a.downMBps / b.downMBps,
    rss: a.peakRssMiB / b.peakRssMiB,
    repo: a.repoMiB / b.repoMiB,
  }
})

const versions = Object.fromEntries(
  Object.entries(tools)
    .filter(([k]) => options.restic || options.prune || k === 'cloudy')
    .map(([k, t]) => [k, t.version()]),
)
if (options.providers) versions.rclone = execFileSync('rclone', ['version'], { encoding: 'utf8' }).split('\n')[0].trim()
if (options.json) {
  console.log(
    JSON.stringify(
      { versions, cachesDropped: canDrop, results, ratios, prune, providers: providerResults, catalog, mount, service },
      null,
      1,
    ),
  )
} else {
  const f = (n, d = 1) => n.toFixed(d)
  console.log(
    `\n${Object.values(versions).join(', ')}; page cache dropped before up- and down-syncs: ${canDrop ? 'yes' : 'no (not root)'}\n`,
  )
  // The restic comparison, unless skipped.
  if (results.length) {
    const rows = [['tool', 'case', 'up MB/s', 're-run s', 'down MB/s', 'peak RSS MiB', 'repo MiB']]
    for (const r of results) rows.push([r.tool, r.case, f(r.upMBps), f(r.rerunSecs, 2), f(r.downMBps), f(r.peakRssMiB, 0), f(r.repoMiB, 0)])
    const w = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)))
    for (const r of rows) console.log(r.map((c, i) => c.padEnd(w[i])).join('  '))
    console.log('\nCloudy / restic (up and down: above 1 means Cloudy is faster; re-run, RSS and size: below 1 means Cloudy is smaller)')
    for (const r of ratios) {
      console.log(
        `  ${r.case.padEnd(w[1])}  up ${f(r.up, 2)}  re-run ${f(r.rerun, 2)}  down ${f(r.down, 2)}  RSS ${f(r.rss, 2)}  repo ${f(r.repo, 2)}`,
      )
    }
    console.log('\nCloudy no-change down-sync right after the full one (page cache not dropped; goal: under 10% of the full down-sync)')
    for (const r of results.filter((x) => x.noChangeDownSecs !== undefined)) {
      console.log(
        `  ${r.case.padEnd(w[1])}  ${f(r.noChangeDownSecs, 2)} s vs ${f(r.downSecs, 2)} s full = ${f((100 * r.noChangeDownSecs) / r.downSecs, 1)}%`,
      )
    }
  }
  if (prune) printPrune(prune)
  if (providerResults.length) {
    console.log(`\nProviders on loopback, ${cases[1].name} (MB/s; ratio Cloudy/rclone above 1 means Cloudy is faster)`)
    for (const r of providerResults) {
      const vs = r.rclone
        ? `   rclone up ${f(r.rclone.upMBps)} down ${f(r.rclone.downMBps)}   ratio up ${f(r.cloudy.upMBps / r.rclone.upMBps, 2)} down ${f(r.cloudy.downMBps / r.rclone.downMBps, 2)}`
        : ''
      const rss = r.rclone ? ` (peak RSS MiB: cloudy ${f(r.cloudy.peakRssMiB, 0)}, rclone ${f(r.rclone.peakRssMiB, 0)})` : ''
      console.log(`  ${r.provider.padEnd(6)}  cloudy up ${f(r.cloudy.upMBps)} down ${f(r.cloudy.downMBps)}${vs}${rss}`)
    }
  }
  if (catalog) printCatalog(catalog)
  if (mount) printMount(mount)
  if (service) printService(service)
}
