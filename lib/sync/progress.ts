/** How an operation reports the bytes it moves, one space at a time (the command line draws it). */
export interface ProgressSink {
  add(bytes: number): void
  done(): void
}

/** A sink for a space's label (`up-sync settings`); the default reports nowhere. */
export type ProgressFor = (label: string) => ProgressSink

export const noProgress: ProgressFor = () => ({ add: () => {}, done: () => {} })
