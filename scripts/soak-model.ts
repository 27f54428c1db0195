/**
 * The soak test's model: what the users of three computers did, and what the chain must end up
 * holding (README "How computers stay in step").
 *
 * Every write makes content that no other write makes (it carries a version number), so a
 * version is known by its content wherever Cloudy puts it. A conflict copy
 * `NAME.conflict-<device>-<time>[.ext]` counts as the path NAME, whatever the name's exact shape
 * (device, time, a `-2`, a shortened stem). Per version and path the model keeps the last thing
 * a user did there:
 *  - placed: a step wrote the version there (create, edit, append, a rename's destination);
 *  - superseded: a step on a computer that had the version there changed, moved or deleted it.
 *    Only what that computer had is superseded: an edit made elsewhere that it never saw is not
 *    (an edit wins over a deletion, and a conflict keeps both versions).
 * At the end every placed version must be on every computer, at its path or in a conflict copy
 * of it. A superseded one must not come back, except in a conflict copy that a down-sync made
 * before (a copy is a new file of its own; deleting it is what dismisses it). Deleting or moving
 * a copy dismisses that copy: the same copy (the same name, which every computer derives alike)
 * must not come back, nor may any down-sync that knew of the deletion make another copy of that
 * version there. A different copy that another computer's down-sync made before the deletion
 * could reach it (a folder's copy holding a copy inside, made while the deleting computer had
 * not yet up-synced) is another file that computer never had: the merge tracks no renames, so
 * it stays (README "How computers stay in step": a copy is an ordinary file from then on).
 */

import { mulberry32 } from '../lib/seeded-random.js'
export { mulberry32 }

/** Random choices drawn from one seeded generator. */
export class Rng {
  readonly #next: () => number
  constructor(seed: number) {
    this.#next = mulberry32(seed)
  }
  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.#next() * n)
  }
  /** An integer in [lo, hi]. */
  between(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1)
  }
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('pick from nothing')
    return items[this.int(items.length)]!
  }
  /** One of the keys of `weights`, each as likely as its weight. */
  weighted<K extends string>(weights: Record<K, number>): K {
    const entries = Object.entries(weights) as [K, number][]
    let r = this.#next() * entries.reduce((s, [, w]) => s + w, 0)
    for (const [k, w] of entries) if ((r -= w) < 0) return k
    return entries[entries.length - 1]![0]
  }
}

const CONFLICT = /^(.+?)\.conflict-[^.]*?(\.[^.]*)?$/

/** How many conflict suffixes a name carries (0: not a copy, 2: a copy of a copy). */
export function conflictDepth(name: string): number {
  let depth = 0
  for (let m = CONFLICT.exec(name); m; m = CONFLICT.exec(name)) {
    name = m[1]! + (m[2] ?? '')
    depth++
  }
  return depth
}

/** The name a conflict copy stands for: `n1.conflict-c2-20260101-000000.txt` -> `n1.txt`. */
export function originalName(name: string): string {
  for (let m = CONFLICT.exec(name); m; m = CONFLICT.exec(name)) name = m[1]! + (m[2] ?? '')
  return name
}

/** A path with every component's conflict suffixes taken off: the path a version belongs to. */
export function originalPath(path: string): string {
  return path.split('/').map(originalName).join('/')
}

/** One file or link as scanned from a computer's synced folder. */
export interface Entry {
  path: string
  type: 'file' | 'dir' | 'symlink'
  mode: number
  mtimeMs: number
  /** A file's content hash or a link's target: the version's identity. */
  key?: string
  size?: number
}

/** A version: content that one write made. */
export interface Version {
  id: number
  key: string
  /** The computer whose user wrote it. */
  author: string
  step: number
  /** The path it was first written at. */
  path: string
}

interface Placement {
  key: string
  /** The path it is a version of (conflict suffixes taken off). */
  path: string
  /** The exact path of the last thing done (a copy's own name). */
  at: string
  /** The last thing a user did to this version at this path. */
  last: 'placed' | 'superseded'
  /** Superseded by deleting or moving a conflict copy that held it (not the path itself). */
  viaCopy: boolean
  by: string
  step: number
  /** When (the model's clock). */
  tick: number
  /** A successful up-sync sent it (from the computer that had it). */
  published: boolean
}

export interface Failure {
  /** A short class name: failures of one class have one cause. */
  kind: string
  detail: string
}

const pairKey = (key: string, path: string) => `${key}\0${originalPath(path)}`
const baseName = (path: string) => path.slice(path.lastIndexOf('/') + 1)

export class SoakModel {
  readonly versions = new Map<string, Version>()
  readonly #placements = new Map<string, Placement>()
  /** Versions a down-sync kept in a conflict copy, by pairKey. */
  readonly #copied = new Set<string>()
  /** Where and when (`#clock`) each version in a copy was first seen after a down-sync, by exact path. */
  readonly #firstSeen = new Map<string, { by: string; tick: number }>()
  /** When (`#clock`) each computer ran an up-sync (killed ones too: they may have published). */
  readonly #ups = new Map<string, number[]>()
  /** Orders what users and syncs did (the final rounds share one step number). */
  #clock = 0
  readonly #devices: Set<string>
  #nextId = 1

