/**
 * The versions a space has been through: every commit reachable from the heads of the chain
 * (removed devices included: their history is still history), and the versions of one path.
 */
import { UsageError } from '../errors.js'
import type { TreeEntry } from '../store/objects.js'
import type { SpaceStore } from '../store/space-store.js'
import type { CommitGraph, CommitRef } from './graph.js'
import { entryAt, sameEntry } from './merge.js'
import { countChanges, treeChanges, type FileChange } from './tree-changes.js'

/** Every commit of the space that `forget` kept, newest first. */
export async function allCommits(graph: CommitGraph, headIds: Iterable<string>): Promise<CommitRef[]> {
  const ids = new Set<string>()
  for (const h of headIds) for (const a of await graph.ancestors(h)) if (graph.retained(a)) ids.add(a)
  const refs = await Promise.all([...ids].map((id) => graph.ref(id)))
  return refs.sort((x, y) => (x.commit.time === y.commit.time ? (x.id < y.id ? 1 : -1) : x.commit.time < y.commit.time ? 1 : -1))
}

export interface Version {
  commit: CommitRef
  /** The entry at the path in that commit (absent: the path did not exist, i.e. a deletion). */
  entry?: TreeEntry
}

/** The distinct versions of `path`, newest first: each commit where it differs from the one before it. */
export async function versionsOf(store: SpaceStore, commits: readonly CommitRef[], path: string): Promise<Version[]> {
  const oldestFirst = [...commits].reverse()
  const out: Version[] = []
  let previous: TreeEntry | undefined
  let seen = false
  for (const c of oldestFirst) {
    const entry = await entryAt(store, c.commit.tree, path)
    // Folders: a version is a different listing; their own time moves with every child.
    const same = entry?.type === 'dir' && previous?.type === 'dir' ? entry.subtree === previous.subtree : sameEntry(entry, previous)
    if (!same && (entry || seen)) out.push({ commit: c, entry })
    if (entry) seen = true
    previous = entry
  }
  return out.reverse()
}

/**
 * The commit `when` names: a commit id (or a unique prefix of at least 6 hex digits), or a time
 * (ISO 8601, or a date) meaning the newest commit made at or before it.
 */
export function commitAt(commits: readonly CommitRef[], when: string): CommitRef {
  if (/^[0-9a-f]{6,64}$/i.test(when)) {
    const found = commits.filter((c) => c.id.startsWith(when.toLowerCase()))
    if (found.length === 1) return found[0]!
    if (found.length > 1) throw new UsageError(`--at ${when}: names ${found.length} commits; give more digits`)
  }
  const t = Date.parse(when)
  if (Number.isNaN(t))
    throw new UsageError(`--at ${when}: not a time (e.g. 2026-11-24 or 2026-11-24T18:30:00Z) nor a commit id from "cloudy history"`)
  const at = commits.find((c) => Date.parse(c.commit.time) <= t)
  if (!at)
    throw new UsageError(`--at ${when}: nothing was synced that early; the first commit is from ${commits.at(-1)?.commit.time ?? 'never'}`)
  return at
}

/** What version `v` changed from the one before it (`older`, absent for the first), in words. */
export async function describeChange(store: SpaceStore, v: Version, older: Version | undefined): Promise<string> {
  const e = v.entry
  const o = older?.entry
  if (!e) return 'deleted'
  if (!o) return older ? 'made again' : 'created'
  if (e.type !== o.type) return `${o.type === 'dir' ? 'folder' : o.type} replaced by a ${e.type === 'dir' ? 'folder' : e.type}`
  if (e.type === 'dir') {
    const changes: FileChange[] = []
    for await (const c of treeChanges(store, o.subtree, e.subtree)) changes.push(c)
    const n = countChanges(changes)
    const names = changes
      .slice(0, 3)
      .map((c) => `${c.change === 'added' ? '+' : c.change === 'deleted' ? '-' : '~'}${c.path.slice(c.path.lastIndexOf('/') + 1)}`)
    return `${n.added} new, ${n.changed} changed, ${n.deleted} deleted: ${names.join(' ')}${changes.length > 3 ? ' …' : ''}`
  }
  if (e.type === 'symlink') return e.target === o.target ? 'mode or time' : `now points to ${e.target ?? ''}`
  const sameContent = (e.content ?? []).join() === (o.content ?? []).join()
  if (!sameContent) {
    const delta = (e.size ?? 0) - (o.size ?? 0)
    return `content changed (${delta > 0 ? '+' : delta < 0 ? '-' : '±'}${Math.abs(delta)} B)`
  }
  if (e.mode !== o.mode) return `mode ${o.mode.toString(8)} → ${e.mode.toString(8)}`
  return 'touched (time only)'
}
