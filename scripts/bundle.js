// The command line as one ES module (dist/lib/cli/cloudy.mjs, plus chunks loaded on demand), built after tsc: Node 20 spends
// more time resolving and loading ~150 small modules (yargs and its helpers, then ours) than
// running a no-change sync, and one file loads in a fraction of that. Native addons stay
// outside (they find their binaries next to their own package). The modules worker threads
// load (seal-pool) are found relative to lib/<folder>/, which this bundle sits in too.
import { build } from 'esbuild'
import { cpSync, existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
// Chunk names carry hashes: old ones would pile up.
const out = join(root, 'dist/lib/cli')
rmSync(join(out, 'chunks'), { recursive: true, force: true })
for (const f of existsSync(out) ? readdirSync(out) : []) if (/^chunk-.*\.mjs$/.test(f)) rmSync(join(out, f))
await build({
  entryPoints: [join(root, 'dist/lib/cli/main.js')],
  outdir: join(root, 'dist/lib/cli'),
  entryNames: 'cloudy',
  // Provider SDKs are big and most runs never need them: each is a chunk loaded by the import()
  // of its provider, not part of what every command loads.
  splitting: true,
  // Beside the entry, not in a subfolder: modules that worker threads load are found relative
  // to the code that starts them (`../vault/keys.js` from lib/<folder>/), wherever it landed.
  chunkNames: 'chunk-[name]-[hash]',
  outExtension: { '.js': '.mjs' },
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  // ssh2 loads native crypto bindings by path: it stays a package of its own (loaded with the SFTP
  // chunk). @parcel/watcher finds its binary as a package named after the platform, at run time.
  external: ['sodium-native', 'better-sqlite3', 'ssh2', 'ssh2-sftp-client', 'cpu-features', '@parcel/watcher'],
  // Bundled CommonJS (yargs' helpers) may call require(); give the module one.
  banner: { js: "import { createRequire as __cloudyRequire } from 'node:module'; const require = __cloudyRequire(import.meta.url);" },
  logLevel: 'warning',
  legalComments: 'none',
})

// Modules that worker threads load are named by `new URL('../x/y.js', import.meta.url)`: each
// must exist relative to where its code landed, or the workers silently go unused.
for (const f of readdirSync(out, { recursive: true, encoding: 'utf8' }).filter((n) => n.endsWith('.mjs'))) {
  const file = join(out, f)
  for (const m of readFileSync(file, 'utf8').matchAll(/new URL\("(\.[^"]+)", import\.meta\.url\)/g)) {
    const target = join(dirname(file), m[1])
    if (!existsSync(target)) throw new Error(`bundle: ${f} refers to ${m[1]}, which is not at ${target}`)
  }
}

// The application catalog is data the built code reads (lib/catalog/catalog.ts
// `shippedCatalogDir`): it goes beside it, so dist/ alone (what is installed, or copied for
// another OS user) holds everything the command needs.
const catalogOut = join(root, 'dist/lib/catalog')
rmSync(join(catalogOut, 'apps'), { recursive: true, force: true })
cpSync(join(root, 'lib/catalog/apps'), join(catalogOut, 'apps'), { recursive: true })
cpSync(join(root, 'lib/catalog/system.toml'), join(catalogOut, 'system.toml'))
// The entries checked once here and written as JSON, which every command reads instead of
// parsing each TOML file (catalog.ts `readPrebuilt`); a broken entry fails the build.
const { prebuiltCatalog, PREBUILT } = await import(join(catalogOut, 'catalog.js'))
writeFileSync(join(catalogOut, PREBUILT), prebuiltCatalog(join(catalogOut, 'apps')))

// The mount's binding (scripts/build-native.js) goes into dist/ too, for the same reason; the
// mount finds it there or in the checkout (lib/mount/fuse3.ts `bindingPath`).
const binding = join(root, 'native/fuse3/build/Release/cloudy_fuse.node')
rmSync(join(root, 'dist/native'), { recursive: true, force: true })
if (existsSync(binding)) cpSync(binding, join(root, 'dist/native/cloudy_fuse.node'))
