/** `cloudy apps list` and `cloudy apps install`: the catalog's applications found here, and what other computers installed. */
import { lstatSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { loadCatalog } from '../../catalog/catalog.js'
import { Detector } from '../../catalog/detect.js'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { CloudyError, EXIT, UsageError } from '../../errors.js'
import { appKey, installCommands } from '../../sources/inventory.js'
import { missingApps } from '../../sync/missing.js'
import { planSpace } from '../../sync/plan-space.js'
import { sessionPlan, sourcesInput } from '../../sync/spaces.js'
import { loadSelectionMap } from '../../selection/records.js'
import { readSelection } from '../../selection/selection.js'
import { catalogSources, type SpaceSource } from '../../sources/sources.js'
import { openSession } from '../context.js'
import { confirm, formatBytes, type CliIo } from '../io.js'
import { table } from '../../text/table.js'

const run = promisify(execFile)

export interface AppsListArgs {
  /** Every entry of the catalog, not only those found here or selected. */
  all?: boolean
  passwordFile?: string
  json?: boolean
}

/** Files and bytes the source would collect here now (folders walked, what is left out skipped). */
function measure(source: SpaceSource): { paths: string[]; files: number; bytes: number } {
  let files = 0
  let bytes = 0
  const walk = (rel: string) => {
    if (source.excluded(rel)) return
    let st
    try {
      st = lstatSync(join(source.root, rel))
    } catch {
      return
    }
    if (st.isDirectory()) {
      let names: string[] = []
      try {
        names = readdirSync(join(source.root, rel))
      } catch {
        return
      }
      for (const n of names) walk(`${rel}/${n}`)
    } else {
      files++
      bytes += st.size
    }
  }
  const present: string[] = []
  for (const p of source.include) {
    const before = files
    walk(p)
    if (files > before) present.push(`~/${p}`)
  }
  return { paths: present, files, bytes }
}

export async function appsList(io: CliIo, args: AppsListArgs): Promise<number> {
  const s = await openSession(io, args)
  try {
    const catalog = loadCatalog(join(s.paths.configDir, 'catalog'))
    const selection = readSelection(await loadSelectionMap(s.vault, s.db))
    const detector = new Detector({ home: s.paths.home, env: s.env })
    const rows = catalogSources(sourcesInput(s, catalog, selection))
      .map(({ source, off }) => {
        const app = source.app!
        const signs = detector.signs(app)
        const measured = measure(source)
        // What an up-sync adds by itself (spaces.ts `sessionSources`) is said as such.
        const joins = off === 'not selected' && selection.autoApps && signs.length > 0 && measured.files > 0
        return { app, signs, off: joins ? 'not yet: the next up-sync adds it' : off, ...measured, dconf: app.dconf }
      })
      .filter((r) => args.all || r.signs.length > 0 || !r.off)
    if (args.json) {
      io.stdout.write(
        JSON.stringify({
          apps: rows.map((r) => ({
            id: r.app.id,
            name: r.app.name,
            category: r.app.category,
            detected: r.signs,
            collected: !r.off,
            why: r.off,
            paths: r.paths,
            files: r.files,
            bytes: r.bytes,
            dconf: r.dconf,
          })),
        }) + '\n',
      )
      return EXIT.OK
    }
    io.stdout.write(
      table(
        ['APPLICATION', 'FOUND HERE', 'COLLECTED', 'FILES', 'SIZE', 'WHAT'],
        rows.map((r) => [
          r.app.id,
          r.signs.length ? r.signs[0]! : 'no',
          r.off ? `no: ${r.off}` : 'yes',
          String(r.files),
          formatBytes(r.bytes),
          [...r.paths, ...r.dconf.map((d) => `dconf ${d}`)].join(' ') || '-',
        ]),
      ),
    )
    return EXIT.OK
  } finally {
    await s.close()
  }
}

export interface AppsInstallArgs {
  /** Application ids (`hello`, `debian:hello`); none: every application missing here. */
  ids?: string[]
  yes?: boolean
  passwordFile?: string
  json?: boolean
}

/**
 * `cloudy apps install`: install what other computers of the chain have and this one lacks.
 * As an administrator it runs the package managers (after asking, unless --yes); anyone else
 * gets the exact commands to run.
 */
export async function appsInstall(io: CliIo, args: AppsInstallArgs): Promise<number> {
  const s = await openSession(io, args)
  try {
    const { sources } = await sessionPlan(s)
    const inventory = sources.find((src) => src.category === 'inventory')
    if (!inventory) throw new UsageError('the inventory category is not collected here ("cloudy add inventory" turns it on)')
    const missing = (await missingApps(s, [inventory], [await planSpace(s, inventory)])) ?? []
    const wanted = args.ids?.length
      ? args.ids.map((id) => {
          const m = missing.find((x) => x.app.id === id || appKey(x.app) === id)
          if (!m)
            throw new UsageError(
              `${id}: not among the applications missing here; missing: ${missing.map((x) => appKey(x.app)).join(', ') || 'none'}`,
            )
          return m.app
        })
      : missing.map((m) => m.app)
    const commands = installCommands(wanted)
    const admin = process.getuid?.() === 0
    const shown = commands.map((c) => (admin ? '' : 'sudo ') + c.join(' '))
    if (!commands.length) {
      io.stdout.write(
        args.json
          ? JSON.stringify({ installed: [], commands: [] }) + '\n'
          : 'Nothing to install: this computer has what the others have.\n',
      )
      return EXIT.OK
    }
    let go = admin && !!args.yes
    if (admin && !args.yes && io.stdin.isTTY && !args.json) {
      io.stdout.write(shown.map((c) => `  ${c}\n`).join(''))
      go = await confirm(io, 'Run these commands?')
    }
    if (!go) {
      const why = admin ? 'run again with --yes to install, or run' : 'installing needs an administrator: run'
      if (args.json) io.stdout.write(JSON.stringify({ installed: [], commands: shown }) + '\n')
      else io.stdout.write(`${why}:\n${shown.map((c) => `  ${c}\n`).join('')}`)
      return EXIT.OK
    }
    for (const [cmd, ...rest] of commands) {
      io.stderr.write(`cloudy: running ${[cmd, ...rest].join(' ')}\n`)
      try {
        const r = await run(cmd!, rest, { env: { ...s.env, DEBIAN_FRONTEND: 'noninteractive' }, maxBuffer: 64 << 20 })
        io.stderr.write(r.stderr)
      } catch (e) {
        const err = e as NodeJS.ErrnoException & { stderr?: string }
        const detail =
          err.code === 'ENOENT' ? `${cmd} is not installed` : (err.stderr ?? err.message).trim().split('\n').slice(-3).join('; ')
        throw new CloudyError('EINSTALL', EXIT.FAILED, `${[cmd, ...rest].join(' ')} failed: ${detail}`)
      }
    }
    if (args.json) io.stdout.write(JSON.stringify({ installed: wanted.map(appKey), commands: shown }) + '\n')
    else io.stdout.write(`Installed ${wanted.map((a) => a.id).join(', ')}.\n`)
    return EXIT.OK
  } finally {
    await s.close()
  }
}
