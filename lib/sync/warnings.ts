/**
 * Recoverable problems: the sync goes on without the item, and the command ends with exit 6
 * listing them. Errors that make the whole result wrong are thrown instead.
 */
export interface SyncWarning {
  /** Stable code: `EUNREADABLE`, `ESPECIAL`, `ECHANGED`, `ECONFLICT`… */
  code: string
  /** The path concerned (relative to HOME, or absolute when outside it). */
  path: string
  message: string
}

export class Warnings {
  readonly list: SyncWarning[] = []
  add(code: string, path: string, message: string): void {
    this.list.push({ code, path, message })
  }
  get size(): number {
    return this.list.length
  }
}
