// The mount section of `npm run bench`: Cloudy's FUSE mount beside gocryptfs and
// `rclone mount --vfs-cache-mode writes` (over a local folder), on the same data in the same run.
// For each: MB/s of a dd write of one big incompressible file (conv=fsync), of its read cold (on a
// fresh mount, page cache dropped) and warm (again right away), seconds of `cp -r` of the
// small-file set in, of `ls -lR` of that tree on a fresh mount, and of an SQLite workload (10,000
// small synced transactions through the sqlite3 CLI) beside the same on the local disk (the
// write and SQLite: the median of five; cp -r: of three, see repeated(); each on a quiet mount,
// see quiesce()). A benchmark, never a test.
//
// The bench process never touches a mount itself: a file system call answered by a process that
// waits on it deadlocks, so every access is a child process (dd, cp, ls) with a timeout. A mount
// never outlives a tool's run: its process is stopped, the mount forced off, then its temp dir
// removed (never while still mounted: rm -r would walk into the mount).
import { spawn, spawnSync } from 'node:child_process'
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { once } from 'node:events'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const CLOUDY = join(dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'cloudy.js')
const PASSWORD = 'bench password'
const MOUNT_TIMEOUT_MS = 30_000
const STOP_TIMEOUT_MS = 15_000
// A measured step gets ten minutes: slow is a result, a hang is an error (and is killed).
const STEP_TIMEOUT_MS = 600_000

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/** The mountinfo line of the mount at `dir`, split into fields, or undefined. */
function mountInfo(dir) {
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const f = line.split(' ')
    if (f[4] === dir) return f
  }
  return undefined
}
const isMounted = (dir) => mountInfo(dir) !== undefined

/** The line of a command's output that says what went wrong (a Node crash prints its stack around it). */
function gist(text) {
  const lines = text.trim().split('\n').filter(Boolean)
  if (lines.length <= 1) return lines[0] ?? ''
  return (lines.find((l) => /error/i.test(l)) ?? lines.at(-1)).trim()
}

/** Run a command (never through a shell) with a timeout; its seconds and stdout, or a thrown error saying why. */
function timed(label, cmd, args, env = {}, input) {
  const t0 = performance.now()
  // SIGKILL on timeout: a process blocked on a FUSE request still dies of it (the wait is killable).
  const r = spawnSync(cmd, args, {
    input,
    env: { ...process.env, ...env },
    encoding: 'utf8',
    maxBuffer: 256 << 20,
    timeout: STEP_TIMEOUT_MS,
    killSignal: 'SIGKILL',
  })
  const secs = (performance.now() - t0) / 1000
  if (r.error?.code === 'ETIMEDOUT') throw new Error(`${label}: no answer in ${STEP_TIMEOUT_MS / 1000} s (killed)`)
  if (r.status !== 0) throw new Error(`${label}: ${gist(r.stderr || r.stdout || `exit ${r.status ?? r.signal}`)}`)
  return { secs, stdout: r.stdout }
}

/** The big file, random bytes from /dev/urandom, made once per size and reused (like the data set). */
function prepareDataFile(mib) {
  const file = join(tmpdir(), `cloudy-bench-mount-${mib}.bin`)
  if (existsSync(file) && statSync(file).size === mib * 1048576) return file
  const part = `${file}.part`
  timed('making the data file', 'dd', ['if=/dev/urandom', `of=${part}`, 'bs=1M', `count=${mib}`, 'status=none'])
  renameSync(part, file)
  return file
}

/** Transactions of the SQLite workload. */
const SQLITE_TRANSACTIONS = 10_000

/**
 * An application's database: SQLITE_TRANSACTIONS small transactions (one row each, each
 * committed and synced) through the sqlite3 CLI in a new database in `dir`, in WAL mode where the
 * file system gives SQLite its shared memory map (else the rollback journal). Seconds, and the
 * journal mode SQLite took.
 */
