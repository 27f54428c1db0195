/**
 * The write journal of one space: what was written through the mount and not up-synced yet.
 * An overlay over the space's base tree (what this computer last synced): a path the journal
 * knows is answered from it, any other path from the vault.
 *
 * Durability (docs/MOUNT.md, "Durability"; the journal's files: docs/FORMAT.md, "Outside the
 * vault"): file bytes live in data files of their own; the state of paths is an append-only log
 * of whole states, not edits, so replaying it (at the next mount or up-sync) is "the last record
 * of each path wins". A change that spans several paths (a rename) is one record, so it is
 * replayed whole or not at all; a record torn by a crash can only be the unfinished last line,
 * and is cut off. Writes are not recorded: a file's size and time are its data file's, so what
 * a write put there survives a crash of the mount as soon as it returned. `sync` makes a file
 * durable against a machine crash as fsync does on a local disk: its data file is fdatasynced,
 * and the log too if its record is not durable yet; syncs waiting while the log is being synced
 * share the next one (group commit). A data file that no record refers to any more is deleted
 * only after that is durable.
 *
 * After an up-sync published a snapshot of the journal, a `settle` record drops the paths whose
 * state is now in the base tree (those not changed again since the snapshot).
 */
import {
  existsSync,
  fstatSync,
  ftruncateSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  statSync,
  truncateSync,
  utimesSync,
  writeFileSync,
  writeSync,
  type BigIntStats,
} from 'node:fs'
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { LocalDamageError } from '../errors.js'
import { openNow, type JournalFile, type OpenFile } from './journal-file.js'
import { newDataId } from './data-files.js'

/** The mount's binding appending to the log (docs/MOUNT.md, "Creations answered by the binding"). */
export interface BoundLog {
  /** Append JavaScript's record `seq`, whole or not at all; false once the session is over (append it yourself). */
  append(line: Buffer, seq: number): boolean
  /** Records up to `upTo` are durable: the durability flag is set if no later one was appended. False once over. */
  durable(upTo: number): boolean
  /** Cut the log if every creation the binding recorded is among the `taken` in; undefined once over. */
  truncate(taken: number): boolean | undefined
  /** JavaScript changes the journal without the kernel (1) or is done (-1): no creation meanwhile. */
  busy(delta: number): void
  /** The binding appends no more (its new files are closed); creations go to JavaScript again. */
  detach(): void
}

/** A path's state in the journal. */
export type JournalNode =
  /** Bytes in the data file `data` of this journal. */
  | { kind: 'file'; data: string; size: number; mode: number; mtimeMs: number }
  /** Bytes still those of the vault (renamed or re-moded without being written): its chunks. */
  | { kind: 'vault-file'; content: string[]; size: number; mode: number; mtimeMs: number }
  /**
   * A folder. `opaque`: made here (mkdir, rename): the base's entries at this path are hidden;
   * else the base's folder with a new mode or time, its entries showing through.
   */
  | { kind: 'dir'; opaque: boolean; mode: number; mtimeMs: number }
  | { kind: 'symlink'; target: string; mtimeMs: number }
  /** Deleted here: the base's entry (and all under it) is hidden. */
  | { kind: 'gone' }

export interface JournalChange {
  path: string
  node: JournalNode
  /** Drop what the journal holds under `path` first (a deletion, a rename's target). */
  clear?: boolean
  /**
   * A small file's bytes (base64), in the record itself: what journals written before data files
   * became the measure of a file (docs/FORMAT.md) hold. Read, never written.
   */
  inline?: string
}

type LogRecord = { seq: number; changes: JournalChange[] } | { seq: number; settle: [string, number][]; upTo: number }

interface Held {
  seq: number
  /** The record in the log that holds this state but for size and time (a write's are the data file's). */
  logged: number
  node: JournalNode
  /** For an opaque folder: the record that made it opaque (a settle may make it see-through). */
  opaqueSeq?: number
}

/** A consistent copy of the journal's state, for an up-sync to publish. */
export interface JournalSnapshot {
  seq: number
  nodes: ReadonlyMap<string, Held>
  children(dir: string): Map<string, JournalNode>
  /** True if the journal holds something strictly under `dir`. */
  touches(dir: string): boolean
}

