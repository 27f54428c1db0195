/**
 * Check the application catalog as a whole (`npm run catalog`): every entry parses against the
 * schema, no two claim one path, every known secret store inside a claimed path is marked.
 * Prints one line per entry with what it collects, then the count. Exit 2 on the first mistake.
 */
import { loadCatalog, unmarkedSecrets } from '../lib/catalog/catalog.js'
import { CloudyError } from '../lib/errors.js'

try {
  const { entries } = loadCatalog()
  let bad = 0
  for (const e of entries) {
    const unmarked = unmarkedSecrets(e)
    if (unmarked.length) {
      bad++
      process.stderr.write(
        `${e.file}: secrets: list the secret stores inside its paths: ${unmarked.map((s) => JSON.stringify(s)).join(', ')}\n`,
      )
    }
    process.stdout.write(
      `${e.id.padEnd(28)} ${e.category.padEnd(9)} ${[...e.settings, ...e.data, ...e.dconf.map((d) => `dconf:${d}`)].join(' ')}\n`,
    )
  }
  process.stdout.write(`${entries.length} entries\n`)
  process.exitCode = bad ? 2 : 0
} catch (e) {
  process.stderr.write(`${(e as Error).message}\n`)
  process.exitCode = e instanceof CloudyError ? e.exitCode : 1
}
