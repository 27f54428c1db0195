// Builds native/fuse3, Cloudy's binding to libfuse 3 (the mount), when its sources changed.
// It needs Debian's libfuse3-dev; without it everything but `cloudy mount` works, so the build
// goes on with a warning (the mount then says what to install). node-gyp is npm's own (on PATH
// in npm scripts); the headers are the local Node's, never a download.
import { spawnSync } from 'node:child_process'
import { existsSync, statSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const dir = join(root, 'native/fuse3')
const out = join(dir, 'build/Release/cloudy_fuse.node')
const sources = ['cloudy_fuse.c', 'binding.gyp'].map((f) => join(dir, f))

if (!existsSync('/usr/include/fuse3/fuse_lowlevel.h')) {
  console.warn(
    'cloudy: libfuse3-dev is not installed: `cloudy mount` will not work until it is (apt-get install libfuse3-dev, then npm run build)',
  )
  process.exit(0)
}
const built = existsSync(out) ? statSync(out).mtimeMs : 0
if (sources.every((f) => statSync(f).mtimeMs < built)) process.exit(0)

const args = ['rebuild', '--directory', dir, '--loglevel=warn']
// Debian's nodejs ships its headers; N-API is the same across versions, so they always fit.
const local = dirname(dirname(process.execPath))
if (!process.env.npm_config_nodedir && existsSync(join(local, 'include/node/node_api.h'))) args.push(`--nodedir=${local}`)
const r = spawnSync('node-gyp', args, { stdio: ['ignore', 'ignore', 'inherit'] })
if (r.error || r.status !== 0) {
  console.error(`cloudy: building native/fuse3 failed${r.error ? `: ${r.error.message}` : ''}; see the compiler's messages above`)
  process.exit(1)
}
