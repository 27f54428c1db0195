import type { BoundLog } from './journal.js'
/** What the mount asks of each top-level entry it shows (a space, `.preview/`, a file). */
export interface ViewEntry {
  type: 'file' | 'dir' | 'symlink'
  mode: number
  size: number
  mtimeMs: number
  target?: string
  /**
   * What the bytes (a folder: its entries) are, where the view knows it (the vault's): two
   * states of one path with different versions differ even where size and time agree. The
   * mount drops the kernel's cached pages by it (docs/MOUNT.md, "Caching").
   */
  version?: string
  /** Reflects what may change without the mount being told (the local disk): cached briefly only. */
  volatile?: boolean
}

export interface MountView {
  /** The entry at a `/`-separated path inside the view ('' is its root). */
  stat(path: string): Promise<ViewEntry | undefined>
  /** Names in the folder at `path`; undefined when it is not a folder. */
  list(path: string): Promise<string[] | undefined>
  /** Up to `length` bytes of the file at `path` from `offset`. */
  read(path: string, offset: number, length: number): Promise<Buffer>
}

/** A view that takes writes (an application's space); any other answers EROFS. */
export interface WritableView extends MountView {
  /** True if the file at `path` may be opened for writing (else the open answers EROFS). */
  canWrite(path: string): boolean
  create(path: string, mode: number): Promise<void>
  mkdir(path: string, mode: number): Promise<void>
  symlink(target: string, path: string): Promise<void>
  unlink(path: string): Promise<void>
  rmdir(path: string): Promise<void>
  rename(from: string, to: string): Promise<void>
  chmod(path: string, mode: number): Promise<void>
  utimens(path: string, mtimeMs: number): Promise<void>
  /** `recorded` false: through an open file (its data file says the size either way). */
  truncate(path: string, size: number, recorded?: boolean): Promise<void>
  write(path: string, buf: Buffer, position: number): Promise<number>
  /** Make the file at `path` durable; without a path, every change so far. */
  sync(path?: string): Promise<void>
  /**
   * Hand the file at `path` to `lease` for direct reads and writes, if it is one of the
   * journal's data files (docs/MOUNT.md, "Direct I/O"); false if it is not (a file still the
   * vault's is read through the view, and written through it once).
   */
  direct?(path: string, lease: DirectLease): Promise<boolean>
  /**
   * The source of new files for creations in the folder at `path`, if its files are journal data
   * files (docs/MOUNT.md, "Creations answered by the binding"), and the folder's path in it.
   */
  newFiles?(path: string): Promise<{ files: NewFiles; rel: string } | undefined>
}

/** New files made ahead for one journal: the binding answers creations with them (docs/MOUNT.md, "Creations answered by the binding"). */
export interface NewFiles {
  /** A new empty data file, open: its id and a descriptor to hand over. */
  take(): Promise<{ id: string; fd: number }>
  /** Let the binding append to the journal's log (see `Journal.bind`), or (`unbind`) stop. */
  bind(make: (fd: number, seqs: Int32Array, durable: Int32Array) => BoundLog): void
  unbind(): void
  /**
   * The binding recorded the creation of `path` (in this journal) on data file `id`, as record
   * `seq`: take it in. The file is direct in the binding until `stop` (as a lease's, see
   * `DirectLease.stop`) or until a lease of it starts.
   */
  taken(path: string, mode: number, id: string, mtimeMs: number, seq: number, stop: () => void): void
}

/** A file the mount reads and writes without asking the view each time. */
export interface DirectFile {
  readonly fd: number
  /** Writes may go to it (else reads only: an up-sync is reading it). */
  readonly writable: boolean
  /** Holds 1 while every record of the file's journal is durable. */
  readonly durable: Int32Array
  /** Direct writes happened: the file's size and time are taken from its data file. */
  wrote(): void
  /** The mount is done with it. */
  close(): void
}

/** Who uses a direct file: told when it may start, and when it must stop. */
export interface DirectLease {
  /** Called at once, before `direct` resolves, with the file. */
  start(file: DirectFile): void
  /**
   * The view takes the file back (an up-sync is about to read it, or it is deleted): no direct
   * write may happen once this returns; writes made are reported (`wrote`) and the file closed.
   */
  stop(): void
}

export function isWritable(v: MountView): v is WritableView {
  return typeof (v as Partial<WritableView>).write === 'function'
}
