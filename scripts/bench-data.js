// The benchmark's data set, generated once and reused: `small/` holds N small files of
// 100 B–16 KiB in nested folders (half text-like, half random), `big/` holds M MiB of
// incompressible files. Deterministic: the same arguments give the same bytes.
// Run alone: node scripts/bench-data.js [--small-files N] [--big-mib M] [--fresh]
import { createCipheriv } from 'node:crypto'
import { existsSync, mkdirSync, openSync, rmSync, writeFileSync, writeSync, closeSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'

/** xorshift32: a fast seeded generator for sizes and words (not for secrets). */
function prng(seed) {
  let x = seed >>> 0 || 1
  return () => {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    return (x >>> 0) / 4294967296
  }
}

/** Incompressible bytes: an AES-CTR keystream under a fixed key, one stream per file. */
function randomStream(fileNo) {
  const iv = Buffer.alloc(16)
  iv.writeUInt32BE(fileNo, 0)
  return createCipheriv('aes-128-ctr', Buffer.alloc(16, 7), iv)
}

const WORDS = 'alpha beta gamma delta theme font size color true false path home user editor tab width 42 0 1 none auto'.split(' ')

function textBytes(rnd, n) {
  let s = ''
  while (s.length < n) {
    s += `${WORDS[Math.floor(rnd() * WORDS.length)]}_${Math.floor(rnd() * 100)} = ${WORDS[Math.floor(rnd() * WORDS.length)]}\n`
  }
  return Buffer.from(s.slice(0, n))
}

export function dataSetDir(smallFiles, bigMiB) {
  return join(tmpdir(), `cloudy-bench-data-${smallFiles}-${bigMiB}`)
}

/** Make the data set (unless already complete) in `dir` (default: a shared one in tmp); returns its folder. */
export function makeDataSet({ smallFiles = 20000, bigMiB = 600, fresh = false, dir = dataSetDir(smallFiles, bigMiB) } = {}) {
  const marker = join(dir, '.complete')
  if (fresh) rmSync(dir, { recursive: true, force: true })
  if (!existsSync(marker)) {
    rmSync(dir, { recursive: true, force: true })
    const rnd = prng(12345)
    let smallBytes = 0
    for (let i = 0; i < smallFiles; i++) {
      // 50 top folders of 7 sub-folders each: a shape like a real config tree.
      const folder = join(dir, 'small', `app${i % 50}`, `sub${i % 7}`)
      if (i < 350) mkdirSync(folder, { recursive: true })
      const size = 100 + Math.floor(rnd() * (16 * 1024 - 100))
      const data = i % 2 ? randomStream(i).update(Buffer.alloc(size)) : textBytes(rnd, size)
      writeFileSync(join(folder, `file${i}.conf`), data)
      smallBytes += size
    }
    mkdirSync(join(dir, 'big'), { recursive: true })
    // Three files sharing the total, the last one taking the remainder.
    const sizes = [Math.floor(bigMiB / 2), Math.floor(bigMiB / 3)]
    sizes.push(bigMiB - sizes[0] - sizes[1])
    const block = Buffer.alloc(8 * 1024 * 1024)
    sizes.forEach((mib, n) => {
      const fd = openSync(join(dir, 'big', `blob${n}.bin`), 'w')
      const ks = randomStream(1_000_000 + n)
      for (let left = mib * 1024 * 1024; left > 0; left -= block.length)
        writeSync(fd, ks.update(block.subarray(0, Math.min(block.length, left))))
      closeSync(fd)
    })
    writeFileSync(marker, JSON.stringify({ smallFiles, smallBytes, bigMiB }))
  }
  return dir
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const arg = (name, dflt) => {
    const i = process.argv.indexOf(name)
    return i > 0 ? Number(process.argv[i + 1]) : dflt
  }
  const dir = makeDataSet({
    smallFiles: arg('--small-files', 20000),
    bigMiB: arg('--big-mib', 600),
    fresh: process.argv.includes('--fresh'),
  })
  console.log(dir)
}
