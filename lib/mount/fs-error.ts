import { constants } from 'node:os'

/** A refusal with the errno the file system answers (ENOENT, EROFS, …): not a failure to report. */
export class FsError extends Error {
  constructor(
    readonly errno: keyof typeof constants.errno,
    message: string = errno,
  ) {
    super(message)
  }
}
