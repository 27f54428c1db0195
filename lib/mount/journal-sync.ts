/**
 * Up-sync and down-sync of a space written through the mount (an application space): it has no
 * folder on disk, so its local state is its base tree plus its write journal.
 *
 * Up-sync publishes base + journal snapshot as this device's commit, exactly as an up-sync of a
 * folder publishes its scan (same parents rule), then settles the journal. Down-sync merges the
 * chain's heads as `sync down` does; there is nothing on disk to write: the merged tree becomes
 * the base. It runs only with the journal empty (right after an up-sync, with nothing written
 * since), so a change made here is always published before the chain's state replaces the base:
 * a change made on two computers then meets in the 3-way merge, which keeps both.
 */
import type { StateDb } from '../state/db.js'
import type { TreeEntry } from '../store/objects.js'
import { treeTime } from '../store/objects.js'
import type { SpaceStore } from '../store/space-store.js'
import { FileReaderPool } from '../sources/file-reader.js'
import { Walker } from '../sources/walk.js'
import { followChain } from '../sync/follow.js'
import { endUpSync, publish, startUpSync, treeMetaKey, type PublishOptions } from '../sync/up.js'
import { Warnings } from '../sync/warnings.js'
import { keptWhileVisible } from '../sync/keep-alive.js'
import { touchDevice } from '../sync/chain.js'
import { isHidden, type JournalSnapshot } from './journal.js'
import type { JournaledView } from './journaled-view.js'

export interface JournaledSpace extends PublishOptions {
  store: SpaceStore
  view: JournaledView
}

const nsOf = (ms: number) => treeTime(BigInt(Math.round(ms * 1000)) * 1000n)

/** The tree of base + snapshot: unchanged folders keep their ids, changed ones are rebuilt. */
async function buildTree(s: JournaledSpace, snap: JournalSnapshot): Promise<string> {
  const readers = new FileReaderPool()
  const warnings = new Warnings()
  const walker = new Walker({ store: s.store, cache: new Map(), warnings, readers, excluded: () => false })
  const build = async (dir: string, subtree: string | undefined, seeThrough: boolean): Promise<string> => {
    const entries = new Map<string, TreeEntry>()
    if (seeThrough) for (const e of (await s.view.base.tree(subtree)).entries) entries.set(e.name, e)
    const changed = snap.children(dir)
    for (const [name, node] of changed) {
      const path = dir ? `${dir}/${name}` : name
      // Deleted while open: never published (it goes at its last close).
      if (isHidden(path)) continue
      if (node.kind === 'gone') {
        entries.delete(name)
        continue
      }
      const mtimeNs = nsOf(node.mtimeMs)
      if (node.kind === 'file') {
        const e = await walker.entry(s.view.journal.dataPath(node.data), path, name)
        if (!e || warnings.size)
          throw new Error(`the write journal's copy of ${path} cannot be read: ${warnings.list[0]?.message ?? 'missing'}`)
        entries.set(name, { name, type: 'file', mode: node.mode, mtimeNs, size: e.size, content: e.content })
      } else if (node.kind === 'vault-file') {
        entries.set(name, { name, type: 'file', mode: node.mode, mtimeNs, size: node.size, content: node.content })
      } else if (node.kind === 'symlink') {
        entries.set(name, { name, type: 'symlink', mode: 0o777, mtimeNs, target: node.target })
      } else {
        const prev = entries.get(name)
        const through = !node.opaque && prev?.type === 'dir'
        const sub = await build(path, through ? prev.subtree : undefined, through)
        entries.set(name, { name, type: 'dir', mode: node.mode, mtimeNs, subtree: sub })
      }
    }
    for (const [name, e] of entries) {
      const path = dir ? `${dir}/${name}` : name
      if (e.type === 'dir' && !changed.has(name) && snap.touches(path))
        entries.set(name, { ...e, subtree: await build(path, e.subtree, true) })
    }
    return s.store.putTree({ entries: [...entries.values()] })
  }
  try {
    return await build('', s.view.base.root, true)
  } finally {
    await readers.close()
  }
}

/**
 * Publish what the journal holds (nothing if it is empty); the new commit id, if one was made.
 * Changes made meanwhile stay in the journal for the next time.
 */
export async function upSyncJournal(s: JournaledSpace): Promise<string | undefined> {
  const journal = s.view.journal
  if (journal.empty) return undefined
  const snap = await s.view.snapshot()
  let tree: string
  let commit: string | undefined
  try {
    await startUpSync(s.db, s.store, s.space)
    try {
      tree = await buildTree(s, snap)
    } finally {
      // Also after a failure: every upload settles (and a failed one is reported) before the
      // journal is given back for the next try.
      await s.store.flush()
    }
    commit = await publish(s, s.store, tree)
    s.db.setMeta(treeMetaKey(s.space), tree)
    endUpSync(s.db, s.space)
    // The settle below deletes the journal's copy of what is now in the base: the database
    // that names the base (and this device's commit) must be on disk first, or a power cut
    // would bring back the old base with nothing over it.
    s.db.durable()
  } catch (e) {
    journal.thaw(snap)
    throw e
  }
  // The same moment for both: the view then shows the same state before and after.
  s.view.base.setRoot(tree)
  await journal.settle(snap)
  return commit
}

/**
 * Take the chain's state as the base when it moved and nothing waits in the journal; true if
 * the base changed.
 */
export async function downSyncJournal(s: JournaledSpace): Promise<boolean> {
  if (!s.view.journal.empty) return false
  // Another computer's up-sync brought index files this process has not read yet (`reopen`).
  const { heads: ids, merged } = await followChain(s.vault, s.store, s.db, s.db.space(s.space).applied, { reopen: true })
  if (!merged) return false
  await s.store.storeVirtualTrees()
  await s.store.flush()
  // The new base must outlive any prune under way, and is published for those to come
  // (keep-alive.ts; chain.ts `bases`).
  return keptWhileVisible(s.store, [merged.tree], async () => {
    // With no change in progress: one that started before the merge (a file being copied out
    // of the old base) must be published first, then merged, never laid over the new base.
    const changed = await s.view.pause(() => {
      // Written while merging: the journal goes first (published at the next up-sync).
      if (!s.view.journal.empty) return false
      if (merged.tree) s.db.setMeta(treeMetaKey(s.space), merged.tree)
      s.db.setApplied(s.space, ids)
      const moved = s.view.base.root !== merged.tree
      s.view.base.setRoot(merged.tree)
      return moved
    })
    if (changed) await touchDevice(s.vault, s.device, 'seen', s.db)
    return changed
  })
}

/** The base tree of a journaled space as this computer last synced it. */
export function baseTree(db: StateDb, space: string): string | undefined {
  return db.getMeta(treeMetaKey(space))
}
