/**
 * Errors writing Cloudy's own files (the state database above all) as a user's errors. Kept
 * apart from db.ts so that the command line can name them without loading SQLite.
 */
import { dirname } from 'node:path'
import { CloudyError, EXIT } from '../errors.js'

/** SQLite's report, short and on one line, for a message. */
export function oneLine(text: string): string {
  const line = text
    .replace(/\*\*\* in database main \*\*\*/g, '')
    .replace(/\s*\n\s*/g, '; ')
    .replace(/^[; ]+/, '')
  return line.length > 160 ? `${line.slice(0, 157)}...` : line
}

/** Where Cloudy keeps its own files on this computer (lib/paths.ts). */
export interface OwnFolders {
  stateDb: string
  stateDir?: string
  configDir?: string
  cacheDir?: string
}

const AFTER = 'The vault is as whole as before: what was stored in it before this stop is kept, and the next run takes up from there.'

/**
 * What went wrong writing Cloudy's own files on this computer (the state database, its lock,
 * config, cache, journals), as a user's error: the disk holding them is full, or they cannot
 * be written. Undefined for anything else (a file of the user's is another matter).
 */
export function ownFilesProblem(e: unknown, own: OwnFolders): CloudyError | undefined {
  const code = (e as { code?: unknown } | undefined)?.code
  if (typeof code !== 'string') return undefined
  if (code.startsWith('SQLITE_')) {
    if (code === 'SQLITE_FULL') return full(dirname(own.stateDb), e)
    if (code.startsWith('SQLITE_READONLY') || code.startsWith('SQLITE_IOERR') || code.startsWith('SQLITE_CANTOPEN'))
      return unwritable(own.stateDb, oneLine((e as Error).message), e)
    return undefined
  }
  const path = (e as { path?: unknown }).path
  const mine =
    typeof path === 'string' && [own.stateDir, own.configDir, own.cacheDir].some((d) => d && (path === d || path.startsWith(`${d}/`)))
  if (!mine) return undefined
  if (code === 'ENOSPC' || code === 'EDQUOT') return full(dirname(path), e)
  if (code === 'EROFS' || code === 'EACCES' || code === 'EPERM' || code === 'EIO')
    return unwritable(
      path,
      code === 'EROFS' ? 'a read-only file system' : code === 'EIO' ? 'an input/output error' : 'permission denied',
      e,
    )
  return undefined
}

function full(folder: string, cause: unknown): CloudyError {
  return new CloudyError(
    'ENOSPC',
    EXIT.FAILED,
    `the disk holding Cloudy's own files (${folder}) is full: free some space there and run the command again. ${AFTER}`,
    { cause },
  )
}

function unwritable(file: string, why: string, cause: unknown): CloudyError {
  return new CloudyError(
    'ESTATEWRITE',
    EXIT.FAILED,
    `Cloudy cannot write its own file ${file} (${why}): make it writable (CLOUDY_HOME, or the XDG folders, say where these ` +
      `files live) and run the command again. ${AFTER}`,
    { cause },
  )
}
