/**
 * The write journal of one space: what was written through the mount and not up-synced yet.
 * An overlay over the vault's tree: a path the journal knows is answered from it (a file, a
 * folder, a link, or `gone`: deleted here), any other path from the vault.
 *
 * Durability (DESIGN.md: nothing that close/fsync returned is lost): file bytes live in data
 * files of their own; `commit` fsyncs a file's data, then appends the path's new state to an
 * append-only log and fsyncs the log. The log holds whole states, not edits, so replaying it
 * (at the next mount or up-sync) is "the last record of each path wins"; a record torn by a
 * crash can only be the unfinished last line: it is cut off (its commit never resolved).
 *
 * Work in progress (issue 5): not wired into the mount yet.
 */
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, truncateSync } from 'node:fs'
import { open, rm, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'

/** A path's state in the journal. */
export type JournalNode =
  /** Bytes in the data file `data` of this journal. */
  | { kind: 'file'; data: string; size: number; mode: number; mtimeMs: number }
  /** Bytes still those of the vault (renamed or re-moded without being written): its chunks. */
  | { kind: 'vault-file'; content: string[]; size: number; mode: number; mtimeMs: number }
  | { kind: 'dir'; mode: number; mtimeMs: number }
  | { kind: 'symlink'; target: string; mtimeMs: number }
  /** Deleted here: the vault's entry (and all under it) is hidden. */
  | { kind: 'gone' }

interface Record {
  seq: number
  path: string
  node: JournalNode
}

export class Journal {
  readonly #dir: string
  readonly #nodes = new Map<string, { seq: number; node: JournalNode }>()
  #seq = 0
  #log: FileHandle | undefined
  /** Appends, one at a time (each ends with its fsync). */
  #appending: Promise<void> = Promise.resolve()

  private constructor(dir: string) {
    this.#dir = dir
  }

  /** The journal in `dir` (made if missing), its log replayed. */
  static async open(dir: string): Promise<Journal> {
    mkdirSync(join(dir, 'data'), { recursive: true, mode: 0o700 })
    const j = new Journal(dir)
    const file = join(dir, 'log')
    if (existsSync(file)) {
      const text = readFileSync(file, 'utf8')
      // A torn last record is cut off, so the next one starts on a line of its own.
      const whole = text.lastIndexOf('\n') + 1
      if (whole < text.length) truncateSync(file, Buffer.byteLength(text.slice(0, whole)))
      const lines = text.slice(0, whole).split('\n')
      for (const [i, line] of lines.entries()) {
        if (!line) continue
        let r: Record
        try {
          r = JSON.parse(line) as Record
        } catch (e) {
          throw new Error(`journal ${file}: line ${i + 1} is damaged: ${(e as Error).message}`)
        }
        j.#nodes.set(r.path, { seq: r.seq, node: r.node })
        j.#seq = Math.max(j.#seq, r.seq)
      }
    }
    j.#log = await open(file, 'a', 0o600)
    return j
  }

  /** The journal's state of `path`, if it has one (a `gone` ancestor hides it too). */
  lookup(path: string): JournalNode | undefined {
    const own = this.#nodes.get(path)?.node
    if (own) return own
    for (let p = path; p.includes('/');) {
      p = p.slice(0, p.lastIndexOf('/'))
      if (this.#nodes.get(p)?.node.kind === 'gone') return { kind: 'gone' }
    }
    return undefined
  }

  /** The names the journal adds to or hides in folder `dir` ('' is the space root). */
  children(dir: string): Map<string, JournalNode> {
    const out = new Map<string, JournalNode>()
    const prefix = dir ? `${dir}/` : ''
    for (const [path, { node }] of this.#nodes) {
      if (!path.startsWith(prefix)) continue
      const rest = path.slice(prefix.length)
      if (rest && !rest.includes('/')) out.set(rest, node)
    }
    return out
  }

  /** A fresh data file for new bytes of a file; the caller writes it, then `commit`s. */
  async newData(): Promise<{ id: string; path: string }> {
    const id = randomBytes(16).toString('hex')
    return { id, path: join(this.#dir, 'data', id) }
  }

  dataPath(id: string): string {
    return join(this.#dir, 'data', id)
  }

  /**
   * Record `node` as the state of `path`, durably: a file's data is fsynced first, then the
   * record is appended and the log fsynced. Resolves once both are on disk.
   */
  commit(path: string, node: JournalNode): Promise<void> {
    const seq = ++this.#seq
    const previous = this.#nodes.get(path)?.node
    this.#nodes.set(path, { seq, node })
    const line = JSON.stringify({ seq, path, node } satisfies Record) + '\n'
    const done = this.#appending.then(async () => {
      if (node.kind === 'file') {
        const fh = await open(this.dataPath(node.data), 'r')
        try {
          await fh.datasync()
        } finally {
          await fh.close()
        }
      }
      await this.#log!.appendFile(line)
      await this.#log!.datasync()
      // A file's older data is no longer referred to once the new record is durable.
      if (previous?.kind === 'file' && (node.kind !== 'file' || node.data !== previous.data)) {
        await rm(this.dataPath(previous.data), { force: true })
      }
    })
    this.#appending = done.catch(() => {})
    return done
  }

  /** Every path the journal holds, with the sequence number of its last record. */
  entries(): [string, { seq: number; node: JournalNode }][] {
    return [...this.#nodes]
  }

  async close(): Promise<void> {
    await this.#appending
    await this.#log?.close()
    this.#log = undefined
  }
}
