/** `cloudy apps list`: the catalog's applications found here, whether each is collected, what and how much. */
import { lstatSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { loadCatalog } from '../../catalog/catalog.js'
import { Detector } from '../../catalog/detect.js'
import { EXIT } from '../../errors.js'
import { loadSelectionMap } from '../../selection/records.js'
import { readSelection } from '../../selection/selection.js'
import { catalogSources, type SpaceSource } from '../../sources/sources.js'
import { providerFolder } from '../../../providers/index.js'
import { openSession } from '../context.js'
import { formatBytes, type CliIo } from '../io.js'
import { table } from '../table.js'

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
    const vaultFolder = providerFolder(s.config.vault.provider!, s.config.vault.root)
    const rows = catalogSources({ config: s.config, paths: s.paths, env: s.env, selection, catalog, vaultFolder })
      .map(({ source, off }) => {
        const app = source.app!
        const signs = detector.signs(app)
        return { app, signs, off, ...measure(source), dconf: app.dconf }
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
