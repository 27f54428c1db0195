/** One `Range: bytes=…` header of a download, read as HTTP (RFC 9110 §14) says, for the fakes. */

export type RangeAnswer =
  /** No usable range: the whole object (200). */
  | { kind: 'whole' }
  /** Bytes `start`..`end` inclusive (206). */
  | { kind: 'part'; start: number; end: number }
  /** Nothing of the object is in the range (416). */
  | { kind: 'unsatisfiable' }
  /** Not a byte range at all. */
  | { kind: 'malformed' }

export function readRange(header: string | undefined, size: number): RangeAnswer {
  if (header === undefined) return { kind: 'whole' }
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim())
  if (!m || (m[1] === '' && m[2] === '')) return { kind: 'malformed' }
  // `bytes=-N` is the last N bytes; an end past the object is cut at its end.
  const start = m[1] === '' ? Math.max(0, size - Number(m[2])) : Number(m[1])
  const end = m[1] === '' || m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1)
  return start >= size || end < start ? { kind: 'unsatisfiable' } : { kind: 'part', start, end }
}
