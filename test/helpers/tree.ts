/** Describes a folder tree (names, types, modes, mtimes, sizes, content hashes, link targets) for comparison. */
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { lstat, readdir, readlink } from 'node:fs/promises'
import { join } from 'node:path'

export interface Described {
  path: string
  type: string
  mode: number
  mtimeMs?: number
  size?: number
  sha256?: string
  target?: string
}

async function sha256(file: string): Promise<string> {
  const h = createHash('sha256')
  for await (const b of createReadStream(file)) h.update(b as Buffer)
  return h.digest('hex')
}

/** Every entry under `root` (optionally only those under `only`), sorted by path. */
export async function describeTree(root: string, rel = ''): Promise<Described[]> {
  const out: Described[] = []
  for (const name of (await readdir(join(root, rel))).sort()) {
    const p = rel ? `${rel}/${name}` : name
    const abs = join(root, p)
    const st = await lstat(abs)
    const mode = st.mode & 0o7777
    // Times in whole milliseconds: what every file system and utimes round trip keeps.
    const mtimeMs = Math.floor(st.mtimeMs)
    if (st.isDirectory()) {
      out.push({ path: p, type: 'dir', mode, mtimeMs })
      out.push(...(await describeTree(root, p)))
    } else if (st.isSymbolicLink()) out.push({ path: p, type: 'symlink', mode: 0, target: await readlink(abs), mtimeMs })
    else out.push({ path: p, type: 'file', mode, mtimeMs, size: st.size, sha256: await sha256(abs) })
  }
  return out
}

/** Every regular file under `dir` (recursively), optionally only those whose path contains `part`. */
export async function listFiles(dir: string, part = ''): Promise<string[]> {
  const out: string[] = []
  for (const d of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, d.name)
    if (d.isDirectory()) out.push(...(await listFiles(p, part)))
    else if (p.includes(part)) out.push(p)
  }
  return out
}
