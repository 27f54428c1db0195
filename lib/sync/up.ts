/**
 * Up-sync of one space: scan, store new chunks and trees, then publish a commit and move this
 * device's head. Nothing is published unless the tree changed. The order — packs, index, commit,
 * head — means a crash at any point leaves a valid vault (at worst some unreferenced packs).
 */
import { lstatSync } from 'node:fs'
import { PrunedError, UsageError } from '../errors.js'
import { ownHeadLooked, ownHeadToLook } from '../state/epoch-change.js'
import { fsPath } from '../fs/raw-name.js'
import type { StateDb } from '../state/db.js'
import { SealPool } from '../store/seal-pool.js'
import { SpaceStore, type StoreStats } from '../store/space-store.js'
import { treeChanges, type FileChange } from './tree-changes.js'
import type { Vault } from '../vault/vault.js'
import { collectIncluded } from '../sources/settings.js'
import { FileReaderPool } from '../sources/file-reader.js'
import { Walker } from '../sources/walk.js'
import { Warnings, type SyncWarning } from './warnings.js'
import { entryAt, sameEntry, unionTrees } from './merge.js'
import { madeCopies, pendingCopies, settleCopies } from './copies.js'
import { finishLeftFolders, folderJournal } from './apply.js'
import type { TreeEntry } from '../store/objects.js'
import { keptWhileVisible } from './keep-alive.js'

/** Who is publishing: this computer and OS user. */
export interface DeviceIdentity {
  /** Random id of this computer+user in the chain (config.toml `[device] id`). */
  id: string
  /** Human name (config.toml `[device] name`). */
  name: string
  username: string
  hostname: string
  /** HOME of this user; tree paths are relative to it. */
  home: string
}

export interface UpSyncOptions {
  vault: Vault
  db: StateDb
  device: DeviceIdentity
  /** Space name, e.g. `settings`. */
  space: string
  /**
   * HOME-relative paths to collect (`''` = all of HOME). What this computer received from the
   * chain and the conflict copies it made are collected too.
   */
  include: readonly string[]
  /** True for HOME-relative paths to leave out (they keep the chain's version). */
  excluded: (rel: string) => boolean
  onBytes?: (n: number) => void
  onFile?: (rel: string, size: number) => void
}

export interface UpSyncResult {
  space: string
  /** The new commit id, when something changed. */
  commit?: string
  tree: string
  stats: StoreStats
  /** What the commit changed, in files (none without a commit). */
  files: FileChange[]
  warnings: SyncWarning[]
}

export function treeMetaKey(space: string): string {
  return `tree:${space}`
}

/**
 * What this device had published when its state database was lost, kept in every up-sync of the
 * space until a complete down-sync (which brings back what is missing here) clears it.
 */
export function keptMetaKey(space: string): string {
  return `kept:${space}`
}

/** Set while an up-sync of the space runs: still set at the next start, the last one was stopped. */
function runningMetaKey(space: string): string {
  return `up-running:${space}`
}

/**
 * Mark an up-sync of the space as running. If the last one was stopped (killed, or refused by
 * the account), the packs it stored that no index lists are taken in first, not sent again.
 */
export async function startUpSync(db: StateDb, store: SpaceStore, space: string): Promise<void> {
  if (db.getMeta(runningMetaKey(space))) await store.adoptOrphanPacks()
  db.setMeta(runningMetaKey(space), new Date().toISOString())
}

/** The up-sync of the space ended with everything it stored published. */
export function endUpSync(db: StateDb, space: string): void {
  db.deleteMeta(runningMetaKey(space))
}

export async function upSync(o: UpSyncOptions): Promise<UpSyncResult> {
  try {
    return await upSyncOnce(o)
  } catch (e) {
    // A prune elsewhere deleted what this run was about to refer to; nothing was published.
    // A new run reads the index again (what is gone leaves it and the file cache) and stores
    // that data again.
    if (!(e instanceof PrunedError)) throw e
    return upSyncOnce(o)
  }
}

