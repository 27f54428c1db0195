/** A local disk filled up while Cloudy wrote to it: said with how much is missing. */
import { statfs } from 'node:fs/promises'
import { CloudyError, EXIT } from '../errors.js'
import { formatBytes } from '../text/format.js'

/** The error codes of a full disk (or a full quota). */
export function isDiskFull(e: unknown): boolean {
  const code = (e as { code?: unknown } | undefined)?.code
  return code === 'ENOSPC' || code === 'EDQUOT'
}

export class DiskFullError extends CloudyError {
  /** Bytes still to write when the disk was full, and bytes free then. */
  readonly needed: number
  readonly free: number
  constructor(folder: string, needed: number, free: number) {
    super(
      'ENOSPC',
      EXIT.FAILED,
      `the disk holding ${folder} is full: ${formatBytes(needed)} were still to be written and ${formatBytes(free)} is free ` +
        `(about ${formatBytes(Math.max(needed - free, 0))} missing). Nothing was lost: files not yet written are as they were ` +
        `and no temporary file was left. Free some space and run the command again.`,
    )
    this.needed = needed
    this.free = free
  }
}

/** The error for a full disk at `folder`, with `needed` bytes still to write. */
export async function diskFull(folder: string, needed: number): Promise<DiskFullError> {
  let free = 0
  try {
    const s = await statfs(folder)
    free = s.bavail * s.bsize
  } catch {
    // Unknown: said as 0 free.
  }
  return new DiskFullError(folder, needed, free)
}
