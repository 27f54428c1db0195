/**
 * How an operation reports what it moves, one space at a time (the command line draws it).
 * `total`, when a sink has it, asks for what the whole operation will move: the operation
 * works it out first (for an up-sync, a scan by stat) only for a sink that shows it.
 */
export interface ProgressSink {
  total?(files: number, bytes: number): void
  /** A file (HOME-relative) of `size` bytes being moved now. */
  file?(path: string, size: number): void
  add(bytes: number): void
  done(): void
}

/** A sink for a space's label (`up-sync settings`); the default reports nowhere. */
export type ProgressFor = (label: string) => ProgressSink

export const noProgress: ProgressFor = () => ({ add: () => {}, done: () => {} })
