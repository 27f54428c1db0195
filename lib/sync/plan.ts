/**
 * The down-sync plan: what applying an incoming tree would do here, item by item. The plan is
 * the preview (nothing is touched while making it) and the exact list `apply` works from.
 */
import { readlink } from 'node:fs/promises'
import { lstatSync, type BigIntStats } from 'node:fs'
import { join } from 'node:path'
import type { CachedFile } from '../state/db.js'
import { treeTime, type TreeEntry } from '../store/objects.js'
import type { SpaceStore } from '../store/space-store.js'
import { idsToHex, sameFile } from '../sources/walk.js'

export type PlanOp = 'add' | 'update' | 'delete' | 'conflict'

/** What is known of one side of an item. */
export interface ItemSide {
  size: number
  /** Modification time, ms since the epoch. */
  mtimeMs: number
  kind: 'file' | 'dir' | 'symlink' | 'other'
}

export interface PlanItem {
  op: PlanOp
  /** The item as the plan names it: `<space>/<path>`, e.g. `settings/.gitconfig`. */
  item: string
  /** HOME-relative path. */
  path: string
  local?: ItemSide
  incoming?: ItemSide & { device: string }
  /** Why a conflict is one. */
  reason?: string
  /** The incoming tree entry (absent for deletes). */
  entry?: TreeEntry
}

export interface PlanOptions {
  store: SpaceStore
  home: string
  cache: Map<string, CachedFile>
  /** Name of the device whose commit is incoming, for the preview. */
  device: string
  /** Filled with every incoming folder by HOME-relative path: apply puts their times back. */
  dirs?: Map<string, TreeEntry>
}

const KIND_NAME = { file: 'file', dir: 'folder', symlink: 'symlink', other: 'special file' } as const

function side(st: BigIntStats): ItemSide {
  return {
    size: Number(st.size),
    mtimeMs: Number(st.mtimeNs / 1_000_000n),
    kind: st.isFile() ? 'file' : st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : 'other',
  }
}

function incomingSide(e: TreeEntry, device: string): ItemSide & { device: string } {
  return { size: e.size ?? 0, mtimeMs: Number(BigInt(e.mtimeNs) / 1_000_000n), kind: e.type, device }
}

/** Walk the incoming tree against the local disk and yield every item that would change. */
export async function* planTree(o: PlanOptions, treeId: string, rel = '', parentMissing = false): AsyncGenerator<PlanItem> {
  const tree = await o.store.readTree(treeId)
  // Fetch every subtree at once; the walk below then finds them ready.
  for (const e of tree.entries) if (e.type === 'dir' && e.subtree) void o.store.readTree(e.subtree)
  for (const e of tree.entries) {
    const path = rel ? `${rel}/${e.name}` : e.name
    const abs = join(o.home, path)
    let st: BigIntStats | undefined
    // Under a folder that does not exist here, everything is an add: no need to look.
    if (!parentMissing) {
      try {
        // Synchronous: a cached lstat is microseconds, the promise round trip is not.
        st = lstatSync(abs, { bigint: true })
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
      }
    }
    const item = `${o.store.keys.name}/${path}`
    const incoming = incomingSide(e, o.device)
    if (e.type === 'dir') o.dirs?.set(path, e)
    if (!st) {
      yield { op: 'add', item, path, incoming, entry: e }
      if (e.type === 'dir') yield* planTree(o, e.subtree!, path, true)
      continue
    }
    const local = side(st)
    const conflict = (reason: string): PlanItem => ({ op: 'conflict', item, path, local, incoming, entry: e, reason })
    if (local.kind !== e.type) {
      yield conflict(`a ${KIND_NAME[e.type]} is incoming where this computer has a ${KIND_NAME[local.kind]}`)
      continue
    }
    if (e.type === 'dir') {
      yield* planTree(o, e.subtree!, path)
      continue
    }
    if (e.type === 'symlink') {
      if ((await readlink(abs)) !== e.target) yield conflict('a different local version exists that was never synced')
      continue
    }
    const cached = o.cache.get(path)
    const content = e.content ?? []
    if (cached && sameFile(cached, st)) {
      // Unchanged here since the last sync: safe to replace, or nothing to do if identical.
      if (!sameContent(cached.content, content) || cached.mode !== e.mode) yield { op: 'update', item, path, local, incoming, entry: e }
      continue
    }
    if (Number(st.size) === e.size && treeTime(st.mtimeNs) === e.mtimeNs) continue
    yield conflict(
      cached ? 'changed here since the last sync and changed in the chain' : 'a different local version exists that was never synced',
    )
  }
}

function sameContent(content: Buffer, ids: readonly string[]): boolean {
  const hex = idsToHex(content)
  return hex.length === ids.length && hex.every((h, i) => h === ids[i])
}