async function upSyncOnce(o: UpSyncOptions): Promise<UpSyncResult> {
  const keys = o.vault.space(o.space)
  const sealPool = SealPool.create(keys)
  const store = o.vault.store(o.space, o.db, { sealPool })
  await store.open()
  await startUpSync(o.db, store, o.space)
  await finishLeftFolders(folderJournal(o.db, o.space))
  const warnings = new Warnings()
  const cache = o.db.files(o.space)
  const readers = new FileReaderPool()
  const base = o.db.getMeta(treeMetaKey(o.space))
  // Without a base (the state database was lost) what this device last published stands in:
  // what is missing here is then kept, not published as deleted (it may never have been here),
  // in this up-sync and the next ones until a down-sync brings it back.
  let published = o.db.getMeta(keptMetaKey(o.space))
  if (!base) {
    published ??= await lastPublished(o, store)
    if (published) o.db.setMeta(keptMetaKey(o.space), published)
  }
  const known = base ?? published
  // A folder that cannot be listed now keeps its last synced version, like an unreadable file.
  const previous = (rel: string) => entryAt(store, known, rel)
  // Conflict copies made here since the last up-sync: sent like included paths (unless excluded).
  const copies = pendingCopies(o.db, o.space)
  const walker = new Walker({ store, cache, warnings, readers, excluded: o.excluded, onBytes: o.onBytes, onFile: o.onFile, previous })
  // `scanned`: what is here (the next base); `tree`: what is published (with a lost base, plus
  // what this device published before and is missing here).
  let scanned: string
  let tree: string
  // A copy of a chain version written here (by a down-sync, or the chain's merge) since the
  // last up-sync and deleted or changed before it was sent is first published as written
  // (`held`, then `tree`). Another computer may hold the same copy (it met the same conflict, or
  // a killed down-sync of it wrote the merge's copy and its up-sync sent it as its own add);
  // without that commit the chain would never learn this computer held it, and the merge would
  // take the other's copy for an add, bringing the deleted copy back everywhere.
  let held: string
  try {
    tree = scanned = await collectIncluded(o.device.home, o.include, walker, {
      base: known ? await store.readTree(known) : undefined,
      excluded: o.excluded,
      extra: copies.filter((p) => !o.excluded(p)),
    })
    if (published) {
      // The scan's trees are read back: they must be in the vault first.
      await store.flush()
      tree = await unionTrees(store, tree, published)
    }
    await store.flush()
    held = tree
    for (const [path, made] of madeCopies(o.db, o.space))
      if (!o.excluded(path) && !asMade(await entryAt(store, tree, path), made)) {
        held = (await putAt(store, held, path, made, (rel) => entryAt(store, known, rel))) ?? held
        // The next one reads this tree back: it must be in the vault first.
        await store.flush()
      }
  } catch (e) {
    // What is in flight settles first: what arrived is indexed, and nothing fails unseen later.
    await store.flush().catch(() => {})
    throw e
  } finally {
    await readers.close()
    await sealPool?.close()
  }

  const heldCommit = held !== tree ? await publish(o, store, held) : undefined
  // After a rekey this device's head may be stale (lib/state/epoch-change.ts): written anew.
  const tag = o.vault.deviceTag(o.device.id)
  const looking = ownHeadToLook(o.db, o.space)
  const own = looking ? (await store.readHeads()).get(tag) : undefined
  const stale = looking && store.staleHead(tag)
  const commit = base !== scanned || held !== tree || stale ? await publish(o, store, tree) : undefined
  // One sealed with an earlier epoch's key (trusted as the rekey found it) is sealed anew as it
  // is: the earlier key then opens no head of this device. (Read again right before: a mount of
  // this computer may have moved it meanwhile, and must not be set back.)
  if (own && !commit && store.headSealedBefore(tag)) {
    const now = (await store.readHeads()).get(tag)
    if (now?.seq === own.seq && now.commit === own.commit && store.headSealedBefore(tag)) await store.putHead(tag, own)
  }
  if (looking) ownHeadLooked(o.db, o.space)
  o.db.setMeta(treeMetaKey(o.space), scanned)
  // A copy that could not be read now stays pending (the walker kept it out and said so).
  const sent: string[] = []
  for (const p of copies) if (o.excluded(p) || !existsHere(o.device.home, p) || (await entryAt(store, scanned, p))) sent.push(p)
  settleCopies(o.db, o.space, sent, !!(heldCommit ?? commit))
  const changes = walker.changes
  for (const path of cache.keys()) if (!walker.seen.has(path) && !changes.has(path)) changes.set(path, undefined)
  o.db.updateFiles(o.space, changes)
  endUpSync(o.db, o.space)
  const files: FileChange[] = []
  if (commit) for await (const c of treeChanges(store, known, tree)) files.push(c)
  return { space: o.space, commit, tree, stats: store.stats, files, warnings: warnings.list }
}

/** True unless nothing is at `rel` under `home` (a copy the user deleted, or one never made). */
function existsHere(home: string, rel: string): boolean {
  try {
    lstatSync(fsPath(home, rel))
    return true
  } catch (e) {
    return !['ENOENT', 'ENOTDIR'].includes((e as NodeJS.ErrnoException).code ?? '')
  }
}

/** Whether `x` is the copy `made` as written (a folder: the same contents). */
function asMade(x: TreeEntry | undefined, made: TreeEntry): boolean {
  return made.type === 'dir' ? x?.type === 'dir' && x.subtree === made.subtree : sameEntry(x, made)
}