  constructor(devices: string[]) {
    this.#devices = new Set(devices)
  }

  nextVersionId(): number {
    return this.#nextId++
  }

  addVersion(v: Version): void {
    this.versions.set(v.key, v)
  }

  #set(key: string, path: string, last: Placement['last'], by: string, step: number): void {
    const old = this.#placements.get(pairKey(key, path))
    const viaCopy = last === 'superseded' && conflictDepth(path) > 0
    this.#placements.set(pairKey(key, path), {
      key,
      path: originalPath(path),
      at: path,
      last,
      viaCopy,
      by,
      step,
      tick: ++this.#clock,
      published: old?.published ?? false,
    })
  }

  /** A user step on `by` put version `key` at `path`. */
  placed(key: string, path: string, by: string, step: number): void {
    this.#set(key, path, 'placed', by, step)
  }

  /** A user step on `by` changed, moved or deleted version `key`, which it had at `path`. */
  superseded(key: string, path: string, by: string, step: number): void {
    this.#set(key, path, 'superseded', by, step)
  }

  /** What computer `by` holds after a down-sync at `step`: the versions it keeps in conflict copies. */
  observed(entries: Entry[], by: string): void {
    const tick = ++this.#clock
    for (const e of entries)
      if (e.key && conflictDepth(e.path) > 0) {
        this.#copied.add(pairKey(e.key, e.path))
        const exact = `${e.key}\0${e.path}`
        if (!this.#firstSeen.has(exact)) this.#firstSeen.set(exact, { by, tick })
      }
  }

  /** Computer `by` starts an up-sync (whether or not it gets to publish). */
  upRan(by: string): void {
    this.#ups.set(by, [...(this.#ups.get(by) ?? []), ++this.#clock])
  }

  /**
   * Whether the copy at exact `path` holding `key` is another copy than the one `p` deleted or
   * moved, made by a down-sync that could not know of it: first seen before the superseding
   * computer up-synced after that (on that computer itself: before it). Counting a
   * killed up-sync as published keeps this strict.
   */
  #concurrentCopy(key: string, path: string, p: Placement): boolean {
    if (path === p.at) return false
    const seen = this.#firstSeen.get(`${key}\0${path}`)
    if (!seen) return false
    if (seen.by === p.by) return seen.tick < p.tick
    return !(this.#ups.get(p.by) ?? []).some((u) => u > p.tick && u < seen.tick)
  }

  /** An up-sync of a computer holding `entries` succeeded: what it had is in the chain. */
  published(entries: Entry[]): void {
    for (const e of entries) {
      const p = e.key && this.#placements.get(pairKey(e.key, e.path))
      if (p) p.published = true
    }
  }

  /** What must be present at the end: every version placed and not superseded since. */
  survivors(): Placement[] {
    return [...this.#placements.values()].filter((p) => p.last === 'placed')
  }

  describe(key: string): string {
    const v = this.versions.get(key)
    return v ? `v${v.id} (written by ${v.author} at step ${v.step} as ${v.path})` : `unknown content ${key.slice(0, 12)}`
  }

  /**
   * The checks of the end state: `trees` are the computers' synced folders after the final
   * rounds, by computer name.
   */
  check(trees: Map<string, Entry[]>): { failures: Failure[]; notes: string[] } {
    const failures: Failure[] = []
    const notes: string[] = []
    const [first, ...others] = [...trees.entries()]
    if (!first) return { failures, notes }
    const [name0, tree0] = first
    for (const [name, tree] of others) failures.push(...compareTrees(name0, tree0, name, tree))

    // Every surviving version on every computer, at its path or in a conflict copy of it.
    const missing = new Map<string, { s: Placement; on: string[]; elsewhere: Set<string> }>()
    for (const [name, tree] of trees) {
      const here = new Set(tree.filter((e) => e.key).map((e) => pairKey(e.key!, e.path)))
      for (const s of this.survivors()) {
        if (here.has(pairKey(s.key, s.path))) continue
        const m = missing.get(pairKey(s.key, s.path)) ?? { s, on: [], elsewhere: new Set<string>() }
        m.on.push(name)
        for (const e of tree) if (e.key === s.key) m.elsewhere.add(e.path)
        missing.set(pairKey(s.key, s.path), m)
      }
    }
    for (const { s, on, elsewhere } of missing.values())
      failures.push({
        kind: s.published ? 'lost an up-synced version' : 'lost a version never up-synced',
        detail: `${this.describe(s.key)}, placed at ${s.path} by ${s.by} at step ${s.step}, is missing on ${on.join(', ')}${elsewhere.size ? `; found at ${[...elsewhere].join(', ')}` : ''}`,
      })

    const byKey = new Map<string, Entry[]>()
    for (const e of tree0) if (e.key) byKey.set(e.key, [...(byKey.get(e.key) ?? []), e])
    for (const e of tree0) {
      if (!e.key) continue
      const at = pairKey(e.key, e.path)
      const p = this.#placements.get(at)
      const inCopy = conflictDepth(e.path) > 0
      if (!p) failures.push({ kind: 'version at a path it never had', detail: `${name0}: ${e.path} holds ${this.describe(e.key)}` })
      else if (p.last === 'superseded' && p.viaCopy && inCopy && !this.#concurrentCopy(e.key, e.path, p))
        failures.push({
          kind: 'a deleted conflict copy came back',
          detail: `${name0}: ${e.path} holds ${this.describe(e.key)}, whose copy at ${p.path} ${p.by} deleted or moved at step ${p.step}`,
        })
      else if (p.last === 'superseded' && !p.viaCopy && !this.#copied.has(at))
        failures.push({
          kind: 'a superseded version came back',
          detail: `${name0}: ${e.path} holds ${this.describe(e.key)}, which ${p.by} replaced, moved or deleted at ${p.path} at step ${p.step}`,
        })
      for (const part of e.path.split('/')) {
        const label = /\.conflict-(.+?)-\d{8}-\d{6}/.exec(part)?.[1]
        if (label && !this.#devices.has(label))
          failures.push({ kind: 'conflict copy not named after a device', detail: `${name0}: ${e.path} (device part "${label}")` })
      }
    }
    // One version in two copies of one path: the merge kept it twice.
    for (const [key, places] of byKey) {
      const paths = new Map<string, string[]>()
      for (const e of places) paths.set(originalPath(e.path), [...(paths.get(originalPath(e.path)) ?? []), e.path])
      for (const same of paths.values())
        if (same.length > 1) {
          // A copied folder holding what is also at the folder's name: the down-sync kept the
          // local file at the name and the incoming folder as a copy, the merge the folder.
          const inFolderCopy = same.some((p) => conflictDepth(p.slice(0, Math.max(0, p.lastIndexOf('/')))) > 0)
          failures.push({
            kind: inFolderCopy ? 'one version kept twice, once in a copied folder' : 'one version kept twice',
            detail: `${name0}: ${this.describe(key)} at ${same.join(' and ')}`,
          })
        }
    }
    // Conflict copies of conflict copies: each needs a reason.
    for (const e of tree0) {
      if (conflictDepth(baseName(e.path)) < 2 || !e.key) continue
      const inner = tree0.filter((o) => o.key && originalPath(o.path) === originalPath(e.path) && o.path !== e.path)
      const mine = this.versions.get(e.key)
      const clash = inner.find((o) => {
        const v = this.versions.get(o.key!)
        return v && mine && v.key !== mine.key && v.author === mine.author && Math.floor(o.mtimeMs / 1000) === Math.floor(e.mtimeMs / 1000)
      })
      const line = `${name0}: ${e.path} holds ${this.describe(e.key)}; beside it: ${inner.map((o) => `${o.path} = ${this.describe(o.key!)}`).join('; ')}`
      if (clash)
        notes.push(
          `conflict copy of a conflict copy, reason: two versions by one device in one second share a copy name (${clash.path}): ${line}`,
        )
      else failures.push({ kind: 'conflict copy of a conflict copy without a reason', detail: line })
    }
    return { failures, notes }
  }
}

/** The differences between two computers' synced folders (content, type, mode, link, file time). */
export function compareTrees(nameA: string, a: Entry[], nameB: string, b: Entry[]): Failure[] {
  const out: Failure[] = []
  const mb = new Map(b.map((e) => [e.path, e]))
  const ma = new Map(a.map((e) => [e.path, e]))
  for (const e of a) {
    const o = mb.get(e.path)
    if (!o) out.push({ kind: 'computers differ', detail: `${e.path} (${e.type}) on ${nameA}, not on ${nameB}` })
    else if (o.type !== e.type || o.key !== e.key || o.size !== e.size)
      out.push({ kind: 'computers differ', detail: `${e.path}: ${nameA} ${show(e)}, ${nameB} ${show(o)}` })
    else if (o.mode !== e.mode)
      out.push({ kind: 'computers differ in modes', detail: `${e.path}: ${nameA} ${e.mode.toString(8)}, ${nameB} ${o.mode.toString(8)}` })
    else if (e.type === 'file' && o.mtimeMs !== e.mtimeMs)
      out.push({ kind: 'computers differ in file times', detail: `${e.path}: ${nameA} ${e.mtimeMs}, ${nameB} ${o.mtimeMs}` })
  }
  for (const e of b)
    if (!ma.has(e.path)) out.push({ kind: 'computers differ', detail: `${e.path} (${e.type}) on ${nameB}, not on ${nameA}` })
  return out
}

function show(e: Entry): string {
  return `${e.type}${e.key ? ` ${e.key.slice(0, 12)}` : ''}${e.size !== undefined ? ` ${e.size} B` : ''}`
}
