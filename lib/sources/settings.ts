/**
 * The user-settings collector: the `[settings] include` paths under HOME, as one tree whose
 * root stands for HOME. Folders between HOME and an included path appear with their own mode
 * and time but only with the included children, so nothing outside the list is collected.
 *
 * Besides the include list, every path this computer received from the chain (the last synced
 * tree) is tracked here: its edits and its deletion are sent. Only a path excluded here keeps
 * the chain's version as it is. A received folder is tracked with what it held, not whole:
 * the tree cannot tell a folder another computer includes from one on the way to an include.
 *
 * Symlinks on the way are followed: an include that is a link (`~/.gitconfig ->
 * dotfiles/gitconfig`) is collected as what it points to, as are the folders above an include
 * and a received path that this computer keeps as a link to a file or folder. Links inside a
 * collected folder stay links.
 */
import { lstatSync, statSync, type BigIntStats } from 'node:fs'
import { readlink } from 'node:fs/promises'
import { join } from 'node:path'
import { settleAll } from '../settle-all.js'
import { fsPath } from '../fs/raw-name.js'
import { treeTime, type Tree, type TreeEntry } from '../store/objects.js'
import type { Walker } from './walk.js'

interface Node {
  children: Map<string, Node>
  /** Set when this path itself is included (its whole content is collected). */
  included: boolean
  /** Set for an include (not a conflict copy): a link there is followed. */
  follow?: boolean
}

/**
 * Where this computer follows a local symlink instead of keeping it as a link (for the down-sync,
 * which then writes through it): an include, a folder above one, and a path outside every
 * include whose last synced version (`base`) is a file or folder. The same rule as the collector's.
 */
export function linkFollower(includeRel: readonly string[]): (rel: string, base: TreeEntry | undefined) => boolean {
  const roots = includeRel.filter((r) => r !== '')
  if (roots.length < includeRel.length) return () => false
  return (rel, base) => {
    const prefix = rel + '/'
    if (roots.some((r) => r === rel || r.startsWith(prefix))) return true
    if (roots.some((r) => rel.startsWith(r + '/'))) return false
    return base !== undefined && base.type !== 'symlink'
  }
}

/** The local path's stat, through a symlink when `follow` and the link leads somewhere; undefined if absent. */
export function localStat(abs: string, follow: boolean): BigIntStats | undefined {
  let st: BigIntStats
  try {
    // fsPath: a received name that is not UTF-8 is looked up by its bytes.
    st = lstatSync(fsPath(abs), { bigint: true })
  } catch (e) {
    if (['ENOENT', 'ENOTDIR'].includes((e as NodeJS.ErrnoException).code ?? '')) return undefined
    throw e
  }
  if (!follow || !st.isSymbolicLink()) return st
  try {
    return statSync(fsPath(abs), { bigint: true })
  } catch {
    // A dangling link (or one that cannot be followed) stays a link.
    return st
  }
}

/** `localStat`, or the error's undefined when the path cannot be looked at (the walker says why). */
function statOrUndefined(abs: string, follow: boolean): BigIntStats | undefined {
  try {
    return localStat(abs, follow)
  } catch {
    return undefined
  }
}

export interface CollectOptions {
  /** The last synced tree: what it holds is tracked here. */
  base?: Tree
  /** Paths left out here: the chain's version (in `base`) is carried over as it is. */
  excluded?: (rel: string) => boolean
  /** More paths to collect as they are (conflict copies made here): a link there stays a link. */
  extra?: readonly string[]
}

/**
 * Collect the included paths and those received from the chain; returns the root tree id.
 * What this computer does not collect (an excluded path) it must not report as deleted.
 */
export async function collectIncluded(
  home: string,
  includeRel: readonly string[],
  walker: Walker,
  o: CollectOptions = {},
): Promise<string> {
  const { base, excluded = () => false } = o
  const root: Node = { children: new Map(), included: false }
  const roots = [...includeRel.map((rel) => ({ rel, follow: true })), ...(o.extra ?? []).map((rel) => ({ rel, follow: false }))]
  for (const { rel, follow } of roots) {
    let node = root
    for (const part of rel.split('/').filter(Boolean)) {
      if (node.included) break
      let next = node.children.get(part)
      if (!next) node.children.set(part, (next = { children: new Map(), included: false }))
      node = next
    }
    if (node === root) return (await walker.dir(home, ''))!
    if (node.included) continue
    node.included = true
    node.follow = follow
    node.children.clear()
  }
  const subtree = async (e: TreeEntry | undefined) => (e?.type === 'dir' && e.subtree ? walker.store.readTree(e.subtree) : undefined)
  const build = async (node: Node, abs: string, rel: string, previous: Tree | undefined): Promise<TreeEntry[]> => {
    const before = new Map((previous?.entries ?? []).map((e) => [e.name, e]))
    const one = async (name: string): Promise<TreeEntry | undefined> => {
      const child = node.children.get(name)
      const prev = before.get(name)
      const childAbs = join(abs, name)
      const childRel = rel ? `${rel}/${name}` : name
      if (child?.included) return walker.entry(childAbs, childRel, name, statOrUndefined(childAbs, !!child.follow))
      // Left out here, not deleted: what the chain has at this path stays as it was.
      if (!child && excluded(childRel)) return prev
      const st = statOrUndefined(childAbs, child !== undefined || prev!.type !== 'symlink')
      if (child || (prev?.type === 'dir' && (!st || st.isDirectory()))) {
        // A folder on the way to an include, or a received one: only what it is known to hold.
        const entries = await build(child ?? { children: new Map(), included: false }, childAbs, childRel, await subtree(prev))
        const folder = st?.isDirectory() && (entries.length || prev) ? st : undefined
        if (!folder && !(entries.length && prev?.type === 'dir')) return undefined
        const subtreeId = await walker.store.putTree({ entries })
        // A folder on the way to an include is a way there, not something collected: it keeps the
        // time and mode first recorded, so a file another program makes and removes in ~/.config
        // or /etc publishes nothing.
        if (folder && child && prev?.type === 'dir') return { ...prev, subtree: subtreeId }
        if (folder) return { name, type: 'dir', mode: Number(folder.mode & 0o7777n), mtimeNs: treeTime(folder.mtimeNs), subtree: subtreeId }
        return { ...prev!, subtree: subtreeId }
      }
      // A received file or link, or a received folder that is something else now: as it is here
      // (gone: its deletion is sent). The walker bounds how many files are read at once.
      return walker.entry(childAbs, childRel, name, st)
    }
    // Every child settles before this folder returns or fails (see `settleAll`).
    const entries = await settleAll([...new Set([...node.children.keys(), ...before.keys()])].map(one))
    return entries.filter((e): e is TreeEntry => e !== undefined)
  }
  return walker.store.putTree({ entries: await build(root, home, '', base) })
}

/** `{ through }`, where the symlink at `abs` leads, when it is one that resolves; else undefined. */
export async function linkTarget(abs: string): Promise<{ through: string } | undefined> {
  try {
    if (!lstatSync(fsPath(abs)).isSymbolicLink()) return undefined
    statSync(fsPath(abs))
    return { through: await readlink(fsPath(abs)) }
  } catch {
    return undefined
  }
}