/** A data file's time as trees keep times: milliseconds, to the microsecond. */
export const mtimeMsOf = (st: BigIntStats): number => Number((st.mtimeNs + 500n) / 1000n) / 1000

/** A name the kernel gives a file deleted while still open (FUSE without hard_remove). */
export const isHidden = (path: string): boolean => path.slice(path.lastIndexOf('/') + 1).startsWith('.fuse_hidden')

const parentOf = (path: string) => (path.includes('/') ? path.slice(0, path.lastIndexOf('/')) : '')
const nameOf = (path: string) => path.slice(path.lastIndexOf('/') + 1)

/** path -> state, with the names under each folder indexed (listings must not scan it all). */
class NodeMap {
  readonly nodes = new Map<string, Held>()
  /**
   * Names under each folder that lead to a path held, held themselves or not: a change deep in
   * a folder of the base (x/y/f with x and x/y not held) must be found from x, by `under` (a
   * clear of x) and `touches` (the up-sync's rebuild of x).
   */
  readonly #names = new Map<string, Set<string>>()
  /** The paths that refer to each data file. */
  readonly #paths = new Map<string, Set<string>>()

  constructor(readonly onUnused: (data: string) => void = () => {}) {}

  refs(data: string): number {
    return this.#paths.get(data)?.size ?? 0
  }

  /** The paths whose state is data file `data`. */
  pathsOf(data: string): ReadonlySet<string> {
    return this.#paths.get(data) ?? new Set()
  }

  #ref(path: string, node: JournalNode | undefined, add: boolean): void {
    if (node?.kind !== 'file') return
    let paths = this.#paths.get(node.data)
    if (add) {
      if (!paths) this.#paths.set(node.data, (paths = new Set()))
      paths.add(path)
    } else if (paths) {
      paths.delete(path)
      if (paths.size === 0) {
        this.#paths.delete(node.data)
        this.onUnused(node.data)
      }
    }
  }

  set(path: string, held: Held): void {
    const old = this.nodes.get(path)?.node
    if (!(old?.kind === 'file' && held.node.kind === 'file' && old.data === held.node.data)) {
      this.#ref(path, held.node, true)
      this.#ref(path, old, false)
    }
    this.nodes.set(path, held)
    for (let p = path; p !== ''; p = parentOf(p)) {
      const parent = parentOf(p)
      let names = this.#names.get(parent)
      if (!names) this.#names.set(parent, (names = new Set()))
      if (names.has(nameOf(p))) break
      names.add(nameOf(p))
    }
  }

  delete(path: string): void {
    const held = this.nodes.get(path)
    if (!held) return
    this.nodes.delete(path)
    this.#ref(path, held.node, false)
    // A name stays while it leads to something held.
    for (let p = path; p !== '' && !this.nodes.has(p) && !this.#names.has(p); p = parentOf(p)) {
      const parent = parentOf(p)
      const names = this.#names.get(parent)
      names?.delete(nameOf(p))
      if (names?.size === 0) this.#names.delete(parent)
    }
  }

  /** Every path strictly under `dir`. */
  under(dir: string): string[] {
    const out: string[] = []
    const walk = (d: string) => {
      for (const name of this.#names.get(d) ?? []) {
        const p = d ? `${d}/${name}` : name
        if (this.nodes.has(p)) out.push(p)
        walk(p)
      }
    }
    walk(dir)
    return out
  }

  children(dir: string): Map<string, JournalNode> {
    const out = new Map<string, JournalNode>()
    for (const name of this.#names.get(dir) ?? []) {
      const held = this.nodes.get(dir ? `${dir}/${name}` : name)
      if (held) out.set(name, held.node)
    }
    return out
  }

  touches(dir: string): boolean {
    return (this.#names.get(dir)?.size ?? 0) > 0
  }

  copy(): NodeMap {
    const c = new NodeMap()
    for (const [p, h] of this.nodes) c.set(p, { ...h })
    return c
  }
}

/** How long after a deletion its data file's space is given back (`Journal.#collectSoon`). */
const COLLECT_AFTER_MS = 200

