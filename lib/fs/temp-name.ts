/**
 * Names of the temporary files Cloudy writes beside a file before renaming them over it. A
 * crash can leave one behind; the collectors recognise and skip them, so such debris is never
 * taken for user data and sent to the chain.
 */
import { basename, dirname, join } from 'node:path'
import { randomBytes } from 'node:crypto'

// Unique per process run and call; the pid and a random part keep concurrent runs apart.
const run = `${process.pid.toString(36)}-${randomBytes(3).toString('hex')}`
let counter = 0

/** `.NAME.cloudy-<run>-<n>` in the folder of `abs`. */
export function tempNameFor(abs: string): string {
  return join(dirname(abs), `.${basename(abs)}.cloudy-${run}-${(counter++).toString(36)}`)
}

const TEMP = /^\..+\.cloudy-[0-9a-z]+-[0-9a-f]{6}-[0-9a-z]+$/

export function isTempName(name: string): boolean {
  return TEMP.test(name)
}
