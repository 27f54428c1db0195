/**
 * This process's mount table (/proc/self/mountinfo), read instead of touching a mount point: a
 * process that serves a FUSE mount must never call into it synchronously, and a dead mount
 * fails every access.
 */
import { readFile } from 'node:fs/promises'

/** A mount point as mountinfo writes it: space, tab, newline and backslash in octal. */
const unescapeMountPath = (p: string) => p.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)))

/** The mount IDs (mountinfo's first field) of the FUSE mounts at `dir`, oldest first. */
export async function fuseMountIdsAt(dir: string): Promise<string[]> {
  const ids: string[] = []
  for (const line of (await readFile('/proc/self/mountinfo', 'utf8')).split('\n')) {
    const f = line.split(' ')
    if (f.length > 4 && unescapeMountPath(f[4]!) === dir && / - fuse(\.\S+)? /.test(line)) ids.push(f[0]!)
  }
  return ids
}
