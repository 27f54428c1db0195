/**
 * Down-sync of one space: pick the incoming state, plan it against this computer, and apply
 * the plan (or only the items asked for). Conflicts are never applied over local data.
 */
import { lstat } from 'node:fs/promises'
import { basename } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import type { StateDb } from '../state/db.js'
import { SpaceStore } from '../store/space-store.js'
import type { Commit, Head, TreeEntry } from '../store/objects.js'
import type { Vault } from '../vault/vault.js'
import { applyItems, folderJournal } from './apply.js'
import { madeCopyDeletes, planDiff, withoutDeletedCopies, writtenDeletes, type PlanItem, type PlanOptions } from './plan.js'
import { frozenHead, removedDevices, type RemovalRecord } from './chain.js'
import type { CommitRef } from './graph.js'
import { entryAt, heldSince } from './merge.js'
import { followChain } from './follow.js'
import { RollbackError, UsageError } from '../errors.js'
import { keptMetaKey, treeMetaKey, type DeviceIdentity } from './up.js'
import { Warnings, type SyncWarning } from './warnings.js'
import { madeCopies, pendingCopies, recordCopies, recordWrittenCopies } from './copies.js'
import { fsPath } from '../fs/raw-name.js'
import { keptWhileVisible } from './keep-alive.js'

export interface PlanDownOptions {
  vault: Vault
  db: StateDb
  space: string
  /** How the plan names the space's items (default: the space's name). */
  label?: string
  device: DeviceIdentity
  /** config.toml `sync.allow_username_mismatch`. */
  allowUsernameMismatch?: boolean
  /** Named in the username refusal, where the setting goes. */
  configFile?: string
  /** Paths this computer leaves out: the chain's versions are not written here. */
  excluded?: (rel: string) => boolean
  /** Where a local symlink is written through, not replaced (settings.ts `linkFollower`). */
  follow?: (rel: string, base: TreeEntry | undefined) => boolean
}

/** What a down-sync would do: the preview, and the exact list `applyDown` works from. */
export interface DownPlan {
  space: string
  /** The merged tree of the chain (absent when the chain has no commit yet). */
  target?: string
  /** The tree this computer last synced. */
  base?: string
  /** The heads merged (ids), recorded as applied once the whole plan is. */
  heads: string[]
  /** The newest commit merged, for display. */
  commit?: CommitRef
  /** HOME-relative paths of the conflict copies the chain's merge made. */
  mergeCopies?: ReadonlySet<string>
  items: PlanItem[]
  /** Every incoming folder by HOME-relative path. */
  dirs: Map<string, TreeEntry>
  store: SpaceStore
  /** Maps incoming symlink targets to this computer (the username rule). */
  mapTarget?: (target: string) => string
}

export interface DownSyncResult {
  space: string
  commit?: string
  plan: PlanItem[]
  /** Items applied. */
  applied: PlanItem[]
  /** Conflicts resolved by keeping both versions. */
  conflicts: PlanItem[]
  warnings: SyncWarning[]
}

export function selects(only: readonly string[] | undefined, item: string): boolean {
  if (!only || only.length === 0) return true
  return only.some((o) => {
    const p = o.replace(/\/+$/, '')
    return item === p || item.startsWith(p + '/')
  })
}

/**
 * The items `only` selects, with the folders they need: a new folder above a selected item is
 * applied too (made, with its mode and time), or it would appear here with made-up metadata.
 */
export function chooseItems(items: readonly PlanItem[], only: readonly string[] | undefined): PlanItem[] {
  if (!only || only.length === 0) return [...items]
  const chosen = items.filter((it) => selects(only, it.item))
  // A conflict the merge resolved writes the winner at the path; the other version (maybe the
  // one on this disk) is the copy's item, which must come along or it would be lost.
  const copies = new Set<string>()
  for (const it of chosen) if (it.resolution?.keep === 'merged') copies.add(it.resolution.copy)
  // A folder the chain turned into a file is emptied of what the chain deleted first.
  const emptied = chosen.filter((it) => it.local?.kind === 'dir' && it.entry && it.entry.type !== 'dir').map((it) => it.path + '/')
  const needed = new Set<string>()
  for (const it of chosen) for (let p = it.item; p.includes('/');) needed.add((p = p.slice(0, p.lastIndexOf('/'))))
  return items.filter(
    (it) =>
      selects(only, it.item) ||
      copies.has(it.path) ||
      (it.op === 'delete' && emptied.some((p) => it.path.startsWith(p))) ||
      (it.op === 'add' && it.entry?.type === 'dir' && needed.has(it.item)),
  )
}