function sqliteWorkload(dir) {
  timed('mkdir', 'mkdir', [dir])
  const db = join(dir, 'bench.db')
  const mode = timed('sqlite3 journal_mode', 'sqlite3', [db, 'PRAGMA journal_mode=WAL;']).stdout.trim()
  const sql = ['CREATE TABLE kv(k INTEGER PRIMARY KEY, v TEXT);']
  for (let i = 0; i < SQLITE_TRANSACTIONS; i++) sql.push(`BEGIN; INSERT INTO kv(v) VALUES ('value ${i}'); COMMIT;`)
  // synchronous=FULL: every commit synced, as applications that keep data in SQLite have it.
  const { secs } = timed('sqlite3 transactions', 'sqlite3', [db, '-cmd', 'PRAGMA synchronous=FULL;'], {}, sql.join('\n') + '\n')
  const rows = timed('sqlite3 count', 'sqlite3', [db, 'SELECT count(*) FROM kv;']).stdout.trim()
  if (rows !== String(SQLITE_TRANSACTIONS)) throw new Error(`sqlite: ${rows} rows, ${SQLITE_TRANSACTIONS} were inserted`)
  return { secs, mode }
}

/** Entries under `dir` (itself excluded) and its files' bytes, for the heading, cp -r's MB/s and the ls -lR check. */
function countEntries(dir) {
  const lines = timed('find', 'find', [dir, '-mindepth', '1', '-printf', '%y %s\n']).stdout.split('\n').filter(Boolean)
  const files = lines.filter((l) => l.startsWith('f '))
  return { all: lines.length, files: files.length, bytes: files.reduce((n, l) => n + Number(l.slice(2)), 0) }
}

/** Times each tool's cp -r is run; the median is reported. */
const REPEATS = 3
/**
 * Times each tool's write of the big file is run. Its runs vary most (0.4 to 0.9 s for the same
 * tool on this machine: where the written pages land in memory the host has to back first, or
 * not) and cost least, so five: a median of five is not moved by two unlucky runs.
 */
const WRITE_REPEATS = 5
/**
 * Times each tool's SQLite workload is run, each after one on the local disk. The local disk's
 * fdatasync swings between two speeds here (10,000 transactions in 1.2 or 1.9 s, minutes apart)
 * while a mount's cost over it stays the same, so with three pairs two fast local runs decide the
 * ratio; the median of five stands for the disk as it mostly is.
 */
const SQLITE_REPEATS = 5

/**
 * `run(to)` `times` times, to `name` in `dir` the last time and to `name-N` before, each removed
 * once timed: its seconds each time. One run would time how this machine's memory happens to
 * stand (a first large write after memory was freed and handed back to the host costs up to
 * twice as much, whichever tool makes it, and the tools run one after the other); three, each
 * after the last one's data was removed, time the tool. The copies have names of their own so a
 * tool's upload of a removed one is never taken for one of the kept one (rclone's settle).
 * `before()` runs ahead of each, untimed.
 */
