/**
 * The user-settings collector: the `[settings] include` paths under HOME, as one tree whose
 * root stands for HOME. Folders between HOME and an included path appear with their own mode
 * and time but only with the included children, so nothing outside the list is collected.
 */
import { lstat } from 'node:fs/promises'
import { join, relative, sep } from 'node:path'
import { treeTime, type Tree, type TreeEntry } from '../store/objects.js'
import type { Walker } from './walk.js'

interface Node {
  children: Map<string, Node>
  /** Set when this path itself is included (its whole content is collected). */
  included: boolean
}

/** HOME-relative path of an absolute path under HOME (`/`-separated), or undefined. */
export function homeRelative(home: string, abs: string): string | undefined {
  const rel = relative(home, abs)
  if (rel === '' || rel.startsWith('..') || rel.startsWith(sep)) return rel === '' ? '' : undefined
  return rel.split(sep).join('/')
}

/**
 * Collect the included paths; returns the root tree id. Whatever the last synced tree (`base`)
 * holds outside the included paths is carried over as it is: another computer of the chain may
 * collect more than this one, and what this computer does not collect it must not report as
 * deleted.
 */
export async function collectIncluded(home: string, includeRel: readonly string[], walker: Walker, base?: Tree): Promise<string> {
  const root: Node = { children: new Map(), included: false }
  for (const rel of includeRel) {
    let node = root
    for (const part of rel.split('/').filter(Boolean)) {
      if (node.included) break
      let next = node.children.get(part)
      if (!next) node.children.set(part, (next = { children: new Map(), included: false }))
      node = next
    }
    if (node === root) return (await walker.dir(home, ''))!
    node.included = true
    node.children.clear()
  }
  const subtree = async (e: TreeEntry | undefined) => (e?.type === 'dir' && e.subtree ? walker.store.readTree(e.subtree) : undefined)
  const build = async (node: Node, abs: string, rel: string, previous: Tree | undefined): Promise<TreeEntry[]> => {
    const out: TreeEntry[] = []
    const before = new Map((previous?.entries ?? []).map((e) => [e.name, e]))
    // Not collected here: kept as last synced.
    for (const [name, e] of before) if (!node.children.has(name)) out.push(e)
    for (const [name, child] of node.children) {
      const childAbs = join(abs, name)
      const childRel = rel ? `${rel}/${name}` : name
      if (child.included) {
        const e = await walker.entry(childAbs, childRel, name)
        if (e) out.push(e)
        continue
      }
      let st
      try {
        st = await lstat(childAbs, { bigint: true })
      } catch {
        st = undefined
      }
      const prev = before.get(name)
      const entries = await build(child, childAbs, childRel, await subtree(prev))
      if (entries.length === 0) continue
      const subtreeId = await walker.store.putTree({ entries })
      if (st?.isDirectory())
        out.push({ name, type: 'dir', mode: Number(st.mode & 0o7777n), mtimeNs: treeTime(st.mtimeNs), subtree: subtreeId })
      else if (prev?.type === 'dir') out.push({ ...prev, subtree: subtreeId })
    }
    return out
  }
  return walker.store.putTree({ entries: await build(root, home, '', base) })
}