/** True if `a` and `b` hold the same ids (heads compared with those last applied). */
export function sameSet(a: readonly string[], b: readonly string[]): boolean {
  const sa = new Set(a)
  return sa.size === new Set(b).size && b.every((x) => sa.has(x))
}

/** The heads of `space` seen before that are not in `heads`, but for those a removal recorded. */
function vanishedHeads(
  db: StateDb,
  space: string,
  heads: ReadonlyMap<string, Head>,
  removed: ReadonlyMap<string, RemovalRecord>,
): [string, { seq: number; commit: string }][] {
  return [...db.headsSeen(space)].filter(([device]) => !heads.has(device) && !removed.get(device)?.heads?.[space])
}

/**
 * Refuse a head this computer saw before that is gone from the listing: heads are never deleted
 * (a removed device's stay too), so the storage account lost it, serves an old state or was
 * tampered with, and merging without it would silently undo that device's work here. Only the
 * head of a device whose removal recorded its head in this space may go: it is not read.
 */
export function assertNoVanishedHeads(
  db: StateDb,
  space: string,
  heads: ReadonlyMap<string, Head>,
  removed: ReadonlyMap<string, RemovalRecord>,
): void {
  const gone = vanishedHeads(db, space, heads, removed)
  if (gone.length === 0) return
  const named = gone.map(([device, seen]) => {
    const json = db.getCommit(space, seen.commit)
    const name = json ? (JSON.parse(json) as Commit).deviceName : undefined
    return `${name ? `${name} (${device.slice(0, 8)})` : device.slice(0, 8)} at #${seen.seq}`
  })
  throw new RollbackError(
    `${gone.length === 1 ? 'the head of device' : 'the heads of devices'} ${named.join(', ')} in space ${space} ${gone.length === 1 ? 'is' : 'are'} gone from the vault, ` +
      'though this computer saw it: heads are never deleted, so the storage account lost it, serves an old state or was ' +
      'tampered with. Nothing was applied. Bring the missing objects back (a backup of the storage account), or run "cloudy check".',
  )
}

/** The heads of the chain that count: every device's, those taken out of the chain as they were then. */
export async function chainHeads(vault: Vault, store: SpaceStore, db: StateDb): Promise<Map<string, Head>> {
  let [heads, removed] = await Promise.all([store.readHeads(), removedDevices(vault, db)])
  if (vanishedHeads(db, store.keys.name, heads, removed).length) {
    // A provider that replaces an object by delete and rename (SFTP without posix-rename) can
    // list a head as missing for a moment: look once more before calling it gone.
    await sleep(1000)
    heads = await store.readHeads()
  }
  assertNoVanishedHeads(db, store.keys.name, heads, removed)
  for (const [tag, removal] of removed) {
    const head = frozenHead(removal, store.keys.name, heads.get(tag))
    if (head) heads.set(tag, head)
    else heads.delete(tag)
  }
  return heads
}

/**
 * The username rule: commits made by another OS user are refused unless allowed; when allowed
 * (or when only the home folder differs), absolute link targets under the author's home are
 * mapped to this home.
 */
function usernameRule(o: PlanDownOptions, commits: readonly Commit[]): (target: string) => string {
  const foreign = commits.find((c) => c.username !== o.device.username)
  if (foreign && !o.allowUsernameMismatch) {
    throw new UsageError(
      `the chain holds ${o.space} of OS user "${foreign.username}" (home ${foreign.home}, computer ${foreign.deviceName}) and this is user ` +
        `"${o.device.username}": down-sync refused, so that one user's files never land in another's home. Nothing was changed. ` +
        `If both accounts are you, set "allow_username_mismatch = true" under [sync] in ${o.configFile ?? 'config.toml'}; ` +
        `paths under ${foreign.home} are then mapped to ${o.device.home}.`,
    )
  }
  const homes = [...new Set(commits.map((c) => c.home))].filter((h) => h !== o.device.home && h.startsWith('/'))
  if (homes.length === 0) return (t) => t
  return (t) => {
    for (const h of homes) if (t === h || t.startsWith(h + '/')) return o.device.home + t.slice(h.length)
    return t
  }
}

/** The distinct commits the chain's heads of `store`'s space point at. */
export async function chainHeadIds(vault: Vault, store: SpaceStore, db: StateDb): Promise<string[]> {
  return [...new Set([...(await chainHeads(vault, store, db)).values()].map((h) => h.commit))]
}

