/**
 * One space's content-addressed store on the provider: blobs in packs, index files, trees,
 * commits and heads under `s/<spaceTag>/`. Dedup is by blob id within the space only.
 */
import type { Provider } from '../../providers/provider.js'
import { CloudyError, IntegrityError, NotFoundError, ProviderError, RollbackError } from '../errors.js'
import type { BlobLocation, StateDb } from '../state/db.js'
import { ownFilesProblem } from '../state/own-file-errors.js'
import { BlobType, open, seal } from '../vault/aead.js'
import { openInEpoch, openSealed, type Provenance } from '../vault/epochs.js'
import { blobId, type SpaceKeys } from '../vault/keys.js'
import { randomBytes } from '../vault/sodium.js'
import { decodePayload, encodePayload } from './codec.js'
import { decodeIndex, encodeIndex, type IndexEntry } from './index-file.js'
import { decodeJson, encodeTree, isCommit, isHead, isTree, type Commit, type Head, type Tree, type TreeEntry } from './objects.js'
import { packKey, readPackHeader } from './pack.js'
import { PackWriter } from './pack-writer.js'
import { beat } from './pulse.js'
import { isForgetRecord, isPruneMark, type ForgetRecord, type PruneMark } from './prune-records.js'
import type { SealPool } from './seal-pool.js'

/** Options of a SpaceStore. */
export interface SpaceStoreOptions {
  /** Target pack size in bytes; a pack is closed once it reaches it. Default 16 MiB (`CLOUDY_PACK_SIZE` for tests). */
  packSize?: number
  /** Seal large blobs on worker threads. Default: none, all on the calling thread. */
  sealPool?: SealPool
  /**
   * Where the store also lists its uploads in flight (the vault's, `Vault.settle`): a run that
   * fails while packs are still uploading is only over, and its keys only wiped, once they are.
   */
  inFlight?: Set<Promise<unknown>>
}

/** Blobs from this size go to the seal pool, when there is one; smaller ones are not worth a message. */
const POOL_MIN = 64 * 1024

/** The default pack size; `CLOUDY_PACK_SIZE=BYTES` lets tests of the command line make many small packs. */
function defaultPackSize(): number {
  const n = Number(process.env.CLOUDY_PACK_SIZE)
  return Number.isInteger(n) && n >= 4096 ? n : 16 * 1024 * 1024
}

/** What an up-sync sent, for progress and tests. */
export interface StoreStats {
  blobsAdded: number
  blobsDeduped: number
  packsWritten: number
  /** Bytes of packs uploaded, headers included. */
  packBytes: number
  /** Plaintext bytes of the blobs added. */
  plainBytes: number
}

export class SpaceStore {
  readonly keys: SpaceKeys
  readonly stats: StoreStats = { blobsAdded: 0, blobsDeduped: 0, packsWritten: 0, packBytes: 0, plainBytes: 0 }
  /** Reached through this store only (docs/ARCHITECTURE.md, "Layers"). */
  readonly #provider: Provider
  #db: StateDb
  #packSize: number
  #sealPool: SealPool | undefined
  #pack: PackWriter | undefined
  /** Blobs added in this session, not yet in an index file: id hex -> location (pack may be in flight). */
  #pending = new Map<string, IndexEntry>()
  /** Uploads in flight (a pack and then its index file); each removes itself when settled. */
  #uploads = new Set<Promise<void>>()
  /**
   * The first upload that failed since the last `flush`. While set the store is poisoned: blobs
   * added may refer to what never arrived, so nothing is added, flushed or published until a
   * `flush` has reported it (and the caller starts over from what the vault really holds).
   */
  #failure: CloudyError | undefined
  #treeCache = new Map<string, Promise<Tree>>()
  /** Trees made in memory (merge results): readable by id, stored only by `storeVirtualTrees`. */
  #virtual = new Map<string, Tree>()

  constructor(provider: Provider, keys: SpaceKeys, db: StateDb, options: SpaceStoreOptions = {}) {
    this.#provider = provider
    this.keys = keys
    this.#db = db
    this.#packSize = options.packSize ?? defaultPackSize()
    this.#sealPool = options.sealPool
    this.#inFlight = options.inFlight
  }

  #inFlight: Set<Promise<unknown>> | undefined

  /** How many uploads or reads the provider takes at once. */
  get parallelism(): number {
    return this.#provider.parallelism ?? 1
  }