export class Journal {
  readonly dir: string
  #map = new NodeMap((data) => {
    this.#garbage.set(data, this.#dropSeq)
    this.#collectSoon()
  })
  /** The log sync that frees what deletions let go (armed by `#collectSoon`). */
  #collect: NodeJS.Timeout | undefined

  /**
   * A deleted file's data file goes only once its deletion is durable; a local disk frees the
   * space at once, so a program that deletes to make room gets it back shortly: one log sync
   * after a burst of deletions (not one per deletion).
   */
  #collectSoon(): void {
    if (this.#collect || !this.#log) return
    this.#collect = setTimeout(() => {
      this.#collect = undefined
      if (this.#log) void this.sync(undefined).catch(() => {})
    }, COLLECT_AFTER_MS)
    this.#collect.unref()
  }
  /** The highest sequence number in the map (a snapshot is taken at it). */
  #seq = 0
  /**
   * The last sequence number given out. While the mount's binding appends creations to the log
   * itself (`bind`), it takes numbers from here too; so the log's numbers are unique, though the
   * binding's reach the map a moment after they were taken.
   */
  readonly seqs = new Int32Array(new ArrayBuffer(4))
  /** The binding appending to the log (docs/MOUNT.md, "Creations answered by the binding"), and how many of its creations the map took in. */
  #bound: BoundLog | undefined
  #taken = 0
  #log: JournalFile | undefined
  /** The log's length: where the next record starts (a failed append is cut back to it). */
  #logSize = 0
  /** Log syncs and the log's truncation run one at a time, in order (appends are synchronous). */
  #appending: Promise<void> = Promise.resolve()
  /** Called before a data file is deleted: whoever keeps it open closes it (JournaledView's DataFiles). */
  beforeDelete: (id: string) => Promise<void> = async () => {}
  /** Data files read by an up-sync in progress: a write to one copies it first. */
  readonly frozen = new Set<string>()
  /** Data files no record refers to any more: deleted once that is durable. */
  #garbage = new Map<string, number>()
  /** The record that drops what becomes garbage now: the file goes once that record is durable. */
  #dropSeq = 0
  /** Records up to this one are durable (the log was fdatasynced after they were written). */
  #durableSeq = 0
  /** The log's fdatasync under way, and the records it makes durable: later syncs wait for the next. */
  #flushing: { upTo: number; done: Promise<void> } | undefined
  /** The last record written to the log. */
  #loggedSeq = 0
  /**
   * 1 while every record in the log is durable, else 0: read by the mount's binding, which then
   * answers an fsync with the data file's fdatasync alone (docs/MOUNT.md, "Direct I/O"). Its
   * own ArrayBuffer, so its memory stays where it is.
   */
  readonly durableFlag = new Int32Array(new ArrayBuffer(4))

  private constructor(
    dir: string,
    readonly openFile: OpenFile,
  ) {
    this.dir = dir
  }

  /** The journal in `dir` (made if missing), its log replayed. Its files are opened with `openFile`. */
  static async open(dir: string, openFile: OpenFile = openNow): Promise<Journal> {
    mkdirSync(join(dir, 'data'), { recursive: true, mode: 0o700 })
    const j = new Journal(dir, openFile)
    const file = join(dir, 'log')
    /** Data files whose content a record of an older journal holds (inline), by id. */
    const inline = new Map<string, Buffer>()
    if (existsSync(file)) {
      const text = readFileSync(file, 'utf8')
      // A torn last record is cut off, so the next one starts on a line of its own.
      const whole = text.lastIndexOf('\n') + 1
      if (whole < text.length) truncateSync(file, Buffer.byteLength(text.slice(0, whole)))
      const lines = text.slice(0, whole).split('\n')
      for (const [i, line] of lines.entries()) {
        if (!line) continue
        let r: LogRecord
        try {
          r = JSON.parse(line) as LogRecord
        } catch (e) {
          throw new LocalDamageError(
            file,
            `the write journal is damaged at line ${i + 1} (${(e as Error).message}): move ${dir} aside to mount again ` +
              '(the writes made through the mount and not yet up-synced stay in it)',
          )
        }
        if ('settle' in r) j.#settle(r.upTo, r.settle)
        else {
          j.#apply(r.seq, r.changes)
          for (const c of r.changes)
            if (c.node.kind === 'file' && c.inline !== undefined) inline.set(c.node.data, Buffer.from(c.inline, 'base64'))
        }
        j.#seq = Math.max(j.#seq, r.seq)
      }
    }
    // A file deleted while open is renamed by the kernel to .fuse_hidden… until its last close;
    // after a crash it is only what was deleted.
    for (const path of j.#map.nodes.keys()) if (isHidden(path)) j.#map.delete(path)
    j.#garbage.clear()
    // Files no record refers to (made by a change that never got its record) go.
    const used = new Set<string>()
    for (const { node } of j.#map.nodes.values()) if (node.kind === 'file') used.add(node.data)
    const present = new Set(readdirSync(join(dir, 'data')))
    for (const name of present) if (!used.has(name)) await rm(join(dir, 'data', name), { force: true })
    for (const [path, held] of j.#map.nodes) {
      if (held.node.kind !== 'file') continue
      const data = join(dir, 'data', held.node.data)
      const bytes = inline.get(held.node.data)
      if (!present.has(held.node.data)) {
        // Lost with a machine crash, but an older journal's record holds it; else (removed by
        // hand) the path is dropped, not served empty.
        if (bytes === undefined) {
          j.#map.delete(path)
          continue
        }
        writeFileSync(data, bytes, { mode: 0o600 })
        utimesSync(data, held.node.mtimeMs / 1000, held.node.mtimeMs / 1000)
      }
      // What writes did since the record: the data file's size and time are the file's (to the
      // microsecond, as trees keep times: a time set through utimes comes back as it was set).
      // A time older than the record's is that of a data file made ahead (DataFiles.fresh) and
      // not written since: the record's is the file's.
      const st = statSync(data, { bigint: true })
      const written = mtimeMsOf(st)
      held.node = { ...held.node, size: Number(st.size), mtimeMs: Math.max(written, held.node.mtimeMs) }
    }
    j.#garbage.clear()
    j.#log = await openFile(file, 'a', 0o600)
    j.#logSize = (await j.#log.stat()).size
    // What was replayed is durable once synced: a mount killed outright may have left the log's
    // tail in the page cache only, and an fsync answered by the binding syncs no log.
    await j.#log.datasync()
    j.#durableSeq = j.#seq
    Atomics.store(j.seqs, 0, j.#seq)
    Atomics.store(j.durableFlag, 0, 1)
    return j
  }

  /** True if nothing waits to be up-synced. */
  get empty(): boolean {
    return this.#map.nodes.size === 0
  }

  /** The journal's own state of `path` (not its ancestors'). */
  get(path: string): JournalNode | undefined {
    return this.#map.nodes.get(path)?.node
  }

  children(dir: string): Map<string, JournalNode> {
    return this.#map.children(dir)
  }

  #apply(seq: number, changes: readonly JournalChange[]): void {
    for (const c of changes) {
      if (c.clear) for (const p of this.#map.under(c.path)) this.#map.delete(p)
      const before = this.#map.nodes.get(c.path)
      // A folder stays opaque since it was made; one made again (a rename onto it, `clear`)
      // is opaque from now: what a settle of the old one lets through is not its content.
      const opaqueSeq =
        c.node.kind === 'dir' && c.node.opaque
          ? !c.clear && before?.node.kind === 'dir' && before.node.opaque
            ? before.opaqueSeq
            : seq
          : undefined
      this.#map.set(c.path, { seq, logged: seq, node: c.node, opaqueSeq })
    }
  }

  #settle(seq: number, settled: readonly [string, number][]): void {
    // At most, not equal: a replay knows only the last record of a path, older than the state
    // published when that state was a touch (written, not synced). A change since has a larger seq.
    for (const [path, at] of settled) if ((this.#map.nodes.get(path)?.seq ?? Infinity) <= at) this.#map.delete(path)
    // A folder made opaque before the snapshot: the base now holds what it held then.
    for (const held of this.#map.nodes.values()) {
      if (held.node.kind === 'dir' && held.node.opaque && (held.opaqueSeq ?? 0) <= seq) {
        held.node = { ...held.node, opaque: false }
        held.opaqueSeq = undefined
      }
    }
  }

  /**
   * Record changes: written to the log (synchronously), then in memory (the mount shows them).
   * Not fsynced: `sync` makes this and every earlier record durable.
   */
  record(changes: JournalChange[]): Promise<void> {
    // In the log first: a change the log could not take (a full disk) is refused whole, and
    // the mount does not show what a restart would not.
    const seq = this.#next()
    try {
      this.#write({ seq, changes })
    } catch (e) {
      return Promise.reject(e as Error)
    }
    this.#dropSeq = seq
    this.#apply(seq, changes)
    return Promise.resolve()
  }

  /** A sequence number for a change made now. */
  #next(): number {
    const seq = Atomics.add(this.seqs, 0, 1) + 1
    this.#seq = Math.max(this.#seq, seq)
    return seq
  }

  /**
   * Let the mount's binding append to the log (`bound`, made with the log's descriptor) until
   * `unbind`: creations it answers itself are recorded there, then taken in (`taken`).
   */
  bind(make: (fd: number, seqs: Int32Array, durable: Int32Array) => BoundLog): void {
    if (!this.#log || this.#bound) return
    this.#bound = make(this.#log.fd, this.seqs, this.durableFlag)
  }

  unbind(): void {
    if (!this.#bound || !this.#log) return
    this.#bound.detach()
    this.#bound = undefined
    // What the binding appended is the log's too.
    this.#logSize = fstatSync(this.#log.fd).size
  }

  /** The binding recorded `change` as record `seq` (docs/MOUNT.md): the map takes it in as `record` would have. */
  taken(seq: number, change: JournalChange): void {
    this.#taken++
    this.#seq = Math.max(this.#seq, seq)
    this.#loggedSeq = Math.max(this.#loggedSeq, seq)
    this.#dropSeq = seq
    this.#apply(seq, [change])
  }

  /**
   * Data file `data` was written (or cut): the paths it is the state of take its size and time,
   * in memory only (the data file already says them). A new sequence number: a snapshot taken
   * before must not settle this state away.
   */
  touchData(data: string, size: number, mtimeMs: number): void {
    const paths = this.#map.pathsOf(data)
    if (paths.size === 0) return
    const seq = this.#next()
    for (const path of paths) {
      const held = this.#map.nodes.get(path)!
      if (held.node.kind === 'file') held.node = { ...held.node, size, mtimeMs }
      held.seq = seq
    }
  }

  /**
   * Write record `r` at the end of the log at once, synchronously: appends happen in call order
   * and a record is in the log (a crash of the mount keeps it) when the call that made it
   * returns. A small write to the page cache costs microseconds; a trip through libuv's thread
   * pool costs more than that, several times per file copied in. Throws what the disk said (the
   * log is left ending on a whole line).
   */
  #write(r: LogRecord): void {
    const line = Buffer.from(JSON.stringify(r) + '\n')
    // Through the binding while it appends too: one ordered log.
    if (this.#bound?.append(line, r.seq)) {
      this.#loggedSeq = r.seq
      return
    }
    if (this.#bound) this.unbind()
    // A short write (a full disk) would glue the next record to this one: written whole, or
    // cut back so the log ends on a whole line.
    const fd = this.#log!.fd
    const at = this.#logSize
    try {
      for (let off = 0; off < line.length;) off += writeSync(fd, line, off, line.length - off)
      this.#logSize += line.length
      this.#loggedSeq = r.seq
      Atomics.store(this.durableFlag, 0, 0)
    } catch (e) {
      try {
        ftruncateSync(fd, at)
      } catch {
        // The next open cuts a torn last line off.
      }
      throw e
    }
  }

  /** fsync the log: records up to `upTo` are durable; the data files they dropped can go. */
  async #durable(upTo: number): Promise<void> {
    await this.#log!.datasync()
    this.#durableSeq = Math.max(this.#durableSeq, upTo)
    // The binding sets it only if it appended nothing since (it knows what it appended).
    if (!this.#bound?.durable(this.#durableSeq) && this.#durableSeq >= this.#loggedSeq) Atomics.store(this.durableFlag, 0, 1)
    const gone: string[] = []
    for (const [id, seq] of this.#garbage) {
      // A data file moved to another path (a rename) is referred to again: not garbage.
      if (this.#map.refs(id) > 0) this.#garbage.delete(id)
      else if (seq <= upTo && !this.frozen.has(id)) {
        this.#garbage.delete(id)
        gone.push(id)
      }
    }
    await Promise.all(
      gone.map(async (id) => {
        // A handle kept open on it would keep its space taken after the deletion.
        await this.beforeDelete(id)
        await rm(this.dataPath(id), { force: true })
      }),
    )
  }

  /**
   * Make the state of `path` durable against a machine crash (fsync): its data file (through
   * `data`, the open handle), then the log if the record of the path is not durable yet.
   * Without a path, every record so far (fsyncdir, a rename made durable).
   */
  async sync(path: string | undefined, data?: JournalFile): Promise<void> {
    const held = path === undefined ? undefined : this.#map.nodes.get(path)
    if (held?.node.kind === 'file' && data) await data.datasync()
    // Without a path the log is synced even when every record is durable already: data files
    // an up-sync let go since are deleted at a durable point.
    await this.#logDurable(held ? held.logged : this.#seq, path === undefined)
  }

  /**
   * The log durable up to record `upTo`. One fdatasync at a time: what waits meanwhile is
   * covered by the next one, which starts as soon as this one ends (group commit).
   */
  async #logDurable(upTo: number, always = false): Promise<void> {
    while (this.#durableSeq < upTo || always) {
      always = false
      const flushing = this.#flushing
      if (flushing) {
        if (flushing.upTo >= upTo) return flushing.done
        await flushing.done.catch(() => {})
        continue
      }
      const target = this.#seq
      // After the syncs and truncations queued before it (appends are written already).
      const done = this.#appending.then(() => this.#durable(target))
      this.#appending = done.catch(() => {})
      const current = { upTo: target, done }
      this.#flushing = current
      void done
        .finally(() => {
          if (this.#flushing === current) this.#flushing = undefined
        })
        .catch(() => {})
      return done
    }
  }

  /** A fresh data file id; its file is made by the caller. */
  newData(): string {
    return newDataId()
  }

  dataPath(id: string): string {
    return join(this.dir, 'data', id)
  }

  /** A copy of the state for an up-sync; its data files are frozen until `settle`. */
  snapshot(): JournalSnapshot {
    const map = this.#map.copy()
    for (const { node } of map.nodes.values()) if (node.kind === 'file') this.frozen.add(node.data)
    return { seq: this.#seq, nodes: map.nodes, children: (d) => map.children(d), touches: (d) => map.touches(d) }
  }

  /**
   * The snapshot is now in the base tree: drop what has not changed since, durably. With the
   * journal empty the log starts over.
   */
  async settle(snap: JournalSnapshot): Promise<void> {
    // A file deleted while open was not published: it stays until its last close deletes it.
    const settled = [...snap.nodes].filter(([p, h]) => !isHidden(p) || h.node.kind === 'gone').map(([p, h]): [string, number] => [p, h.seq])
    const seq = this.#next()
    this.#dropSeq = seq
    this.#settle(snap.seq, settled)
    this.thaw(snap)
    for (const { node } of snap.nodes.values())
      if (node.kind === 'file' && this.#map.refs(node.data) === 0) this.#garbage.set(node.data, seq)
    this.#write({ seq, settle: settled, upTo: snap.seq })
    await this.#logDurable(seq, true)
    if (this.empty) {
      const done = this.#appending.then(async () => {
        // Checked and cut in one step: a record appended meanwhile (synchronously) stays.
        if (!this.empty) return
        // A creation the binding recorded and the map has not taken in yet is in the log: kept.
        const cut = this.#bound?.truncate(this.#taken)
        if (cut === false) return
        if (cut === undefined) ftruncateSync(this.#log!.fd, 0)
        this.#logSize = 0
        await this.#log!.datasync()
      })
      this.#appending = done.catch(() => {})
      await done
    }
  }

  /** Give up a snapshot that was not published: its data files are writable again. */
  thaw(snap: JournalSnapshot): void {
    for (const { node } of snap.nodes.values()) if (node.kind === 'file') this.frozen.delete(node.data)
  }

  async close(): Promise<void> {
    clearTimeout(this.#collect)
    this.#collect = undefined
    this.unbind()
    await this.#appending
    await this.#log?.close()
    this.#log = undefined
  }
}
