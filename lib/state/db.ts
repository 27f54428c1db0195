/**
 * The local state database (SQLite through better-sqlite3, WAL). It holds nothing that cannot
 * be rebuilt from the vault: a copy of the blob index (so dedup needs no download), the file
 * cache that makes an unchanged file cost one `stat`, and the highest head sequence seen per
 * device (so a storage account replaying an old head is caught).
 */
import Database from 'better-sqlite3'
import { existsSync, renameSync } from 'node:fs'
import { CloudyError, EXIT } from '../errors.js'
import { oneLine } from './own-file-errors.js'
import { privateFile } from './private-file.js'

/**
 * 2: a blob may be listed at several places (a copy made by prune or by an up-sync that rescued
 * it), and each index file's packs are kept, so an index file pruned away drops exactly its
 * packs' blobs (docs/FORMAT.md, "Retention and prune").
 */
const SCHEMA_VERSION = 2

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS blobs (
  space TEXT NOT NULL, id BLOB NOT NULL, type INTEGER NOT NULL, pack TEXT NOT NULL,
  offset INTEGER NOT NULL, length INTEGER NOT NULL, raw_length INTEGER NOT NULL,
  PRIMARY KEY (space, id, pack)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS index_files (
  space TEXT NOT NULL, name TEXT NOT NULL, packs TEXT NOT NULL DEFAULT '[]', PRIMARY KEY (space, name)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS files (
  space TEXT NOT NULL, path TEXT NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
  ctime_ns INTEGER NOT NULL, ino INTEGER NOT NULL, mode INTEGER NOT NULL, content BLOB NOT NULL,
  PRIMARY KEY (space, path)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS heads_seen (
  space TEXT NOT NULL, device TEXT NOT NULL, seq INTEGER NOT NULL, commit_id TEXT NOT NULL,
  PRIMARY KEY (space, device)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS commits (space TEXT NOT NULL, id TEXT NOT NULL, json TEXT NOT NULL, PRIMARY KEY (space, id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS spaces (
  space TEXT PRIMARY KEY, own_commit TEXT, own_seq INTEGER NOT NULL DEFAULT 0, applied TEXT) WITHOUT ROWID;
`

/** A blob's place in the vault, as the index files say. */
export interface BlobLocation {
  type: number
  pack: string
  offset: number
  length: number
  rawLength: number
}

/** What the file cache remembers of a file as it was at its last sync. */
export interface CachedFile {
  size: number
  mtimeNs: bigint
  ctimeNs: bigint
  ino: number
  mode: number
  /** Concatenated 32-byte chunk ids. */
  content: Buffer
}

/** The applied heads: a JSON list (an older database holds one bare commit id). */
function parseApplied(v: string | null | undefined): string[] {
  if (!v) return []
  if (!v.startsWith('[')) return [v]
  try {
    const list = JSON.parse(v) as unknown
    return Array.isArray(list) ? list.filter((x): x is string => typeof x === 'string') : []
  } catch {
    return []
  }
}

/** SQLite's answers for a file that is not a sound database. */
function isDamage(e: unknown): boolean {
  const code = (e as { code?: unknown }).code
  return typeof code === 'string' && (code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB')
}

/** The state database is damaged: `StateDb.open` moves it aside. */
export class DamagedStateError extends CloudyError {
  readonly why: string
  constructor(file: string, why: string, options?: { cause?: unknown }) {
    super(
      'ESTATEDB',
      EXIT.FAILED,
      `the state database ${file} is damaged (${why}): run the command again, it is then moved aside and rebuilt from the vault`,
      options,
    )
    this.why = why
  }
}

export class StateDb {
  readonly db: Database.Database
  #stmt: ReturnType<StateDb['prepare']>

  /**
   * `check`: read every page first (`PRAGMA quick_check`, ~0.5 ms per MB) and throw a
   * `DamagedStateError` if the file is not a sound database.
   */
  /** Where the database lives. */
  readonly file: string

  constructor(file: string, options: { check?: boolean } = {}) {
    this.file = file
    // Created 0600 (its -wal and -shm files take its mode): it names the synced files.
    privateFile(file)
    this.db = new Database(file)
    try {
      this.db.pragma('busy_timeout = 10000')
      if (options.check) {
        const problems = this.db.pragma('quick_check(3)', { simple: false }) as { quick_check: string }[]
        const found = problems.map((r) => r.quick_check).filter((m) => m !== 'ok')
        if (found.length) throw new DamagedStateError(file, oneLine(found.join('; ')))
      }
      this.db.pragma('journal_mode = WAL')
      this.db.pragma('synchronous = NORMAL')
      const hasMeta = this.db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").get()
      const v = hasMeta ? this.getMeta('schema') : undefined
      // Schema 1 kept one place per blob: its copy of the index is dropped and read again from
      // the vault's index files at the next open (the file cache stays: its chunks are the same).
      if (v === '1') this.db.exec('DROP TABLE IF EXISTS blobs; DROP TABLE IF EXISTS index_files;')
      this.db.exec(SCHEMA)
      if (v !== String(SCHEMA_VERSION)) this.setMeta('schema', String(SCHEMA_VERSION))
      this.#stmt = this.prepare()
    } catch (e) {
      this.db.close()
      if (isDamage(e)) throw new DamagedStateError(file, oneLine((e as Error).message), { cause: e })
      throw e
    }
  }

  /**
   * Open the state database at `file`; a damaged one (garbage in it, cut short, not a database)
   * is moved aside to `state.db.damaged-<time>` and a new one made in its place: everything it
   * held is rebuilt from the vault (as after a lost one: up.ts keeps what this device published).
   * `onMovedAside` is told where the damaged one went, and why.
   */
  static open(file: string, onMovedAside: (aside: string, why: string) => void): StateDb {
    try {
      return new StateDb(file, { check: true })
    } catch (e) {
      if (!(e instanceof DamagedStateError)) throw e
      const aside = `${file}.damaged-${new Date().toISOString().replace(/[:.]/g, '-')}`
      // The log and its index belong to the damaged file: neither may be replayed into the new one.
      for (const suffix of ['-wal', '-shm']) if (existsSync(file + suffix)) renameSync(file + suffix, aside + suffix)
      renameSync(file, aside)
      onMovedAside(aside, e.why)
      return new StateDb(file)
    }
  }

  private prepare() {
    const d = this.db
    return {
      getMeta: d.prepare<[string], { value: string }>('SELECT value FROM meta WHERE key = ?'),
      setMeta: d.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value'),
      getBlob: d.prepare<[string, Buffer], { type: number; pack: string; offset: number; length: number; raw_length: number }>(
        'SELECT type, pack, offset, length, raw_length FROM blobs WHERE space = ? AND id = ?',
      ),
      hasBlob: d.prepare<[string, Buffer], { one: number }>('SELECT 1 AS one FROM blobs WHERE space = ? AND id = ? LIMIT 1'),
      putBlob: d.prepare('INSERT OR IGNORE INTO blobs (space, id, type, pack, offset, length, raw_length) VALUES (?, ?, ?, ?, ?, ?, ?)'),
      hasIndex: d.prepare<[string, string], { one: number }>('SELECT 1 AS one FROM index_files WHERE space = ? AND name = ?'),
      addIndex: d.prepare('INSERT OR IGNORE INTO index_files (space, name, packs) VALUES (?, ?, ?)'),
      // Times come back as BigInt (nanoseconds overflow a double); the rest as numbers.
      files: d.prepare<
        [string],
        { path: string; size: number; mtime_ns: bigint; ctime_ns: bigint; ino: number; mode: number; content: Buffer }
      >('SELECT path, size, mtime_ns, ctime_ns, ino, mode, content FROM files WHERE space = ?'),
      putFile: d.prepare(
        'INSERT INTO files (space, path, size, mtime_ns, ctime_ns, ino, mode, content) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ' +
          'ON CONFLICT (space, path) DO UPDATE SET size = excluded.size, mtime_ns = excluded.mtime_ns, ctime_ns = excluded.ctime_ns, ' +
          'ino = excluded.ino, mode = excluded.mode, content = excluded.content',
      ),
      delFile: d.prepare('DELETE FROM files WHERE space = ? AND path = ?'),
      headSeen: d.prepare<[string, string], { seq: number; commit_id: string }>(
        'SELECT seq, commit_id FROM heads_seen WHERE space = ? AND device = ?',
      ),
      setHeadSeen: d.prepare(
        'INSERT INTO heads_seen (space, device, seq, commit_id) VALUES (?, ?, ?, ?) ON CONFLICT (space, device) DO UPDATE SET seq = excluded.seq, commit_id = excluded.commit_id',
      ),
      space: d.prepare<[string], { own_commit: string | null; own_seq: number; applied: string | null }>(
        'SELECT own_commit, own_seq, applied FROM spaces WHERE space = ?',
      ),
      setOwn: d.prepare(
        'INSERT INTO spaces (space, own_commit, own_seq) VALUES (?, ?, ?) ON CONFLICT (space) DO UPDATE SET own_commit = excluded.own_commit, own_seq = excluded.own_seq',
      ),
      setApplied: d.prepare(
        'INSERT INTO spaces (space, applied) VALUES (?, ?) ON CONFLICT (space) DO UPDATE SET applied = excluded.applied',
      ),
    }
  }

  /**
   * Make every committed change durable now. WAL with synchronous=NORMAL fsyncs the log only at
   * checkpoints; one commit with synchronous=FULL fsyncs it, and with it every earlier commit
   * (a checkpoint would wait for other processes' readers).
   */
  durable(): void {
    this.db.pragma('synchronous = FULL')
    try {
      this.setMeta('durable-at', new Date().toISOString())
    } finally {
      this.db.pragma('synchronous = NORMAL')
    }
  }

  getMeta(key: string): string | undefined {
    return this.db.prepare<[string], { value: string }>('SELECT value FROM meta WHERE key = ?').get(key)?.value
  }

  setMeta(key: string, value: string): void {
    this.db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run(key, value)
  }

  /** Every meta entry whose key starts with one of `prefixes`. */
  metaWithPrefix(...prefixes: string[]): [string, string][] {
    const stmt = this.db.prepare<[number, string], { key: string; value: string }>(
      'SELECT key, value FROM meta WHERE substr(key, 1, ?) = ?',
    )
    return prefixes.flatMap((p) => stmt.all(p.length, p).map((r) => [r.key, r.value] as [string, string]))
  }

  deleteMeta(key: string): void {
    this.db.prepare('DELETE FROM meta WHERE key = ?').run(key)
  }

  /** Every place the index lists blob `id` at (usually one; a copy made by prune is a second). */
  getBlob(space: string, id: Buffer): BlobLocation[] {
    return this.#stmt.getBlob
      .all(space, id)
      .map((r) => ({ type: r.type, pack: r.pack, offset: r.offset, length: r.length, rawLength: r.raw_length }))
  }

  /** Record the blobs of one index file, and the file itself with its packs, in one transaction. */
  addIndex(space: string, name: string, entries: readonly ({ id: Buffer } & BlobLocation)[]): void {
    this.db.transaction(() => {
      for (const e of entries) this.#stmt.putBlob.run(space, e.id, e.type, e.pack, e.offset, e.length, e.rawLength)
      this.#stmt.addIndex.run(space, name, JSON.stringify([...new Set(entries.map((e) => e.pack))]))
    })()
  }

  /**
   * Drop index files of a space that left the vault (pruned, or another vault at the same place):
   * the blobs in packs no remaining index file lists go, and with them every file cache entry
   * naming a chunk that is no longer listed (the walker trusts the cache). Returns the number of
   * blob places dropped.
   */
  dropIndexes(space: string, names: readonly string[]): number {
    if (names.length === 0) return 0
    let dropped = 0
    this.db.transaction(() => {
      const gone = new Set(names)
      const keep = new Set<string>()
      const lost = new Set<string>()
      const rows = this.db
        .prepare<[string], { name: string; packs: string }>('SELECT name, packs FROM index_files WHERE space = ?')
        .all(space)
      for (const r of rows) for (const p of JSON.parse(r.packs) as string[]) (gone.has(r.name) ? lost : keep).add(p)
      const del = this.db.prepare('DELETE FROM blobs WHERE space = ? AND pack = ?')
      for (const p of lost) if (!keep.has(p)) dropped += del.run(space, p).changes
      const delIndex = this.db.prepare('DELETE FROM index_files WHERE space = ? AND name = ?')
      for (const n of names) delIndex.run(space, n)
      if (dropped === 0) return
      const stale: string[] = []
      for (const r of this.db
        .prepare<[string], { path: string; content: Buffer }>('SELECT path, content FROM files WHERE space = ?')
        .all(space)) {
        for (let i = 0; i + 32 <= r.content.length; i += 32)
          if (!this.#stmt.hasBlob.get(space, r.content.subarray(i, i + 32))) {
            stale.push(r.path)
            break
          }
      }
      for (const path of stale) this.#stmt.delFile.run(space, path)
    })()
    return dropped
  }

  hasIndex(space: string, name: string): boolean {
    return this.#stmt.hasIndex.get(space, name) !== undefined
  }

  /**
   * Every indexed blob of a space, by hex id: of several places, one outside `avoid` (packs a
   * prune condemned) when there is one.
   */
  blobs(space: string, avoid: ReadonlySet<string> = new Set()): Map<string, BlobLocation> {
    const m = new Map<string, BlobLocation>()
    const rows = this.db.prepare<[string], { id: Buffer; type: number; pack: string; offset: number; length: number; raw_length: number }>(
      'SELECT id, type, pack, offset, length, raw_length FROM blobs WHERE space = ?',
    )
    for (const r of rows.iterate(space)) {
      const hex = r.id.toString('hex')
      if (avoid.has(r.pack) && m.has(hex)) continue
      m.set(hex, { type: r.type, pack: r.pack, offset: r.offset, length: r.length, rawLength: r.raw_length })
    }
    return m
  }

  /** The packs the index of a space knows. */
  packIds(space: string): Set<string> {
    return new Set(
      this.db
        .prepare<[string], { pack: string }>('SELECT DISTINCT pack FROM blobs WHERE space = ?')
        .pluck()
        .all(space) as unknown as string[],
    )
  }

  /** The spaces whose index this database holds a copy of. */
  indexSpaces(): string[] {
    return this.db.prepare('SELECT DISTINCT space FROM index_files').pluck().all() as string[]
  }

  indexNames(space: string): string[] {
    return this.db
      .prepare<[string], { name: string }>('SELECT name FROM index_files WHERE space = ?')
      .pluck()
      .all(space) as unknown as string[]
  }

  /** The whole file cache of a space, by path. */
  files(space: string): Map<string, CachedFile> {
    const m = new Map<string, CachedFile>()
    for (const r of this.#stmt.files.safeIntegers(true).iterate(space)) {
      m.set(r.path, {
        size: Number(r.size),
        mtimeNs: r.mtime_ns,
        ctimeNs: r.ctime_ns,
        ino: Number(r.ino),
        mode: Number(r.mode),
        content: r.content,
      })
    }
    return m
  }

  /** Apply changes to the file cache in one transaction (`undefined` deletes the path). */
  updateFiles(space: string, changes: Iterable<[string, CachedFile | undefined]>): void {
    this.db.transaction(() => {
      for (const [path, f] of changes) {
        if (f) this.#stmt.putFile.run(space, path, f.size, f.mtimeNs, f.ctimeNs, f.ino, f.mode, f.content)
        else this.#stmt.delFile.run(space, path)
      }
    })()
  }

  headSeen(space: string, device: string): { seq: number; commit: string } | undefined {
    const r = this.#stmt.headSeen.get(space, device)
    return r && { seq: r.seq, commit: r.commit_id }
  }

  setHeadSeen(space: string, device: string, seq: number, commit: string): void {
    this.#stmt.setHeadSeen.run(space, device, seq, commit)
  }

  /** Every head of `space` seen before, by device: one that vanished since is a rollback. */
  headsSeen(space: string): Map<string, { seq: number; commit: string }> {
    const rows = this.db
      .prepare<[string], { device: string; seq: number; commit_id: string }>(
        'SELECT device, seq, commit_id FROM heads_seen WHERE space = ?',
      )
      .all(space)
    return new Map(rows.map((r) => [r.device, { seq: r.seq, commit: r.commit_id }]))
  }

  /** Every device whose head was seen in any space. */
  seenDevices(): Set<string> {
    return new Set(
      this.db
        .prepare<[], { device: string }>('SELECT DISTINCT device FROM heads_seen')
        .all()
        .map((r) => r.device),
    )
  }

  /**
   * What this computer knows of a space: its own last commit and sequence number, and the chain
   * heads (commit ids) it last applied in full.
   */
  space(space: string): { ownCommit?: string; ownSeq: number; applied: string[] } {
    const r = this.#stmt.space.get(space)
    return { ownCommit: r?.own_commit ?? undefined, ownSeq: r?.own_seq ?? 0, applied: parseApplied(r?.applied) }
  }

  /** A commit seen before (commits are immutable: the vault is asked once). */
  getCommit(space: string, id: string): string | undefined {
    return this.db.prepare<[string, string], { json: string }>('SELECT json FROM commits WHERE space = ? AND id = ?').get(space, id)?.json
  }

  putCommit(space: string, id: string, json: string): void {
    this.db.prepare('INSERT OR IGNORE INTO commits (space, id, json) VALUES (?, ?, ?)').run(space, id, json)
  }

  setOwnCommit(space: string, commit: string, seq: number): void {
    this.#stmt.setOwn.run(space, commit, seq)
  }

  setApplied(space: string, heads: readonly string[]): void {
    this.#stmt.setApplied.run(space, JSON.stringify([...heads].sort()))
  }

  close(): void {
    this.db.close()
  }
}