  /** Bytes `offset` to `offset + length` of pack `pack`, sealed as they are stored. */
  readPackRange(pack: string, offset: number, length: number): Promise<Uint8Array> {
    return this.#provider.get(packKey(this.keys.tag, pack), { offset, length })
  }

  get prefix(): string {
    return `s/${this.keys.tag}/`
  }

  /**
   * Bring the local copy of the blob index up to date with the vault's index files, and read
   * the space's forget records and prune marks.
   */
  async open(): Promise<number> {
    this.#openedAt = performance.now()
    // Three listings at once: on a remote provider each is a round trip.
    const [vanished] = await Promise.all([this.#readIndex(), this.refreshMarks(), this.#readForgotten()])
    this.#known = undefined
    return vanished
  }

  /** Take in the index files new since the last look, drop those gone; how many went. */
  async #readIndex(): Promise<number> {
    const onProvider = new Set(await this.#listNames('index'))
    // Index files known here but gone from the vault (pruned, or another vault at the same
    // place): their packs' blobs leave the local copy, and the file cache entries naming them.
    const vanished = this.#db.indexNames(this.keys.name).filter((n) => !onProvider.has(n))
    this.#db.dropIndexes(this.keys.name, vanished)
    const names = [...onProvider].filter((n) => !this.#db.hasIndex(this.keys.name, n) && !this.#stale.has(`index/${n}`))
    await inParallel(names, async (name) => {
      const entries = await this.#readIndexFile(name)
      if (entries) this.#db.addIndex(this.keys.name, name, entries)
    })
    return vanished.length
  }

  /** The names (64 hex digits) of the objects of `kind` under this space. */
  async #listNames(kind: 'index' | 'forgotten' | 'prune'): Promise<string[]> {
    const names: string[] = []
    for await (const o of this.#provider.list(`${this.prefix}${kind}/`)) {
      const name = o.key.slice(o.key.lastIndexOf('/') + 1)
      if (/^[0-9a-f]{64}$/.test(name)) names.push(name)
    }
    return names
  }

  /** Index file `name`'s entries; undefined when it is gone or stale (`#readTrusted`). */
  async #readIndexFile(name: string): Promise<IndexEntry[] | undefined> {
    const key = this.#objectKey('index', name)
    const plain = await this.#readTrusted(key, BlobType.index, Buffer.from(name, 'hex'), { kind: 'index', name })
    if (!plain) return undefined
    const entries = decodeIndex(plain)
    if (!entries) throw new IntegrityError(key, 'index file is malformed')
    return entries
  }

  #openedAt = 0

  /** When `open` last read the index (performance.now() time). */
  get openedAt(): number {
    return this.#openedAt
  }

  /** Forgotten commits by id (forget records, read at `open`). */
  #forgotten = new Map<string, Commit>()
  #forgetRecords = new Set<string>()
  /** Prune marks seen, by id. */
  #marks = new Map<string, PruneMark>()
  /** The packs the marks condemn: never a place to dedup against or to adopt. */
  #condemned = new Set<string>()

  get forgotten(): ReadonlyMap<string, Commit> {
    return this.#forgotten
  }

  get marks(): ReadonlyMap<string, PruneMark> {
    return this.#marks
  }

  get condemned(): ReadonlySet<string> {
    return this.#condemned
  }

  async #readForgotten(): Promise<void> {
    const names = (await this.#listNames('forgotten')).filter((n) => !this.#forgetRecords.has(n))
    await inParallel(names, async (name) => {
      const key = this.#objectKey('forgotten', name)
      const plain = await this.#readTrusted(key, BlobType.forgotten, Buffer.from(name, 'hex'), { kind: 'named', key })
      if (!plain) return
      const record = decodeJson<ForgetRecord>(plain)
      if (!isForgetRecord(record)) throw new IntegrityError(key, 'not a valid forget record')
      for (const [id, c] of Object.entries(record.commits)) this.#forgotten.set(id, c)
      for (const app of record.apps ?? []) this.#forgottenApps.add(app)
      this.#forgetRecords.add(name)
    })
  }

  #forgottenApps = new Set<string>()

  /** Applications named by forgotten commits of the list of applications (`ForgetRecord.apps`). */
  get forgottenApps(): ReadonlySet<string> {
    return this.#forgottenApps
  }

  /** The forget records there are (their ids). */
  get forgetRecords(): ReadonlySet<string> {
    return this.#forgetRecords
  }

  /**
   * Read the prune marks written since the last look (an up-sync looks again right before it
   * moves its head). Returns the marks new to this store, and the number of marks gone since
   * (their prunes finished: the packs they condemned are deleted).
   */
  async refreshMarks(): Promise<{ fresh: PruneMark[]; finished: number }> {
    const listed = new Set(await this.#listNames('prune'))
    const fresh: PruneMark[] = []
    await inParallel(
      [...listed].filter((n) => !this.#marks.has(n)),
      async (name) => {
        const key = this.#objectKey('prune', name)
        const plain = await this.#readTrusted(key, BlobType.pruneMark, Buffer.from(name, 'hex'), { kind: 'named', key })
        if (!plain) return
        const mark = decodeJson<PruneMark>(plain)
        if (!isPruneMark(mark)) throw new IntegrityError(key, 'not a valid prune mark')
        this.#marks.set(name, mark)
        fresh.push(mark)
      },
    )
    let finished = 0
    for (const name of this.#marks.keys())
      if (!listed.has(name)) {
        this.#marks.delete(name)
        finished++
      }
    const condemned = new Set([...this.#marks.values()].flatMap((m) => m.packs))
    if (condemned.size !== this.#condemned.size || [...condemned].some((p) => !this.#condemned.has(p))) {
      this.#condemned = condemned
      this.#known = undefined
    }
    return { fresh, finished }
  }

  /** Write a forget record; its commits count as forgotten here at once. */
  async putForgetRecord(record: ForgetRecord): Promise<string> {
    const name = randomBytes(32).toString('hex')
    await this.#writeSealed(
      this.#objectKey('forgotten', name),
      BlobType.forgotten,
      Buffer.from(name, 'hex'),
      Buffer.from(JSON.stringify(record)),
    )
    for (const [id, c] of Object.entries(record.commits)) this.#forgotten.set(id, c)
    for (const app of record.apps ?? []) this.#forgottenApps.add(app)
    this.#forgetRecords.add(name)
    return name
  }

  /** Write a prune mark; returns its id. */
  async putMark(mark: PruneMark): Promise<string> {
    const name = randomBytes(32).toString('hex')
    await this.#writeSealed(this.#objectKey('prune', name), BlobType.pruneMark, Buffer.from(name, 'hex'), Buffer.from(JSON.stringify(mark)))
    this.#marks.set(name, mark)
    for (const p of mark.packs) this.#condemned.add(p)
    this.#known = undefined
    return name
  }

  /**
   * Delete what a prune finished with: packs, index files, commit objects, forget records and
   * marks, by their names under the space (`packs`, `index/<id>`, …). Deleting a missing object
   * is no error, so a prune stopped halfway is finished by the next one.
   */
  async deleteObjects(kind: 'pack' | 'index' | 'commit' | 'forgotten' | 'prune', ids: readonly string[]): Promise<void> {
    const key = (id: string) => (kind === 'pack' ? packKey(this.keys.tag, id) : this.#objectKey(kind, id))
    await inParallel(ids, (id) => this.#provider.delete(key(id)), this.parallelism * 2)
    if (kind === 'prune') {
      for (const id of ids) this.#marks.delete(id)
      this.#condemned = new Set([...this.#marks.values()].flatMap((m) => m.packs))
      this.#known = undefined
    }
  }

  /** Where object `id` of `kind` lives under this space. */
  #objectKey(kind: 'index' | 'commit' | 'forgotten' | 'prune', id: string): string {
    return `${this.prefix}${kind === 'commit' ? 'commits' : kind}/${id}`
  }

  /** Write an index file listing `entries` (already stored blobs, e.g. what prune keeps of an index it rewrites). */
  async writeIndex(entries: IndexEntry[]): Promise<void> {
    await this.#writeIndex(entries)
  }

  /** Every index file of the space with its entries (prune reads the whole index from the vault). */
  async readIndexFiles(): Promise<{ name: string; entries: IndexEntry[]; sealedBefore: boolean }[]> {
    const out: { name: string; entries: IndexEntry[]; sealedBefore: boolean }[] = []
    await inParallel(await this.#listNames('index'), async (name) => {
      const entries = await this.#readIndexFile(name)
      if (entries) out.push({ name, entries, sealedBefore: this.#sealedBefore.has(this.#objectKey('index', name)) })
    })
    return out
  }

  /**
   * The objects under the space by kind (`packs`, `index`, `commits`, …), with their sizes: what
   * prune and its tests measure. `kind` lists that kind only.
   */
  async sizes(kind?: string): Promise<Map<string, { count: number; bytes: number; keys: Map<string, number> }>> {
    const out = new Map<string, { count: number; bytes: number; keys: Map<string, number> }>()
    for await (const o of this.#provider.list(kind ? `${this.prefix}${kind}/` : this.prefix)) {
      const kind = o.key.slice(this.prefix.length).split('/')[0]!
      let k = out.get(kind)
      if (!k) out.set(kind, (k = { count: 0, bytes: 0, keys: new Map() }))
      k.count++
      k.bytes += o.size
      k.keys.set(o.key.slice(o.key.lastIndexOf('/') + 1), o.size)
    }
    return out
  }

  /**
   * Every indexed blob by hex id. Loaded once lookups are many (an up-sync of new files, a
   * restore); a few lookups (the trees of a no-change run) ask the database one by one.
   */
  #known: Map<string, BlobLocation> | undefined
  #lookups = 0

  /** Where blob `id` can be read: of several places, one no prune condemned when there is one. */
  locate(id: Buffer): BlobLocation | undefined {
    const hex = id.toString('hex')
    const pending = this.#pending.get(hex)
    if (pending) return pending
    if (!this.#known && ++this.#lookups < 2000) {
      const places = this.#db.getBlob(this.keys.name, id)
      return places.find((p) => !this.#condemned.has(p.pack)) ?? places[0]
    }
    this.#known ??= this.#db.blobs(this.keys.name, this.#condemned)
    return this.#known.get(hex)
  }

  /**
   * Whether the space holds blob `id` where an up-sync may use it: a blob only in packs a prune
   * condemned is stored again, not referred to (docs/FORMAT.md, "Retention and prune").
   */
  has(id: Buffer): boolean {
    const loc = this.locate(id)
    return loc !== undefined && !this.#condemned.has(loc.pack)
  }

  /** Store a blob unless the space already has it; returns its id. */
  async addBlob(type: BlobType, plain: Uint8Array, options: { compress?: boolean } = {}): Promise<Buffer> {
    this.#throwIfFailed()
    const compress = options.compress ?? true
    let id: Buffer
    let sealed: Uint8Array | undefined
    if (this.#sealPool && plain.length >= POOL_MIN) {
      // Sealed before the dedup check: the worker computes the id with it, and a duplicate
      // only costs a worker some time.
      ;({ id, sealed } = await this.#sealPool.seal(type, plain, compress))
    } else id = blobId(this.keys, plain)
    // A full pack is closed first; another caller may store the same content meanwhile.
    for (;;) {
      if (this.has(id)) {
        this.stats.blobsDeduped++
        return id
      }
      if (!this.#pack || this.#pack.size < this.#packSize) break
      await this.#closePack()
    }
    this.#throwIfFailed()
    sealed ??= seal(this.keys.blobKey, type, id, encodePayload(plain, compress))
    this.#pack ??= new PackWriter(this.#provider, this.keys.tag, this.keys.blobKey)
    const pack = this.#pack
    // Recorded before the first await, so a concurrent add of the same content dedups.
    this.#pending.set(id.toString('hex'), { id, type, pack: pack.id, offset: pack.size, length: sealed.length, rawLength: plain.length })
    try {
      await pack.add(type, id, sealed, plain.length)
    } catch (e) {
      // The pack's upload broke off: none of its blobs is stored.
      this.#failed(pack, e)
      if (this.#pack === pack) this.#pack = undefined
      throw this.#failure
    }
    this.stats.blobsAdded++
    this.stats.plainBytes += plain.length
    if (pack.size >= this.#packSize) await this.#closePack()
    return id
  }

  /**
   * Store a copy of a blob as it is sealed (prune keeping a used blob of a pack it condemns, an
   * up-sync rescuing one): the seal binds the blob to its id and kind, not to its pack. One an
   * earlier epoch's key seals is sealed anew with the current one (`#resealed`).
   */
  async copySealed(type: BlobType, id: Buffer, given: Uint8Array, rawLength: number): Promise<void> {
    this.#throwIfFailed()
    while (this.#pack && this.#pack.size >= this.#packSize) await this.#closePack()
    // The caller decides a copy is needed; only one made in this session already is enough.
    if (this.#pending.has(id.toString('hex'))) return
    const sealed = this.#resealed(type, id, given)
    this.#pack ??= new PackWriter(this.#provider, this.keys.tag, this.keys.blobKey)
    const pack = this.#pack
    this.#pending.set(id.toString('hex'), { id, type, pack: pack.id, offset: pack.size, length: sealed.length, rawLength })
    try {
      await pack.add(type, id, sealed, rawLength)
    } catch (e) {
      this.#failed(pack, e)
      if (this.#pack === pack) this.#pack = undefined
      throw this.#failure
    }
    this.stats.blobsAdded++
    this.stats.plainBytes += rawLength
    if (pack.size >= this.#packSize) await this.#closePack()
  }

  async #closePack(): Promise<void> {
    const pack = this.#pack
    if (!pack) return
    this.#pack = undefined
    // Packs upload while the next fills: one at a time to a local disk, several to a remote
    // provider, whose round trips would otherwise set the pace.
    while (this.#uploads.size >= (this.#provider.parallelism ?? 1)) await Promise.race(this.#uploads).catch(() => {})
    // Each pack gets its own index file as soon as it is stored: a run stopped at any point
    // (killed, or refused by the account) leaves at most the packs in flight unindexed, and
    // what was indexed is not sent again.
    const done = pack
      .finish()
      .then(async () => {
        this.stats.packsWritten++
        this.stats.packBytes += pack.total
        await this.#writeIndex(pack.entries.map((e) => ({ ...e, pack: pack.id })))
      })
      .catch((e: unknown) => this.#failed(pack, e))
    const tracked = done.finally(() => {
      this.#uploads.delete(tracked)
      this.#inFlight?.delete(tracked)
    })
    this.#uploads.add(tracked)
    this.#inFlight?.add(tracked)
  }

  /** A pack (or its index file) did not reach the vault: its blobs are not stored, the store is poisoned. */
  #failed(pack: PackWriter, e: unknown): void {
    for (const entry of pack.entries) {
      const hex = entry.id.toString('hex')
      if (this.#pending.get(hex)?.pack === pack.id) this.#pending.delete(hex)
    }
    // The state database's own errors (its disk full) are this computer's, not the provider's.
    this.#failure ??=
      e instanceof CloudyError
        ? e
        : (ownFilesProblem(e, { stateDb: this.#db.file }) ??
          new ProviderError(this.#provider.name, `an upload failed: ${(e as Error)?.message ?? String(e)}`, { cause: e }))
  }

  #throwIfFailed(): void {
    if (this.#failure) throw this.#failure
  }

  /**
   * Finish the open pack and wait until every upload is stored and indexed. If any upload failed
   * since the last flush, throws its error: nothing built on this session's blobs may be
   * published (the caller builds again; what did arrive is indexed and not sent again).
   */
  async flush(): Promise<void> {
    if (!this.#failure) await this.#closePack()
    else if (this.#pack) {
      // Not finished: no header, so the provider must not keep any of it.
      const open = this.#pack
      this.#pack = undefined
      this.#failed(open, this.#failure)
      await open.abort(this.#failure)
    }
    while (this.#uploads.size) await Promise.allSettled(this.#uploads)
    const failure = this.#failure
    if (failure) {
      // Reported once: the next session starts clean, with only what really arrived counted.
      this.#failure = undefined
      throw failure
    }
  }

  /** Write an index file of stored blobs and take them into the local copy of the index. */
  async #writeIndex(entries: IndexEntry[]): Promise<void> {
    if (entries.length === 0) return
    const name = randomBytes(32).toString('hex')
    await this.#writeSealed(this.#objectKey('index', name), BlobType.index, Buffer.from(name, 'hex'), encodeIndex(entries))
    this.#db.addIndex(this.keys.name, name, entries)
    for (const e of entries) {
      const hex = e.id.toString('hex')
      this.#known?.set(hex, e)
      if (this.#pending.get(hex)?.pack === e.pack) this.#pending.delete(hex)
    }
  }

  /**
   * Take into the index the packs of this space that no index lists: those an up-sync stored
   * before it was stopped (killed, or refused by a full or locked account) without writing
   * their index. Their blobs then count as stored, and are not sent again; the next index file
   * lists them. A pack whose header does not authenticate is left alone (`check` reports it).
   * Returns the number of packs taken in.
   */
  async adoptOrphanPacks(): Promise<number> {
    // A pack a prune condemned and is deleting (its index file already gone) is no orphan.
    await this.refreshMarks()
    const known = this.#db.packIds(this.keys.name)
    for (const p of this.#condemned) known.add(p)
    const entries: IndexEntry[] = []
    let adopted = 0
    for (const o of await this.orphanPacks(known)) {
      const pack = o.key.slice(o.key.lastIndexOf('/') + 1)
      // Only this epoch's: a pack no index lists is taken in only if a current key holder wrote it.
      const header = await readPackHeader(this.#provider, [this.keys.blobKey], o.key, pack, o.size)
      if ('error' in header) continue
      // Every blob of the pack is listed, duplicates too: the pack is then no orphan any more.
      for (const e of header.entries) entries.push({ ...e, pack })
      adopted++
    }
    // Indexed at once: a run stopped again later does not have to take them in again.
    await this.#writeIndex(entries)
    return adopted
  }

  /** The packs of this space that no index lists (`known`: the pack ids the index lists). */
  async orphanPacks(known: ReadonlySet<string> = this.#db.packIds(this.keys.name)): Promise<{ key: string; size: number }[]> {
    const out: { key: string; size: number }[] = []
    for await (const o of this.#provider.list(`${this.prefix}packs/`)) {
      const pack = o.key.slice(o.key.lastIndexOf('/') + 1)
      if (!known.has(pack) && /^[0-9a-f]{64}$/.test(pack)) out.push({ key: o.key, size: o.size })
    }
    return out
  }

  /** Read and authenticate one blob. */
  async readBlob(type: BlobType, id: Buffer): Promise<Buffer> {
    const { key, sealed } = await this.fetchSealed(id)
    return this.openBlob(key, type, id, sealed)
  }

  /** A whole (small) file of a tree, read into memory: its chunks in order. */
  async readFileBytes(e: Pick<TreeEntry, 'content'>): Promise<Buffer> {
    return Buffer.concat(await Promise.all((e.content ?? []).map((id) => this.readBlob(BlobType.data, Buffer.from(id, 'hex')))))
  }

  /** One blob as stored (sealed), and the pack it was read from; `openBlob` opens it. */
  async fetchSealed(id: Buffer, retried = false): Promise<{ key: string; sealed: Uint8Array }> {
    const loc = this.locate(id)
    if (!loc) {
      // A head read after this store read the index may use blobs stored since (its index files
      // were written before it): read the index again and look there once.
      if (retried) throw new IntegrityError(`blob ${id.toString('hex')}`, 'no index entry: the blob is missing from the vault')
      await this.#readAgain(id)
      return this.fetchSealed(id, true)
    }
    const key = packKey(this.keys.tag, loc.pack)
    try {
      return { key, sealed: await this.#provider.get(key, { offset: loc.offset, length: loc.length }) }
    } catch (e) {
      // A prune repacked the blob and deleted the pack since this store read the index: read
      // the index again and look there once.
      if (!(e instanceof NotFoundError) || retried) throw e
      await this.#readAgain(id, loc.pack)
      return this.fetchSealed(id, true)
    }
  }

  #reading: Promise<number> | undefined

  /**
   * Read the index again for a reader that did not find blob `id` (or found it in `gone`, a pack
   * deleted since). Readers that miss at the same time (blobs are read in parallel) share one
   * read; one that began before this miss may have listed the index too early, so a reader
   * still without a place after it waits for the next.
   */
  async #readAgain(id: Buffer, gone?: string): Promise<void> {
    const placed = () => {
      const loc = this.locate(id)
      return loc !== undefined && loc.pack !== gone
    }
    if (this.#reading) {
      await this.#reading
      if (placed()) return
    }
    this.#reading ??= this.open().finally(() => (this.#reading = undefined))
    await this.#reading
  }

  /** Authenticate and decode a sealed blob read from pack `key`. */
  openBlob(key: string, type: BlobType, id: Buffer, sealed: Uint8Array): Buffer {
    return this.#open(key, type, id, sealed, { kind: 'content' })
  }

  /** Open with the current key, or an earlier epoch's where it is trusted (lib/vault/epochs.ts). */
  #open(key: string, type: BlobType, id: Buffer, sealed: Uint8Array, from: Provenance): Buffer {
    const payload = openSealed(this.keys, type, id, sealed, from)
    const plain = payload && decodePayload(payload)
    if (!plain) throw failsAuthentication(key, id, from)
    return plain
  }

  async putTree(tree: Tree): Promise<string> {
    const id = await this.addBlob(BlobType.tree, encodeTree(tree))
    return id.toString('hex')
  }

  /**
   * Name a tree made in memory without storing it: the id is the one `putTree` would give, so a
   * merge result equal to a stored tree is that tree. A preview can then plan against it and
   * leave the vault untouched.
   */
  virtualTree(tree: Tree): string {
    const id = blobId(this.keys, encodeTree(tree))
    const hex = id.toString('hex')
    if (!this.has(id)) this.#virtual.set(hex, tree)
    return hex
  }

  /** Store the trees named by `virtualTree` (the caller flushes). */
  async storeVirtualTrees(): Promise<void> {
    for (const tree of this.#virtual.values()) await this.putTree(tree)
    this.#virtual.clear()
  }

  /** A tree by id; concurrent and repeated reads of one tree share one fetch. */
  readTree(idHex: string): Promise<Tree> {
    const made = this.#virtual.get(idHex)
    if (made) return Promise.resolve(made)
    let p = this.#treeCache.get(idHex)
    if (!p) {
      p = this.readBlob(BlobType.tree, Buffer.from(idHex, 'hex')).then((plain) => {
        const tree = decodeJson<Tree>(plain)
        if (!isTree(tree)) throw new IntegrityError(`tree ${idHex}`, 'not a valid tree')
        return tree
      })
      if (this.#treeCache.size > 4096) this.#treeCache.clear()
      this.#treeCache.set(idHex, p)
      // A prefetch nobody awaits must not crash the process; whoever awaits it sees the error.
      p.catch(() => {})
    }
    return p
  }

  /** Publish an immutable commit object; returns its id. */
  async putCommit(commit: Commit): Promise<string> {
    this.#throwIfFailed()
    const plain = Buffer.from(JSON.stringify(commit))
    const id = blobId(this.keys, plain)
    const hex = id.toString('hex')
    await this.#writeSealed(this.#objectKey('commit', hex), BlobType.commit, id, plain)
    return hex
  }

  async readCommit(idHex: string): Promise<Commit> {
    const key = this.#objectKey('commit', idHex)
    const c = decodeJson<Commit>(await this.#readSealed(key, BlobType.commit, Buffer.from(idHex, 'hex'), { kind: 'content' }))
    if (!isCommit(c)) throw new IntegrityError(key, 'not a valid commit')
    return c
  }

  async putHead(deviceTag: string, head: Head): Promise<void> {
    this.#throwIfFailed()
    await this.#writeSealed(
      `${this.prefix}heads/${deviceTag}`,
      BlobType.head,
      Buffer.from(deviceTag, 'hex'),
      Buffer.from(JSON.stringify(head)),
    )
    // Followers of the chain watch the pulse, not every space's heads.
    await beat(this.#provider)
  }

  /**
   * Every device's head in this space. A head whose sequence number is lower than one seen
   * before from the same device is refused: the storage is replaying an old state.
   */
  async readHeads(): Promise<Map<string, Head>> {
    const heads = new Map<string, Head>()
    for await (const o of this.#provider.list(`${this.prefix}heads/`)) {
      const device = o.key.slice(this.prefix.length + 'heads/'.length)
      if (!/^[0-9a-f]{32}$/.test(device)) continue
      const plain = await this.#readTrusted(o.key, BlobType.head, Buffer.from(device, 'hex'), { kind: 'named', key: o.key })
      if (!plain) {
        // Stale (see #readTrusted): the head as this computer last saw it stands in, until the
        // device writes it anew with the current keys. Never seen: as if not written yet.
        const seen = this.#stale.has(`heads/${device}`) && this.#db.headSeen(this.keys.name, device)
        if (seen) heads.set(device, { commit: seen.commit, seq: seen.seq, time: this.#commitTime(seen.commit) })
        continue
      }
      const head = decodeJson<Head>(plain)
      if (!isHead(head)) throw new IntegrityError(o.key, 'not a valid head')
      const seen = this.#db.headSeen(this.keys.name, device)
      if (seen && head.seq < seen.seq) {
        throw new RollbackError(
          `the head of device ${device.slice(0, 8)} in space ${this.keys.name} went back from #${seen.seq} to #${head.seq}: ` +
            'the storage account is serving an old state (a rollback). Nothing was applied; check the storage account.',
        )
      }
      this.#db.setHeadSeen(this.keys.name, device, head.seq, head.commit)
      heads.set(device, head)
    }
    return heads
  }

  async #writeSealed(key: string, type: BlobType, id: Buffer, plain: Uint8Array): Promise<void> {
    await this.#provider.put(key, seal(this.keys.blobKey, type, id, encodePayload(plain)))
  }

  /**
   * Objects under this space (`heads/<tag>`, `index/<name>`, forget records, prune marks) sealed
   * with keys a rekey replaced after the rekey took stock of the vault: written by a computer
   * that had looked for a newer epoch a moment before (docs/FORMAT.md, "Key epochs"), or by a
   * removed one. Not trusted, and not damage: left out, as if not written yet.
   */
  #stale = new Set<string>()

  /** Whether this device's head is stale: its next up-sync writes it anew. */
  staleHead(deviceTag: string): boolean {
    return this.#stale.has(`heads/${deviceTag}`)
  }

  /** `#readSealed`, or undefined for an object gone since it was listed or a stale one (`stale`). */
  async #readTrusted(key: string, type: BlobType, id: Buffer, from: Provenance): Promise<Buffer | undefined> {
    let sealed: Uint8Array
    try {
      sealed = await this.#provider.get(key)
    } catch (e) {
      if (e instanceof NotFoundError) return undefined
      throw e
    }
    this.#sealedBefore.delete(key)
    const opened = openInEpoch(this.keys, type, id, sealed, from)
    if (opened === 'stale') {
      this.#stale.add(key.slice(this.prefix.length))
      return undefined
    }
    const plain = opened && decodePayload(opened.payload)
    if (!plain) throw failsAuthentication(key, id, from)
    if (!opened.now) this.#sealedBefore.add(key)
    return plain
  }

  /** Objects read (by provider key) that an earlier epoch's key seals, trusted as the rekey found them. */
  #sealedBefore = new Set<string>()

  /** Whether this device's head, as read last, is sealed with an earlier epoch's key. */
  headSealedBefore(deviceTag: string): boolean {
    return this.#sealedBefore.has(`${this.prefix}heads/${deviceTag}`)
  }

  /**
   * `sealed`, a blob of this space, sealed with the current epoch's key: itself when that key
   * seals it already, else opened as trusted and sealed anew. Every copy goes through it, so a
   * pack holds blobs of one epoch only (what `prune --reencrypt` relies on to tell a pack's epoch).
   */
  #resealed(type: BlobType, id: Buffer, sealed: Uint8Array): Uint8Array {
    const opened = openInEpoch(this.keys, type, id, sealed, { kind: 'content' })
    if (typeof opened !== 'object') throw new IntegrityError(`blob ${id.toString('hex')}`, 'fails authentication')
    return opened.now ? sealed : seal(this.keys.blobKey, type, id, opened.payload)
  }

  /** Whether the current epoch's key seals `sealed` (a blob of this space). */
  sealedNow(type: BlobType, id: Buffer, sealed: Uint8Array): boolean {
    return !!open(this.keys.blobKey, type, id, sealed)
  }

  /**
   * Seal anew with the current epoch's key a commit, forget record or prune mark that an earlier
   * epoch's key seals (trusted as the rekey found it), in place: readers trust either. Returns
   * whether it did (false: sealed now already, gone, or stale).
   */
  async resealObject(kind: 'commit' | 'forgotten' | 'prune', name: string): Promise<boolean> {
    const key = this.#objectKey(kind, name)
    const type = kind === 'commit' ? BlobType.commit : kind === 'forgotten' ? BlobType.forgotten : BlobType.pruneMark
    const id = Buffer.from(name, 'hex')
    const plain = await this.#readTrusted(key, type, id, kind === 'commit' ? { kind: 'content' } : { kind: 'named', key })
    if (!plain || !this.#sealedBefore.has(key)) return false
    await this.#writeSealed(key, type, id, plain)
    this.#sealedBefore.delete(key)
    return true
  }

  #commitTime(id: string): string {
    const json = this.#db.getCommit(this.keys.name, id)
    return json ? (JSON.parse(json) as Commit).time : ''
  }

  async #readSealed(key: string, type: BlobType, id: Buffer, from: Provenance): Promise<Buffer> {
    const sealed = await this.#provider.get(key)
    return this.#open(key, type, id, sealed, from)
  }
}

function failsAuthentication(key: string, id: Buffer, from: Provenance): IntegrityError {
  return new IntegrityError(key, `${from.kind === 'content' ? `blob ${id.toString('hex')}` : 'object'} fails authentication`)
}

/** Run `fn` over `items`, a few at a time: on a remote provider each is a round trip. */
async function inParallel<T>(items: readonly T[], fn: (item: T) => Promise<void>, width = 8): Promise<void> {
  let next = 0
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!)
  }
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, worker))
}
