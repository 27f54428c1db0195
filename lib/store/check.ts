/**
 * `cloudy check`: proves the vault is whole. Structure always (index files open, every pack
 * named by an index exists and its header agrees with the index, every head -> commit -> tree
 * -> chunk reference resolves); with `readData`, every byte of every pack is read and every
 * blob authenticated and re-hashed against its id.
 */
import type { ProgressSink } from '../sync/progress.js'
import type { Provider } from '../../providers/provider.js'
import { CloudyError, NotFoundError } from '../errors.js'
import { BlobType } from '../vault/aead.js'
import { openSealed, sealedWithOlderKey, type Provenance } from '../vault/epochs.js'
import { blobId, type SpaceKeys } from '../vault/keys.js'
import { decodePayload } from './codec.js'
import { decodeIndex, type IndexEntry } from './index-file.js'
import { decodeJson, isCommit, isHead, isTree, type Commit, type Head, type Tree } from './objects.js'
import { packKey, readPackHeader } from './pack.js'
import { isForgetRecord, isPruneMark, type ForgetRecord, type PruneMark } from './prune-records.js'

export interface CheckProblem {
  /** Provider key of the damaged or missing object. */
  object: string
  message: string
}

export interface CheckReport {
  spaces: number
  packs: number
  blobs: number
  commits: number
  /** Bytes of pack data read and verified (read-data only). */
  bytesRead: number
  problems: CheckProblem[]
  /**
   * Packs no index lists: left by an up-sync that was stopped (killed, or refused by the
   * account) and not yet taken in by a later one. Not damage: no commit needs them, and the
   * next up-sync of the computer that stored them takes them in, or a prune deletes them.
   */
  orphanPacks?: { object: string; bytes: number }[]
  /** Commits `forget` let go (their forget records), over every space. */
  forgotten?: number
  /**
   * Blobs no retained commit and no computer's base uses, over every space: what `prune`
   * removes. Not damage. (A blob stored twice counts once per extra copy.)
   */
  unused?: { blobs: number; bytes: number }
  /** Packs a prune under way condemned (deleted at its next step). */
  condemned?: number
  /**
   * Objects sealed with keys a rekey replaced, after it took stock (docs/FORMAT.md, "Key
   * epochs"): not trusted, so not used; not damage. Their computer writes its own anew.
   */
  stale?: string[]
}

export interface CheckOptions {
  readData?: boolean
  /** Told the packs to look at (their count and bytes), each pack as it is read, and the end. */
  progress?: ProgressSink
  /** What this computer saw of the space's heads: one gone back or gone since is reported. */
  heads?: HeadsSeen
  /** The trees the chain's computers rest on in this space (their records' bases): each must be whole. */
  bases?: readonly { tree: string; from: string }[]
}

/** The heads of one space this computer saw before (its state database). */
export interface HeadsSeen {
  /** By device tag: the highest sequence number and its commit. */
  seen: ReadonlyMap<string, { seq: number; commit: string }>
  /** Devices whose head may be gone: taken out of the chain with their head recorded then. */
  mayBeGone?: ReadonlySet<string>
  /** A device's name for messages. */
  name?: (device: string) => string | undefined
}

function openObject(keys: SpaceKeys, type: BlobType, id: Buffer, sealed: Uint8Array, from: Provenance): Buffer | undefined {
  const payload = openSealed(keys, type, id, sealed, from)
  return payload && decodePayload(payload)
}

