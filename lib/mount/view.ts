/** What the mount asks of each top-level folder it shows (a space, `.preview/`). */
export interface ViewEntry {
  type: 'file' | 'dir' | 'symlink'
  mode: number
  size: number
  mtimeMs: number
  target?: string
}

export interface MountView {
  /** The entry at a `/`-separated path inside the view ('' is its root). */
  stat(path: string): Promise<ViewEntry | undefined>
  /** Names in the folder at `path`; undefined when it is not a folder. */
  list(path: string): Promise<string[] | undefined>
  /** Up to `length` bytes of the file at `path` from `offset`. */
  read(path: string, offset: number, length: number): Promise<Buffer>
}