/** Plan a down-sync of one space. Changes nothing, here or in the vault. */
export async function planDown(o: PlanDownOptions): Promise<DownPlan> {
  const store = o.vault.store(o.space, o.db)
  await store.open()
  const state = o.db.space(o.space)
  const { heads: headIds, merged, graph } = await followChain(o.vault, store, o.db, state.applied)
  const base = o.db.getMeta(treeMetaKey(o.space))
  const dirs = new Map<string, TreeEntry>()
  const plan: DownPlan = { space: o.space, base, heads: headIds, items: [], dirs, store }
  // The same heads as at the last complete down-sync: nothing came in since. (Changes made
  // here are up-sync's business.) This is what makes a no-change down-sync cost a listing.
  if (!merged) return plan
  const ownTag = o.vault.deviceTag(o.device.id)
  const others = await Promise.all(headIds.map((id) => graph.get(id)))
  const mapTarget = usernameRule(
    o,
    others.filter((c) => c.device !== ownTag),
  )
  const newest = merged.heads[merged.heads.length - 1]
  const held = heldSince(store, graph, headIds, state.applied)
  plan.mapTarget = mapTarget
  plan.target = merged.tree
  plan.commit = newest
  const device = merged.heads.length > 1 ? merged.heads.map((h) => h.commit.deviceName).join('+') : (newest?.commit.deviceName ?? '')
  const mergedConflicts = new Map(merged.conflicts.map((c) => [c.path, { reason: c.reason, copy: c.copy }]))
  plan.mergeCopies = new Set(merged.conflicts.map((c) => c.copy))
  const made = madeCopies(o.db, o.space)
  const options: PlanOptions = {
    store,
    label: o.label,
    home: o.device.home,
    cache: o.db.files(o.space),
    device,
    merging: merged.heads.length > 1,
    authorOf: merged.authorOf,
    thisDevice: o.device.name,
    merged: mergedConflicts,
    mapTarget,
    dirs,
    excluded: o.excluded,
    follow: o.follow,
    unfinished: folderJournal(o.db, o.space).read(),
    unsentCopies: pendingCopies(o.db, o.space),
    held,
  }
  const items: PlanItem[] = []
  for await (const item of planDiff(options, base, merged.tree)) items.push(item)
  plan.items = await withoutDeletedCopies(options, items, made)
  // This computer's unsent copies of chain versions the chain deleted since (plan.ts
  // `madeCopyDeletes`). The base lacks them (they were never sent), so the diff does not see them.
  const pending = new Set(pendingCopies(o.db, o.space))
  const planned = new Set(plan.items.map((it) => it.path))
  const unsent = new Map([...made].filter(([p]) => pending.has(p) && !planned.has(p)))
  if (unsent.size) {
    for await (const item of madeCopyDeletes(options, merged.tree, unsent, held)) plan.items.push(item)
  }
  // Files a down-sync that stopped halfway wrote here, which the chain deleted since (plan.ts `writtenDeletes`).
  const looked = new Set(plan.items.map((it) => it.path))
  const written = downWritten(o.db, o.space).filter((p) => !looked.has(p))
  for await (const item of writtenDeletes(options, base, merged.tree, written)) plan.items.push(item)
  return plan
}

function writtenMetaKey(space: string): string {
  return `down-written:${space}`
}

/**
 * The paths down-syncs of the space wrote a file at since the last complete one (plan.ts
 * `writtenDeletes`). Recorded before the apply: a killed one records nothing after.
 */
function downWritten(db: StateDb, space: string): string[] {
  const value = db.getMeta(writtenMetaKey(space))
  return value ? (JSON.parse(value) as string[]) : []
}

function recordWritten(db: StateDb, space: string, items: readonly PlanItem[]): void {
  const paths = items
    .filter((it) => it.op !== 'delete' && it.entry?.type === 'file' && it.resolution?.keep !== 'local')
    .map((it) => it.path)
  if (paths.length) db.setMeta(writtenMetaKey(space), JSON.stringify([...new Set([...downWritten(db, space), ...paths])].sort()))
}

/**
 * The copies of chain versions this run wrote, as the chain's entries of them: the incoming
 * version kept beside the local one, and the copies the chain's merge made. Another computer
 * meeting the same conflict makes the same copy (or a killed down-sync of it wrote the merge's
 * copy, and its next up-sync sends it as its own add), so a deletion of the copy here must
 * reach the chain though no commit of this computer ever held it (copies.ts `madeCopies`).
 * Only after a whole run without a warning, and only copies found on disk: the entry must be
 * what was written here, or a copy never made here would count as deleted here.
 */
