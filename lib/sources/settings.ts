/**
 * The user-settings collector: the `[settings] include` paths under HOME, as one tree whose
 * root stands for HOME. Folders between HOME and an included path appear with their own mode
 * and time but only with the included children, so nothing outside the list is collected.
 */
import { lstat } from 'node:fs/promises'
import { join, relative, sep } from 'node:path'
import { treeTime, type TreeEntry } from '../store/objects.js'
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

/** Collect the included paths; returns the root tree id. */
export async function collectIncluded(home: string, includeRel: readonly string[], walker: Walker): Promise<string> {
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
  const build = async (node: Node, abs: string, rel: string): Promise<TreeEntry[]> => {
    const out: TreeEntry[] = []
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
        continue
      }
      if (!st.isDirectory()) continue
      const entries = await build(child, childAbs, childRel)
      if (entries.length === 0) continue
      const subtree = await walker.store.putTree({ entries })
      out.push({ name, type: 'dir', mode: Number(st.mode & 0o7777n), mtimeNs: treeTime(st.mtimeNs), subtree })
    }
    return out
  }
  return walker.store.putTree({ entries: await build(root, home, '') })
}