/** Check one space; problems are collected, not thrown. */
export async function checkSpace(provider: Provider, keys: SpaceKeys, report: CheckReport, options: CheckOptions = {}): Promise<void> {
  const prefix = `s/${keys.tag}/`
  const problem = (object: string, message: string) => report.problems.push({ object, message })
  /** Whether `sealed` is stale (CheckReport.stale), which is then noted. */
  const stale = (object: string, type: BlobType, id: Buffer, sealed: Uint8Array) => {
    if (!sealedWithOlderKey(keys, type, id, sealed)) return false
    ;(report.stale ??= []).push(object)
    return true
  }
  const get = async (key: string): Promise<Uint8Array | undefined> => {
    try {
      return await provider.get(key)
    } catch (e) {
      if (e instanceof NotFoundError) return undefined
      throw e
    }
  }
  report.spaces++

  // 1. Index files.
  const index = new Map<string, IndexEntry>()
  const byPack = new Map<string, IndexEntry[]>()
  for await (const o of provider.list(`${prefix}index/`)) {
    const name = o.key.slice(`${prefix}index/`.length)
    const sealed = await get(o.key)
    const plain = sealed && openObject(keys, BlobType.index, Buffer.from(name, 'hex'), sealed, { kind: 'index', name })
    if (!plain && sealed && stale(o.key, BlobType.index, Buffer.from(name, 'hex'), sealed)) continue
    const entries = plain && decodeIndex(plain)
    if (!entries) {
      problem(o.key, 'index file fails authentication or is malformed')
      continue
    }
    for (const e of entries) {
      index.set(e.id.toString('hex'), e)
      let l = byPack.get(e.pack)
      if (!l) byPack.set(e.pack, (l = []))
      l.push(e)
    }
  }

  // 2. Packs: header against index; with readData, every blob.
  const packsOnDisk = new Map<string, number>()
  for await (const o of provider.list(`${prefix}packs/`)) packsOnDisk.set(o.key.slice(o.key.lastIndexOf('/') + 1), o.size)
  for (const [pack, bytes] of packsOnDisk) {
    if (!byPack.has(pack) && /^[0-9a-f]{64}$/.test(pack)) (report.orphanPacks ??= []).push({ object: packKey(keys.tag, pack), bytes })
  }
  options.progress?.total?.(
    byPack.size,
    [...byPack.keys()].reduce((n, p) => n + (packsOnDisk.get(p) ?? 0), 0),
  )
  for (const [pack, entries] of byPack) {
    const key = packKey(keys.tag, pack)
    const size = packsOnDisk.get(pack)
    if (size === undefined) {
      problem(key, `pack is missing, but the index lists ${entries.length} blobs in it`)
      continue
    }
    report.packs++
    options.progress?.file?.(key, size)
    const header = await readPackHeader(provider, [keys.blobKey, ...keys.older], key, pack, size, options.readData)
    options.progress?.add(size)
    if ('error' in header) {
      problem(key, header.error)
      continue
    }
    const inPack = new Map(header.entries.map((e) => [e.id.toString('hex'), e]))
    for (const e of entries) {
      const h = inPack.get(e.id.toString('hex'))
      if (!h || h.offset !== e.offset || h.length !== e.length || h.type !== e.type) {
        problem(key, `blob ${e.id.toString('hex')} is not where the index says`)
      }
    }
    if (options.readData && header.data) {
      for (const e of header.entries) {
        report.blobs++
        report.bytesRead += e.length
        const plain = openObject(keys, e.type, e.id, header.data.subarray(e.offset, e.offset + e.length), { kind: 'content' })
        if (!plain) problem(key, `blob ${e.id.toString('hex')} at offset ${e.offset} fails authentication (damaged or moved)`)
        else if ((e.type === BlobType.data || e.type === BlobType.tree) && !blobId(keys, plain).equals(e.id)) {
          problem(key, `blob ${e.id.toString('hex')} does not hash to its id`)
        } else if (plain.length !== e.rawLength) problem(key, `blob ${e.id.toString('hex')} has the wrong length`)
      }
    } else report.blobs += header.entries.length
  }

  // 3. Forget records and prune marks: each must open; what they name is not missing.
  const forgotten = new Map<string, ForgetRecord['commits'][string]>()
  const condemned = new Set<string>()
  for (const [kind, type] of [
    ['forgotten', BlobType.forgotten],
    ['prune', BlobType.pruneMark],
  ] as const) {
    for await (const o of provider.list(`${prefix}${kind}/`)) {
      const name = o.key.slice(o.key.lastIndexOf('/') + 1)
      if (!/^[0-9a-f]{64}$/.test(name)) continue
      const sealed = await get(o.key)
      if (!sealed) continue
      const plain = openObject(keys, type, Buffer.from(name, 'hex'), sealed, { kind: 'named', key: o.key })
      if (!plain && stale(o.key, type, Buffer.from(name, 'hex'), sealed)) continue
      const value = plain && decodeJson<unknown>(plain)
      if (kind === 'forgotten' && isForgetRecord(value))
        for (const [id, c] of Object.entries((value as ForgetRecord).commits)) forgotten.set(id, c)
      else if (kind === 'prune' && isPruneMark(value)) for (const p of (value as PruneMark).packs) condemned.add(p)
      else problem(o.key, `${kind === 'prune' ? 'prune mark' : 'forget record'} fails authentication or is malformed`)
    }
  }
  report.forgotten = (report.forgotten ?? 0) + forgotten.size
  if (condemned.size) report.condemned = (report.condemned ?? 0) + condemned.size

  // 4. Heads -> commits -> trees -> chunks; the computers' bases.
  const seenTrees = new Set<string>()
  const usedChunks = new Set<string>()
  const readTree = async (id: string, from: string): Promise<Tree | undefined> => {
    const loc = index.get(id)
    if (!loc) {
      problem(from, `refers to tree ${id}, which no index lists`)
      return undefined
    }
    const key = packKey(keys.tag, loc.pack)
    let sealed: Uint8Array
    try {
      sealed = await provider.get(key, { offset: loc.offset, length: loc.length })
    } catch (e) {
      if (e instanceof NotFoundError) return undefined // reported with the pack
      throw e
    }
    const plain = openObject(keys, BlobType.tree, Buffer.from(id, 'hex'), sealed, { kind: 'content' })
    const tree = plain && decodeJson<Tree>(plain)
    if (!isTree(tree)) {
      problem(key, `tree ${id} fails authentication or is malformed`)
      return undefined
    }
    return tree
  }
  const walk = async (id: string, from: string): Promise<void> => {
    if (seenTrees.has(id)) return
    seenTrees.add(id)
    const tree = await readTree(id, from)
    if (!tree) return
    for (const e of tree.entries) {
      if (e.type === 'dir' && e.subtree) await walk(e.subtree, `tree ${id}`)
      for (const c of e.content ?? []) {
        usedChunks.add(c)
        if (!index.has(c)) problem(`tree ${id}`, `file "${e.name}" refers to chunk ${c}, which no index lists`)
      }
    }
  }
  const seenCommits = new Set<string>()
  const commitQueue: { id: string; from: string }[] = []
  const listed = new Set<string>()
  const who = (device: string) => {
    const name = options.heads?.name?.(device)
    return name ? `${name} (${device.slice(0, 8)})` : device.slice(0, 8)
  }
  for await (const o of provider.list(`${prefix}heads/`)) {
    const device = o.key.slice(`${prefix}heads/`.length)
    listed.add(device)
    const sealed = await get(o.key)
    const plain = sealed && openObject(keys, BlobType.head, Buffer.from(device, 'hex'), sealed, { kind: 'named', key: o.key })
    if (!plain && sealed && stale(o.key, BlobType.head, Buffer.from(device, 'hex'), sealed)) {
      // The head as this computer last saw it stands in (as for a sync).
      const seen = options.heads?.seen.get(device)
      if (seen) commitQueue.push({ id: seen.commit, from: o.key })
      continue
    }
    const head = plain && decodeJson<Head>(plain)
    if (!isHead(head)) problem(o.key, 'head fails authentication or is malformed')
    else {
      const seen = options.heads?.seen.get(device)
      if (seen && head.seq < seen.seq)
        problem(
          o.key,
          `head of ${who(device)} went back from #${seen.seq} to #${head.seq}: the storage account serves an old state (a rollback)`,
        )
      commitQueue.push({ id: head.commit, from: o.key })
    }
  }
  // Heads are never deleted: one this computer saw that is gone was lost or taken away.
  for (const [device, seen] of options.heads?.seen ?? [])
    if (!listed.has(device) && !options.heads?.mayBeGone?.has(device))
      problem(
        `${prefix}heads/${device}`,
        `head of ${who(device)} is missing, though this computer saw #${seen.seq} (commit ${seen.commit})`,
      )
  while (commitQueue.length) {
    const { id, from } = commitQueue.pop()!
    if (seenCommits.has(id)) continue
    seenCommits.add(id)
    // Forgotten: its tree may be pruned, its object deleted; its parents are in the record.
    const gone = forgotten.get(id)
    if (gone) {
      for (const p of gone.parents) commitQueue.push({ id: p, from: `commit ${id} (forgotten)` })
      continue
    }
    const key = `${prefix}commits/${id}`
    const sealed = await get(key)
    if (!sealed) {
      problem(key, `commit is missing (referred to by ${from})`)
      continue
    }
    const plain = openObject(keys, BlobType.commit, Buffer.from(id, 'hex'), sealed, { kind: 'content' })
    const commit = plain && decodeJson<Commit>(plain)
    if (!isCommit(commit)) {
      problem(key, 'commit fails authentication or is malformed')
      continue
    }
    report.commits++
    await walk(commit.tree, key)
    for (const p of commit.parents) commitQueue.push({ id: p, from: key })
  }
  for (const b of options.bases ?? []) await walk(b.tree, b.from)

  // 5. What nothing retained uses: prune's to remove.
  let unusedBlobs = 0
  let unusedBytes = 0
  const counted = new Set<string>()
  for (const [pack, entries] of byPack) {
    if (condemned.has(pack)) continue
    for (const e of entries) {
      const hex = e.id.toString('hex')
      const used = e.type === BlobType.tree ? seenTrees.has(hex) : usedChunks.has(hex)
      if (used && !counted.has(hex)) counted.add(hex)
      else {
        unusedBlobs++
        unusedBytes += e.length
      }
    }
  }
  if (unusedBlobs) {
    const u = (report.unused ??= { blobs: 0, bytes: 0 })
    u.blobs += unusedBlobs
    u.bytes += unusedBytes
  }
}

/** An IntegrityError-like result for the command line. */
export class CheckFailed extends CloudyError {
  constructor(report: CheckReport) {
    super(
      'EINTEGRITY',
      7,
      `check found ${report.problems.length} problem(s): ${report.problems.map((p) => `${p.object}: ${p.message}`).join('; ')}`,
    )
  }
}
