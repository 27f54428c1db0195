/**
 * The commit graph of one space. Commits are immutable, so each is fetched from the vault once
 * and kept in the state database; ancestry questions are then answered locally.
 *
 * Commits `forget` let go stay in the graph, whole, from their forget records (their objects
 * and the data only they used may be pruned): ancestry is the same before and after a forget.
 * Only retained commits have a tree to read: `retained` says which, and merge bases are chosen
 * among them.
 */
import type { StateDb } from '../state/db.js'
import { isCommit, type Commit } from '../store/objects.js'
import type { SpaceStore } from '../store/space-store.js'

export interface CommitRef {
  id: string
  commit: Commit
}

export class CommitGraph {
  readonly #store: SpaceStore
  readonly #db: StateDb
  readonly #commits = new Map<string, Commit>()
  readonly #ancestors = new Map<string, Set<string>>()

  constructor(store: SpaceStore, db: StateDb) {
    this.#store = store
    this.#db = db
  }

  async get(id: string): Promise<Commit> {
    const known = this.#commits.get(id)
    if (known) return known
    const space = this.#store.keys.name
    const json = this.#db.getCommit(space, id)
    let commit = json ? (JSON.parse(json) as unknown) : (this.#store.forgotten.get(id) as unknown)
    if (!isCommit(commit)) {
      commit = await this.#store.readCommit(id)
      this.#db.putCommit(space, id, JSON.stringify(commit))
    }
    this.#commits.set(id, commit as Commit)
    return commit as Commit
  }

  async ref(id: string): Promise<CommitRef> {
    return { id, commit: await this.get(id) }
  }

  /** Whether `id`'s tree is kept: no forget record names it. */
  retained(id: string): boolean {
    return !this.#store.forgotten.has(id)
  }

  /** `id` and every commit it descends from. */
  async ancestors(id: string): Promise<Set<string>> {
    const known = this.#ancestors.get(id)
    if (known) return known
    const out = new Set<string>()
    const todo = [id]
    while (todo.length) {
      const next = todo.pop()!
      if (out.has(next)) continue
      out.add(next)
      const cached = this.#ancestors.get(next)
      if (cached) {
        for (const a of cached) out.add(a)
        continue
      }
      for (const p of (await this.get(next)).parents) if (!out.has(p)) todo.push(p)
    }
    this.#ancestors.set(id, out)
    return out
  }

  /** Whether `a` is `b` or one of its ancestors. */
  async isAncestor(a: string, b: string): Promise<boolean> {
    return (await this.ancestors(b)).has(a)
  }

  /**
   * The best common ancestor of the commits `ours` (one merged state) and `theirs`: among the
   * common ancestors, one that no other common ancestor descends from; of several such (a
   * criss-cross), the newest, then the smallest id. (The merge itself uses all of them.)
   */
  async mergeBase(ours: readonly string[], theirs: string): Promise<CommitRef | undefined> {
    return (await this.mergeBases(ours, theirs))[0]
  }

  /** Every best common ancestor (several after a criss-cross), newest first, then by id. */
  async mergeBases(ours: readonly string[], theirs: string): Promise<CommitRef[]> {
    const mine = new Set<string>()
    for (const o of ours) for (const a of await this.ancestors(o)) mine.add(a)
    // Among retained commits only: a forgotten one's tree may be gone. With the one that was the
    // best forgotten, an older retained one stands in (forget keeps the bases of the heads).
    const common = [...(await this.ancestors(theirs))].filter((a) => mine.has(a) && this.retained(a))
    if (common.length === 0) return []
    // Everything strictly below a common ancestor is not a best one; each commit is marked once.
    const below = new Set<string>()
    for (const c of common) {
      const todo = [...(await this.get(c)).parents]
      while (todo.length) {
        const x = todo.pop()!
        if (below.has(x)) continue
        below.add(x)
        todo.push(...(await this.get(x)).parents)
      }
    }
    const best: CommitRef[] = []
    for (const c of common) if (!below.has(c)) best.push(await this.ref(c))
    best.sort((x, y) => (x.commit.time === y.commit.time ? (x.id < y.id ? -1 : 1) : x.commit.time > y.commit.time ? -1 : 1))
    return best
  }
}