async function writtenCopies(home: string, plan: DownPlan, items: readonly PlanItem[], whole: boolean): Promise<Map<string, TreeEntry>> {
  const written = new Map<string, TreeEntry>()
  if (!whole) return written
  for (const it of items) {
    const keep = it.op === 'conflict' ? it.resolution?.keep : undefined
    // A merge's copy of a version is a plain add where nothing changes at the name here (the
    // version this computer has there won): written here all the same.
    const added = it.op === 'add' && !!plan.mergeCopies?.has(it.path)
    if (!it.entry || (keep !== 'local' && keep !== 'merged' && !added)) continue
    const copy = added ? it.path : it.resolution!.copy
    if (written.has(copy)) continue
    const made = keep === 'local' ? { ...it.entry, name: basename(copy) } : await entryAt(plan.store, plan.target, copy)
    const here = made && (await lstat(fsPath(home, copy)).catch(() => undefined))
    if (!made || !here || here.isDirectory() !== (made.type === 'dir')) continue
    const entry = { ...made }
    if (entry.type === 'symlink' && entry.target !== undefined && plan.mapTarget) entry.target = plan.mapTarget(entry.target)
    written.set(copy, entry)
  }
  return written
}

/** Apply a plan, or only the items under `only` (plan names). Conflicts keep both versions. */
export async function applyDown(
  o: {
    db: StateDb
    home: string
    only?: readonly string[]
    onBytes?: (n: number) => void
    onFile?: (path: string, size: number) => void
    /** Publish the new base (this device's record) once it is recorded. */
    pin?: () => Promise<void>
  },
  plan: DownPlan,
): Promise<DownSyncResult> {
  const warnings = new Warnings()
  const chosen = chooseItems(plan.items, o.only)
  const complete = chosen.length === plan.items.length
  // The merged tree is stored first: once this computer records it as its base, the next
  // down-sync reads it from the vault. (Immutable blobs: storing it twice costs nothing.)
  if (complete && plan.target) {
    await plan.store.storeVirtualTrees()
    await plan.store.flush()
  }
  // Recorded before the apply moves anything aside: a run that stops halfway (killed, a full
  // disk) must not leave a local version in a copy that no up-sync sends.
  recordCopies(o.db, plan.space, chosen)
  recordWritten(o.db, plan.space, chosen)
  const options = {
    store: plan.store,
    home: o.home,
    warnings,
    dirs: plan.dirs,
    onBytes: o.onBytes,
    onFile: o.onFile,
    mapTarget: plan.mapTarget,
    journal: folderJournal(o.db, plan.space),
  }
  // The copies the chain's merge keeps versions in are written first: one may hold the version
  // on this disk that another item replaces. Killed between that replacement and the copy, the
  // next up-sync would publish the replacement, and the version would be in no computer's state
  // any more (soak adversarial seed 75: a file a folder replaced).
  // A copy whose folder has a file (or link) in its place here waits for the item that makes the
  // folder: written first it could not be, and that failure touched the file (soak normal seed
  // 22). Its version is the chain's (this disk has the file there), so nothing waits on it.
  const copies = [...(plan.mergeCopies ?? [])]
  const copied = (it: PlanItem) => it.op === 'add' && copies.some((c) => it.path === c || it.path.startsWith(c + '/'))
  const blocked = new Set<string>()
  for (const it of chosen) if (copied(it) && (await fileInTheWay(o.home, it.path))) blocked.add(it.path)
  const inCopy = (it: PlanItem) => copied(it) && !blocked.has(it.path)
  const first = chosen.filter(inCopy)
  if (first.length) o.db.updateFiles(plan.space, await applyItems(options, first))
  o.db.updateFiles(
    plan.space,
    await applyItems(
      options,
      chosen.filter((it) => !inCopy(it)),
    ),
  )
  recordWrittenCopies(o.db, plan.space, chosen, await writtenCopies(o.home, plan, chosen, complete && warnings.size === 0))
  if (complete && warnings.size === 0 && plan.heads.length) {
    // The new base must outlive any prune under way (keep-alive.ts), and is published for the
    // prunes to come.
    const record = () => {
      if (plan.target) o.db.setMeta(treeMetaKey(plan.space), plan.target)
      o.db.deleteMeta(keptMetaKey(plan.space))
      o.db.deleteMeta(writtenMetaKey(plan.space))
      o.db.setApplied(plan.space, plan.heads)
    }
    if (plan.target !== undefined && plan.target !== plan.base)
      await keptWhileVisible(plan.store, [plan.target], async () => {
        record()
        await o.pin?.()
      })
    else record()
  }
  return {
    space: plan.space,
    commit: plan.commit?.id,
    plan: plan.items,
    applied: chosen,
    conflicts: chosen.filter((it) => it.op === 'conflict'),
    warnings: warnings.list,
  }
}

/** Whether a folder above `path` (HOME-relative) is something else than a folder here. */
async function fileInTheWay(home: string, path: string): Promise<boolean> {
  for (let i = path.indexOf('/'); i > 0; i = path.indexOf('/', i + 1)) {
    const st = await lstat(fsPath(home, path.slice(0, i))).catch(() => undefined)
    if (!st) return false
    if (!st.isDirectory()) return true
  }
  return false
}