function repeated(dir, name, run, before = () => {}, times = REPEATS) {
  const secs = []
  for (let i = 1; i <= times; i++) {
    const to = join(dir, i === times ? name : `${name}-${i}`)
    before()
    secs.push(run(to).secs)
    if (i < times) timed('rm', 'rm', ['-rf', to])
  }
  return secs
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

/**
 * The SQLite workload SQLITE_REPEATS times in `dir`, each run right after one on the local disk (in
 * `localDir`): this machine's disk is up to three times faster one minute than the next, and a
 * ratio of runs taken minutes apart would time that. Each side's median seconds, runs and
 * journal mode.
 */
function sqliteRuns(dir, localDir, before) {
  const local = { runs: [] }
  let mode
  const runs = repeated(
    dir,
    'sqlite',
    (to) => {
      const l = sqliteWorkload(join(localDir, `sqlite-${local.runs.length}`))
      local.runs.push(l.secs)
      local.mode = l.mode
      const q = sqliteWorkload(to)
      mode = q.mode
      return q
    },
    before,
    SQLITE_REPEATS,
  )
  return { secs: median(runs), runs, mode, local: { ...local, secs: median(local.runs) } }
}

/** The source data in the page cache before a write, so every tool's write is timed from memory. */
function warmSource(bigFile, smallDir) {
  timed('reading the data file', 'sh', ['-c', 'cat "$1" >/dev/null', 'sh', bigFile])
  timed('reading the small files', 'sh', ['-c', 'find "$1" -type f -exec cat {} + >/dev/null', 'sh', smallDir])
}

const cloudyEnv = (w) => ({ HOME: join(w.root, 'home'), CLOUDY_HOME: join(w.root, 'state') })

/**
 * The three file systems. For each: setup(w) once (a vault, a cipher dir, a remote folder), the
 * command that serves the mount in the foreground, where writes go (dir inside the mount), and
 * optionally settle() before a stop (work the tool still does after a write returned),
 * quiesce() before each timed run (the same, where it would run beside it) and coldStart()
 * before a fresh mount (the tool's own cache emptied).
 */
const TOOLS = {
  cloudy: {
    version: () => `cloudy ${JSON.parse(readFileSync(join(dirname(CLOUDY), '..', 'package.json'), 'utf8')).version}`,
    setup(w) {
      mkdirSync(join(w.root, 'home'))
      mkdirSync(join(w.root, 'state'))
      // The default provider: a local folder under HOME. --kdf interactive: opening the vault at
      // each mount is not what is measured.
      timed(
        'cloudy init',
        process.execPath,
        [CLOUDY, 'init', '--password-file', w.password, '--kdf', 'interactive', '--collect', 'settings', '--no-auto-apps'],
        cloudyEnv(w),
      )
      // Only ~/bench is synced: the fallback below puts the data there when the mount refuses writes.
      const cfg = join(w.root, 'state', 'config.toml')
      writeFileSync(cfg, readFileSync(cfg, 'utf8').replace(/^include = \[[^\]]*\]/m, 'include = ["~/bench"]'))
    },
    command: (w) => [process.execPath, [CLOUDY, 'mount', w.mnt, '--password-file', w.password], cloudyEnv(w)],
    // Writes go to an application space; the first mkdir in apps/ creates it.
    writable(w) {
      timed('mkdir apps/bench', 'mkdir', [join(w.mnt, 'apps', 'bench')])
      return join(w.mnt, 'apps', 'bench')
    },
    // Written files wait in the mount's journal until an up-sync publishes them to the vault
    // (after a quiet period, or when `cloudy sync up` asks the running mount): ask, so that the
    // cold read is a read from the vault, like rclone's from its remote.
    settle(w) {
      return timed(
        'cloudy sync up (the mount publishing its journal)',
        process.execPath,
        [CLOUDY, 'sync', 'up', '--password-file', w.password],
        cloudyEnv(w),
      ).secs
    },
    quiesce(w) {
      return this.settle(w)
    },
    // When the mount refuses writes, its read path is still measured: the same data goes into
    // the vault by `cloudy sync up` and is read through settings/.
    seed(w, bigFile, smallDir) {
      const home = join(w.root, 'home', 'bench')
      mkdirSync(home)
      // Hard links: no copy of the data, and Cloudy reads the same bytes.
      timed('linking the data', 'cp', ['-al', bigFile, join(home, 'big.bin')])
      timed('linking the data', 'cp', ['-al', smallDir, join(home, 'small')])
      timed('cloudy sync up', process.execPath, [CLOUDY, 'sync', 'up', '--password-file', w.password], cloudyEnv(w))
      return join(w.mnt, 'settings', 'bench')
    },
  },
  gocryptfs: {
    version: () => timed('gocryptfs -version', 'gocryptfs', ['-version']).stdout.split(';')[0].trim(),
    setup(w) {
      mkdirSync(join(w.root, 'cipher'))
      timed('gocryptfs -init', 'gocryptfs', ['-init', '-q', '-passfile', w.password, join(w.root, 'cipher')])
    },
    // -fg: the mount is served by our child process (by default gocryptfs forks and returns).
    command: (w) => ['gocryptfs', ['-fg', '-q', '-passfile', w.password, join(w.root, 'cipher'), w.mnt], {}],
    writable: (w) => w.mnt,
  },
  rclone: {
    version: () => timed('rclone version', 'rclone', ['version']).stdout.split('\n')[0].trim(),
    setup(w) {
      mkdirSync(join(w.root, 'remote'))
    },
    // -v: the log says when each file's upload is done (settle() waits on it). An absent config
    // file: nothing from the machine's own rclone config.
    command: (w) => [
      'rclone',
      ['mount', join(w.root, 'remote'), w.mnt, '--vfs-cache-mode', 'writes', '--cache-dir', join(w.root, 'cache'), '-v'],
      { RCLONE_CONFIG: join(w.root, 'rclone.conf') },
    ],
    writable: (w) => w.mnt,
    // With --vfs-cache-mode writes a closed file is uploaded later, from the cache; rclone
    // stopped before that keeps it for the next start, so the cold read would not be cold. Wait
    // until every written file is in the remote folder.
    async settle(w, files) {
      const t0 = performance.now()
      // The kept copies' uploads only (see repeated()): big.bin and what is under small/.
      const kept = /^\S+ \S+ INFO {2}: (?:big\.bin|small\/[^:]*): vfs cache: upload succeeded/gm
      for (;;) {
        const log = readFileSync(w.log, 'utf8')
        if ((log.match(kept)?.length ?? 0) >= files) return (performance.now() - t0) / 1000
        if (performance.now() - t0 > STEP_TIMEOUT_MS) throw new Error(`rclone: ${files} uploads not done in ${STEP_TIMEOUT_MS / 1000} s`)
        await sleep(200)
      }
    },
    coldStart(w) {
      rmSync(join(w.root, 'cache'), { recursive: true, force: true })
    },
  },
}

