/**
 * Writing through a local symlink the plan followed (an include that is a link, as stow and
 * dotfiles layouts make): the link stays a link, the file or folder it points to is written.
 */
import { constants, type PathLike } from 'node:fs'
import { chmod, copyFile, lstat, realpath, stat, utimes } from 'node:fs/promises'

/** Where a write of `abs` goes: what the link there points to when `through`, else `abs`. */
export function writePath(abs: string, through: boolean): Promise<string> {
  return through ? realpath(abs) : Promise.resolve(abs)
}

/** The stat the plan compared: through a followed link, of the link itself otherwise. */
export function planStat(abs: PathLike, through: boolean) {
  return (through ? stat : lstat)(abs, { bigint: true })
}

/** Copy the local version behind a followed link to its conflict name (the link's file keeps its place), mode and time kept. */
export async function copyAside(from: string, to: string): Promise<void> {
  await copyFile(from, to, constants.COPYFILE_EXCL)
  const st = await stat(from)
  await chmod(to, st.mode & 0o7777)
  await utimes(to, st.atime, st.mtime)
}
