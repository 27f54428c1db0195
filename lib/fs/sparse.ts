/**
 * Writes that keep holes: a block of zeros is not written into a new file (whose unwritten
 * parts read as zeros), so a sparse file comes back as sparse as it was sent. The file's size is
 * set with ftruncate, so trailing zeros cost nothing either.
 */
import type { FileHandle } from 'node:fs/promises'

/** File-system block size the holes are aligned to (the common 4 KiB). */
export const HOLE_BLOCK = 4096

/**
 * The runs of `data` (to be written at file offset `position`) that are not whole zero blocks:
 * `[start, end)` offsets into `data`.
 */
export function dataRuns(data: Uint8Array, position: number): [number, number][] {
  const runs: [number, number][] = []
  let start = -1
  // Block edges fall on multiples of HOLE_BLOCK in the file, not in `data`.
  let at = 0
  while (at < data.length) {
    const end = Math.min(data.length, at + HOLE_BLOCK - ((position + at) % HOLE_BLOCK))
    const zero = end - at === HOLE_BLOCK && isZero(data, at, end)
    if (!zero && start < 0) start = at
    if (zero && start >= 0) {
      runs.push([start, at])
      start = -1
    }
    at = end
  }
  if (start >= 0) runs.push([start, data.length])
  return runs
}

const ZERO = new Uint8Array(HOLE_BLOCK)

function isZero(data: Uint8Array, start: number, end: number): boolean {
  return Buffer.from(data.buffer, data.byteOffset + start, end - start).equals(ZERO.subarray(0, end - start))
}

/** Write `data` at `position` of a new file, leaving its whole zero blocks as holes. */
export async function writeSparse(fh: FileHandle, data: Uint8Array, position: number): Promise<void> {
  for (const [start, end] of dataRuns(data, position)) {
    let done = start
    while (done < end) done += (await fh.write(data, done, end - done, position + done)).bytesWritten
  }
}
