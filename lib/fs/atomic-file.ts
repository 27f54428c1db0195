/** Small files replaced whole: a crash leaves the old file or the new one, never a mix. */
import { readFileSync } from 'node:fs'
import { mkdir, open, rename, rm } from 'node:fs/promises'
import { dirname } from 'node:path'

/** Write `text` to `file` through a temporary file, fsync and rename; the folder is made `folderMode`. */
export async function writeFileAtomic(file: string, text: string, mode = 0o600, folderMode = 0o700): Promise<void> {
  await mkdir(dirname(file), { recursive: true, mode: folderMode })
  const tmp = `${file}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 8)}`
  try {
    const fh = await open(tmp, 'wx', mode)
    try {
      await fh.writeFile(text)
      await fh.sync()
    } finally {
      await fh.close()
    }
    await rename(tmp, file)
  } catch (e) {
    await rm(tmp, { force: true })
    throw e
  }
}

/** The text of `file`, or undefined when it cannot be read (absent, most often). */
export function readTextIfAny(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8')
  } catch {
    return undefined
  }
}
