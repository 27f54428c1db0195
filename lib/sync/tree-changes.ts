/**
 * What changed between two trees of a space, in files: what `sync up` says it sent, what
 * `history` says each version changed. Subtrees with the same id are skipped unread, so the
 * cost follows the size of the change, not of the space. A change of time alone is no change
 * (as in the preview: plan.ts `timeOnly`); a folder is named only when empty, its files
 * stand for it otherwise.
 */
import type { Tree, TreeEntry } from '../store/objects.js'
import type { SpaceStore } from '../store/space-store.js'
import { sameButTime } from './merge.js'

export type ChangeKind = 'added' | 'changed' | 'deleted'

export interface FileChange {
  /** HOME-relative path. */
  path: string
  change: ChangeKind
  type: TreeEntry['type']
  /** Size before and after (files). */
  before?: number
  after?: number
}

const EMPTY: Tree = { entries: [] }

/** The files (links, empty folders) that differ from tree `before` to tree `after`, in path order. */
export async function* treeChanges(
  store: SpaceStore,
  before: string | undefined,
  after: string | undefined,
  rel = '',
): AsyncGenerator<FileChange> {
  if (before === after) return
  const [a, b] = await Promise.all([before ? store.readTree(before) : EMPTY, after ? store.readTree(after) : EMPTY])
  const old = new Map(a.entries.map((e) => [e.name, e]))
  const now = new Map(b.entries.map((e) => [e.name, e]))
  for (const name of [...new Set([...old.keys(), ...now.keys()])].sort()) {
    const x = old.get(name)
    const y = now.get(name)
    const path = rel ? `${rel}/${name}` : name
    if (x?.type === 'dir' && y?.type === 'dir') {
      yield* treeChanges(store, x.subtree, y.subtree, path)
      continue
    }
    if (x && y && sameButTime(x, y)) continue
    if (x && y && x.type === y.type) {
      yield { path, change: 'changed', type: y.type, before: x.size, after: y.size }
      continue
    }
    if (x) yield* gone(store, x, path)
    if (y) yield* came(store, y, path)
  }
}

async function* gone(store: SpaceStore, x: TreeEntry, path: string): AsyncGenerator<FileChange> {
  if (x.type !== 'dir') return yield { path, change: 'deleted', type: x.type, before: x.size }
  let any = false
  for await (const c of treeChanges(store, x.subtree, undefined, path)) {
    any = true
    yield c
  }
  if (!any) yield { path, change: 'deleted', type: 'dir' }
}

async function* came(store: SpaceStore, y: TreeEntry, path: string): AsyncGenerator<FileChange> {
  if (y.type !== 'dir') return yield { path, change: 'added', type: y.type, after: y.size }
  let any = false
  for await (const c of treeChanges(store, undefined, y.subtree, path)) {
    any = true
    yield c
  }
  if (!any) yield { path, change: 'added', type: 'dir' }
}

/** How many of each kind. */
export function countChanges(changes: readonly FileChange[]): Record<ChangeKind, number> {
  const n = { added: 0, changed: 0, deleted: 0 }
  for (const c of changes) n[c.change]++
  return n
}