/**
 * Tree `tree` with `entry` at the HOME-relative `path`, stored; a missing folder above it gets
 * the metadata `folder` gives (the last synced one). Undefined if a file or link is in the way.
 */
async function putAt(
  store: SpaceStore,
  tree: string | undefined,
  path: string,
  entry: TreeEntry,
  folder: (rel: string) => Promise<TreeEntry | undefined>,
  rel = '',
): Promise<string | undefined> {
  const cut = path.indexOf('/')
  const name = cut < 0 ? path : path.slice(0, cut)
  const here = rel ? `${rel}/${name}` : name
  const entries = new Map((tree ? (await store.readTree(tree)).entries : []).map((e) => [e.name, e]))
  const old = entries.get(name)
  if (cut < 0) entries.set(name, { ...entry, name })
  else {
    if (old && old.type !== 'dir') return undefined
    const sub = await putAt(store, old?.subtree, path.slice(cut + 1), entry, folder, here)
    if (!sub) return undefined
    const meta = old ?? (await folder(here))
    entries.set(name, {
      name,
      type: 'dir',
      mode: meta?.type === 'dir' ? meta.mode : 0o700,
      mtimeNs: meta?.type === 'dir' ? meta.mtimeNs : '0',
      subtree: sub,
    })
  }
  return store.putTree({ entries: [...entries.values()] })
}

/** The tree of this device's head in the space, if it published there. */
async function lastPublished(o: UpSyncOptions, store: SpaceStore): Promise<string | undefined> {
  const head = (await store.readHeads()).get(o.vault.deviceTag(o.device.id))
  return head && (await store.readCommit(head.commit)).tree
}

/** Who publishes in which space. */
export type PublishOptions = Pick<UpSyncOptions, 'vault' | 'db' | 'device' | 'space'>

/** Publish a commit of `tree` unless this device's head already points at it; the new commit id. */
export async function publish(o: PublishOptions, store: SpaceStore, tree: string): Promise<string | undefined> {
  const deviceTag = o.vault.deviceTag(o.device.id)
  const own = (await store.readHeads()).get(deviceTag)
  const state = o.db.space(o.space)
  let commit: string | undefined
  // This device's head moved on without this computer: another computer uses the same device
  // id (a copied config.toml). Publishing would fork one device's history; refuse.
  // (The same host and home is this computer after a crash between the head and the database.)
  const head = own && (await store.readCommit(own.commit))
  if (
    own &&
    head &&
    state.ownCommit &&
    own.commit !== state.ownCommit &&
    (head.hostname !== o.device.hostname || head.home !== o.device.home)
  ) {
    throw new UsageError(
      `another computer (${head.hostname}, home ${head.home}) publishes as this device: config.toml [device] id is shared, ` +
        'probably copied. Nothing was published. Give this computer its own id: remove the [vault] and [device] settings from ' +
        'config.toml and run "cloudy join".',
    )
  }
  // The state database may be new (lost, or deleted): the vault says what was published. (Only
  // when that commit already covers every head applied here: else a local undoing of what the
  // chain brought would go unsaid, and come back at the next down-sync.)
  if (
    own &&
    !store.staleHead(deviceTag) &&
    head?.tree === tree &&
    state.applied.every((a) => a === own.commit || head.parents.includes(a))
  ) {
    o.db.setOwnCommit(o.space, own.commit, own.seq)
  } else {
    // The sequence comes from the vault too: a lost state database must not make it go back.
    const seq = Math.max(state.ownSeq, own?.seq ?? 0) + 1
    // The device's previous commit and the chain heads it last applied: the history says what
    // this state was built on, which is what lets other computers merge it 3-way.
    const parents = [...new Set([own?.commit ?? state.ownCommit, ...state.applied].filter((p): p is string => !!p))]
    const time = new Date().toISOString()
    // Never with keys a rekey on another computer replaced (lib/vault/epochs.ts).
    await o.vault.assertLatestEpoch()
    // What the commit refers to must outlive any prune under way (keep-alive.ts).
    commit = await keptWhileVisible(store, [tree], async () => {
      const id = await store.putCommit({
        format: 1,
        space: o.space,
        device: deviceTag,
        deviceName: o.device.name,
        username: o.device.username,
        hostname: o.device.hostname,
        home: o.device.home,
        time,
        parents,
        tree,
        seq,
      })
      await store.putHead(deviceTag, { commit: id, seq, time })
      return id
    })
    // A rekey that took stock between the look above and the head is seen now: the head may be
    // stale for the chain (space-store.ts, `stale`), so this commit is not taken as this
    // device's; the next up-sync, with the new keys, writes one anew (docs/FORMAT.md, "Key epochs").
    await o.vault.assertLatestEpoch()
    o.db.setOwnCommit(o.space, commit, seq)
    o.db.setHeadSeen(o.space, deviceTag, seq, commit)
  }
  return commit
}