/** Start a tool's mount process (output to its log file) and wait until the kernel lists the mount. */
async function startMount(tool, w) {
  const [cmd, args, env] = TOOLS[tool].command(w)
  const log = openSync(w.log, 'a')
  // The log is a file, not a pipe: a pipe is not drained while spawnSync blocks this process.
  const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', log, log] })
  closeSync(log)
  const exited = once(child, 'exit')
  const m = { child, exited, dir: w.mnt }
  const t0 = Date.now()
  while (!isMounted(w.mnt)) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${tool} mount exited: ${logTail(w)}`)
    if (Date.now() - t0 > MOUNT_TIMEOUT_MS) {
      await stopMount(m)
      throw new Error(`${tool} did not mount in ${MOUNT_TIMEOUT_MS / 1000} s: ${logTail(w)}`)
    }
    await sleep(20)
  }
  return m
}

/** Errors the mount processes said while serving (a step may have passed regardless), at most five. */
function logErrors(w) {
  if (!existsSync(w.log)) return []
  // rclone says every unmount at level ERROR.
  const lines = readFileSync(w.log, 'utf8')
    .split('\n')
    .filter((l) => /error|fail/i.test(l) && !/Unmounted rclone mount/.test(l))
  return lines.length > 5 ? [...lines.slice(0, 5), `… ${lines.length - 5} more`] : lines
}

const logTail = (w) => readFileSync(w.log, 'utf8').trim().split('\n').slice(-5).join('\n')
const running = (child) => child.exitCode === null && child.signalCode === null

/** Wait for a child's exit, at most `ms`; whether it exited. */
async function exitedWithin(m, ms) {
  if (!running(m.child)) return true
  let timer
  const late = new Promise((r) => (timer = setTimeout(() => r(false), ms)))
  const ok = await Promise.race([m.exited.then(() => true), late])
  clearTimeout(timer)
  return ok
}

/**
 * Unmount, whatever state the server is in. First the tool's own way: all three unmount on
 * SIGTERM (for Cloudy that is its Ctrl-C path, which also finishes what it still has to write).
 * Then, if the mount is still there: fusermount -u, then a lazy umount, and the FUSE connection
 * aborted so nothing stays blocked on a hung server; the process is killed last.
 */
async function stopMount(m) {
  if (!m) return
  if (running(m.child)) m.child.kill('SIGTERM')
  await exitedWithin(m, STOP_TIMEOUT_MS)
  if (isMounted(m.dir)) spawnSync('fusermount', ['-u', m.dir], { timeout: 10_000, killSignal: 'SIGKILL' })
  const info = mountInfo(m.dir)
  if (info) {
    // The connection's number is the mount's device minor; read it before umount -l hides the mount.
    const abort = `/sys/fs/fuse/connections/${info[2].split(':')[1]}/abort`
    spawnSync('umount', ['-l', m.dir], { timeout: 10_000, killSignal: 'SIGKILL' })
    if (existsSync(abort)) writeFileSync(abort, '1')
  }
  if (running(m.child)) {
    m.child.kill('SIGKILL')
    await exitedWithin(m, STOP_TIMEOUT_MS)
  }
  if (isMounted(m.dir)) throw new Error(`${m.dir} is still mounted`)
}

/** One tool through every step; a failing step ends its run with `error` naming that step. */
async function runTool(tool, ctx) {
  const t = TOOLS[tool]
  const root = mkdtempSync(join(tmpdir(), `cloudy-bench-mount-${tool}-`))
  const w = { root, mnt: join(root, 'mnt'), password: join(root, 'password'), log: join(root, 'mount.log') }
  mkdirSync(w.mnt)
  writeFileSync(w.password, `${PASSWORD}\n`, { mode: 0o600 })
  const r = { tool }
  let m
  let step = 'setup'
  try {
    t.setup(w)
    step = 'mount'
    m = await startMount(tool, w)
    // Writes: the big file, then the small-file set.
    let where
    try {
      step = 'write'
      where = t.writable(w)
      warmSource(ctx.bigFile, ctx.smallDir)
      // Each timed run starts on a quiet mount: Cloudy's up-sync of the runs before it (its own
      // work, timed and shown with settle()) would else run beside it, in whichever run its
      // timer happened to fall, and that run would time the two.
      r.quiesceSecs = 0
      const quiet = () => {
        if (t.quiesce) r.quiesceSecs += t.quiesce(w)
      }
      r.writeRuns = repeated(
        where,
        'big.bin',
        (to) => timed('dd write', 'dd', [`if=${ctx.bigFile}`, `of=${to}`, 'bs=1M', 'conv=fsync', 'status=none']),
        quiet,
        WRITE_REPEATS,
      )
      r.writeSecs = median(r.writeRuns)
      step = 'cp -r'
      r.cpRuns = repeated(where, 'small', (to) => timed('cp -r', 'cp', ['-r', ctx.smallDir, to]), quiet)
      r.cpSecs = median(r.cpRuns)
      step = 'sqlite'
      const q = sqliteRuns(where, ctx.localDir, quiet)
      r.sqliteSecs = q.secs
      r.sqliteRuns = q.runs
      r.sqliteLocal = q.local
      r.sqliteMode = q.mode
    } catch (e) {
      if (!t.seed) throw e
      r.writeError = `${step}: ${e.message}`
      step = 'seed'
      await stopMount(m)
      m = undefined
      where = t.seed(w, ctx.bigFile, ctx.smallDir)
      r.readVia = 'cloudy sync up, read through settings/'
    }
    if (m && t.settle) {
      step = 'settle'
      r.settleSecs = await t.settle(w, ctx.small.files + 1)
    }
    // Reads on a fresh mount: the tool's own caches start empty, and the page cache too.
    step = 'remount'
    await stopMount(m)
    m = undefined
    t.coldStart?.(w)
    ctx.dropCaches()
    m = await startMount(tool, w)
    step = 'cold read'
    const read = () => timed('dd read', 'dd', [`if=${join(where, 'big.bin')}`, 'of=/dev/null', 'bs=1M', 'status=none']).secs
    r.coldReadSecs = read()
    step = 'warm read'
    r.warmReadSecs = read()
    step = 'check'
    timed('cmp (the file read back differs)', 'cmp', [ctx.bigFile, join(where, 'big.bin')])
    step = 'ls -lR'
    ctx.dropCaches()
    const ls = timed('ls -lR', 'ls', ['-lR', join(where, 'small')])
    r.lsSecs = ls.secs
    r.lsEntries = ls.stdout.split('\n').filter((l) => /^[-dl]/.test(l)).length
    const files = ls.stdout.split('\n').filter((l) => l.startsWith('-')).length
    if (files !== ctx.small.files) throw new Error(`ls -lR lists ${files} files, ${ctx.small.files} were copied in`)
  } catch (e) {
    r.error = `${step}: ${e.message}`
    // A server that died says nothing more in its log than it did (a native crash says nothing).
    if (m && !running(m.child)) r.error += ` (the mount process had ended: ${m.child.signalCode ?? `exit ${m.child.exitCode}`})`
  } finally {
    try {
      await stopMount(m)
      r.logErrors = logErrors(w)
      // The whole log of a failed run is kept for a look (the temp dir goes).
      if (r.error || r.writeError) {
        r.log = join(tmpdir(), `cloudy-bench-mount-${tool}-${process.pid}.log`)
        if (existsSync(w.log)) renameSync(w.log, r.log)
      }
      rmSync(root, { recursive: true, force: true })
    } catch (e) {
      // Not removed: rm -r would walk into a mount still there.
      r.error = `${r.error ? `${r.error}; ` : ''}cleanup: ${e.message} (left ${root})`
    }
  }
  return r
}

/** MB/s and seconds of each step from the raw seconds. */
function rates(r, ctx) {
  const mbps = (secs) => (secs === undefined ? undefined : ctx.bigBytes / 1e6 / secs)
  return {
    ...r,
    writeMBps: mbps(r.writeSecs),
    coldReadMBps: mbps(r.coldReadSecs),
    warmReadMBps: mbps(r.warmReadSecs),
    cpMBps: r.cpSecs === undefined ? undefined : ctx.smallBytes / 1e6 / r.cpSecs,
  }
}

/** Cloudy's speed over another's (their seconds over Cloudy's): above 1, Cloudy is faster. */
function ratios(a, b) {
  const q = (k) => (a?.[k] !== undefined && b?.[k] !== undefined ? b[k] / a[k] : undefined)
  return {
    write: q('writeSecs'),
    coldRead: q('coldReadSecs'),
    warmRead: q('warmReadSecs'),
    cp: q('cpSecs'),
    ls: q('lsSecs'),
    sqlite: q('sqliteSecs'),
  }
}

/**
 * The mount section. `smallDir` is the data set's small-file tree (20,000 files in 400 folders),
 * `mib` the size of the big file; ensure and dropCaches are bench.js's.
 */
export async function benchMount({ smallDir, mib, say, ensure, dropCaches }) {
  ensure('fusermount', 'fuse3')
  ensure('gocryptfs', 'gocryptfs')
  ensure('rclone', 'rclone')
  say(`Mount: preparing a ${mib} MiB file from /dev/urandom…`)
  const bigFile = prepareDataFile(mib)
  const small = countEntries(smallDir)
  const ctx = { bigFile, bigBytes: mib * 1048576, smallDir, small, smallBytes: small.bytes, dropCaches }
  const results = []
  for (const tool of Object.keys(TOOLS)) {
    say(`  mount: ${tool}…`)
    // Every tool's SQLite runs follow local ones (sqliteRuns), not only Cloudy's, whose ratio to
    // the local disk is printed: the tools' SQLite times are compared too, so each is taken the
    // same way.
    const localDir = mkdtempSync(join(tmpdir(), 'cloudy-bench-sqlite-'))
    try {
      const r = rates(await runTool(tool, { ...ctx, localDir }), ctx)
      if (r.error) say(`  mount: ${tool} failed at ${r.error}`)
      results.push(r)
    } finally {
      rmSync(localDir, { recursive: true, force: true })
    }
  }
  const by = (name) => results.find((r) => r.tool === name)
  return {
    versions: Object.fromEntries(Object.entries(TOOLS).map(([k, t]) => [k, t.version()])),
    bigMiB: mib,
    smallFiles: small.files,
    smallEntries: small.all,
    smallMB: small.bytes / 1e6,
    results,
    ratios: { rclone: ratios(by('cloudy'), by('rclone')), gocryptfs: ratios(by('cloudy'), by('gocryptfs')) },
  }
}

/** What a tool still does after the writes returned (see settle()). */
const SETTLE = { cloudy: 'the up-sync to the vault (cloudy sync up)', rclone: 'the upload to its remote folder' }

/** The section as a table, ratios and notes, on stdout. */
export function printMount(s) {
  const f = (n, d = 1) => (n === undefined ? '-' : n.toFixed(d))
  const both = (mbps, secs) => (secs === undefined ? '-' : `${f(mbps)} (${f(secs, 2)} s)`)
  console.log(
    `\nMounts (${Object.values(s.versions).join(', ')}): a ${s.bigMiB} MiB file by dd, ${s.smallFiles} small files ` +
      `(${f(s.smallMB)} MB, ${s.smallEntries} entries) by cp -r; MB/s (seconds)`,
  )
  const rows = [['tool', 'write', 'cold read', 'warm read', 'cp -r', 'ls -lR s', 'sqlite s']]
  for (const r of s.results) {
    rows.push([
      r.tool,
      both(r.writeMBps, r.writeSecs),
      both(r.coldReadMBps, r.coldReadSecs),
      both(r.warmReadMBps, r.warmReadSecs),
      both(r.cpMBps, r.cpSecs),
      f(r.lsSecs, 2),
      r.sqliteSecs === undefined ? '-' : `${f(r.sqliteSecs, 2)} (${r.sqliteMode})`,
    ])
  }
  const w = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)))
  for (const r of rows) console.log(`  ${r.map((c, i) => c.padEnd(w[i])).join('  ')}`)
  console.log("Cloudy / other, as speed (the other's seconds over Cloudy's): above 1 means Cloudy is faster")
  for (const [other, q] of Object.entries(s.ratios)) {
    console.log(
      `  vs ${other.padEnd(9)}  write ${f(q.write, 2)}  cold read ${f(q.coldRead, 2)}  warm read ${f(q.warmRead, 2)}  cp -r ${f(q.cp, 2)}  ls -lR ${f(q.ls, 2)}  sqlite ${f(q.sqlite, 2)}`,
    )
  }
  const runs = (xs) => xs.map((x) => f(x, 2)).join(', ')
  const cloudy = s.results.find((r) => r.tool === 'cloudy')
  const local = cloudy?.sqliteLocal
  if (local && cloudy.sqliteSecs !== undefined)
    console.log(
      `SQLite, ${SQLITE_TRANSACTIONS} transactions, each run of Cloudy's right after one on the local disk: ` +
        `local disk ${f(local.secs, 2)} s (${local.mode}), Cloudy's apps/<id>/ ${f(cloudy.sqliteSecs, 2)} s (${cloudy.sqliteMode}): ` +
        `${f(cloudy.sqliteSecs / local.secs, 2)}x the local disk's time (medians; the local disk's runs ${runs(local.runs)} s)`,
    )
  for (const r of s.results) {
    if (r.writeError) console.log(`  ${r.tool}: writes failed (${r.writeError}); reads measured on data put in by ${r.readVia}`)
    if (r.error) console.log(`  ${r.tool}: failed at ${r.error}`)
    if (r.log) console.log(`  ${r.tool}: its mount's output is kept in ${r.log}`)
    for (const l of r.logErrors ?? []) console.log(`  ${r.tool} said: ${l}`)
    if (r.writeRuns)
      console.log(
        `  ${r.tool}: write ${runs(r.writeRuns)} s, cp -r ${runs(r.cpRuns ?? [])} s, sqlite ${runs(r.sqliteRuns ?? [])} s (the median is shown)`,
      )
    if (r.settleSecs !== undefined)
      console.log(
        `  ${r.tool}: dd and cp return before ${SETTLE[r.tool]}, which took ${f(r.settleSecs + (r.quiesceSecs ?? 0), 2)} s more` +
          (r.quiesceSecs ? ` (${f(r.quiesceSecs, 2)} s of it waited for before each timed run)` : ''),
      )
  }
}
