/**
 * The structured objects of a space: trees, commits and heads. All are JSON (readable in ten
 * years by anything that can run libsodium and inflate), compressed and sealed.
 */

/** One entry of a tree (a folder listing). */
export interface TreeEntry {
  name: string
  type: 'file' | 'dir' | 'symlink'
  /** Permission bits (`mode & 0o7777`). */
  mode: number
  /**
   * Modification time in nanoseconds since the epoch, as a decimal string, whole microseconds
   * (see `treeTime`).
   */
  mtimeNs: string
  /** Files: size in bytes. */
  size?: number
  /** Files: chunk ids (hex) in order. */
  content?: string[]
  /** Folders: id (hex) of the subtree blob. */
  subtree?: string
  /** Symlinks: the link target, verbatim. */
  target?: string
}

export interface Tree {
  entries: TreeEntry[]
}

/** A commit: one published state of one space by one device. Immutable. */
export interface Commit {
  format: 1
  space: string
  /** Device tag of the author. */
  device: string
  /** Human name of the author device. */
  deviceName: string
  /** OS user name on the author device. */
  username: string
  /** Host name of the author computer. */
  hostname: string
  /** Home folder on the author device; paths in the tree are relative to it. */
  home: string
  /** ISO time of the commit. */
  time: string
  /** Parent commit ids (hex): the device's previous commit and the heads it had applied. */
  parents: string[]
  /** Root tree id (hex). */
  tree: string
  /** The author's head sequence number at this commit. */
  seq: number
}

/** A device's head pointer: rewritten by that device only, its `seq` only grows. */
export interface Head {
  commit: string
  seq: number
  time: string
}

/**
 * A file time as trees record it: floored to whole microseconds, the finest Node's utimes can
 * set. A file restored elsewhere then has exactly the recorded time, so re-collecting it yields
 * the same tree instead of a spurious change.
 */
export function treeTime(ns: bigint): string {
  return String(ns - (ns % 1000n))
}

/** Seconds for utimes that land exactly on a tree time (libuv truncates to microseconds). */
export function utimesSeconds(mtimeNs: string): number {
  const n = BigInt(mtimeNs)
  // Half a microsecond over, so float rounding can never truncate to the microsecond below.
  return Number(n / 1_000_000_000n) + (Number(n % 1_000_000_000n) + 500) / 1e9
}

export function encodeTree(tree: Tree): Buffer {
  const entries = [...tree.entries].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  return Buffer.from(JSON.stringify({ entries }))
}

export function decodeJson<T>(buf: Buffer): T | undefined {
  try {
    return JSON.parse(buf.toString('utf8')) as T
  } catch {
    return undefined
  }
}

export function isTree(v: unknown): v is Tree {
  return typeof v === 'object' && v !== null && Array.isArray((v as Tree).entries)
}

export function isCommit(v: unknown): v is Commit {
  const c = v as Commit
  return typeof c === 'object' && c !== null && c.format === 1 && typeof c.tree === 'string' && Array.isArray(c.parents)
}

export function isHead(v: unknown): v is Head {
  const h = v as Head
  return typeof h === 'object' && h !== null && typeof h.commit === 'string' && Number.isInteger(h.seq)
}
