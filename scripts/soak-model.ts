/**
 * The soak test's model: what the users of three computers did, and what the chain must end up
 * holding (README "How computers stay in step").
 *
 * Every write makes content that no other write makes (it carries a version number), so a
 * version is known by its content wherever Cloudy puts it. A conflict copy
 * `NAME.conflict-<device>-<time>[.ext]` counts as the path NAME, whatever the name's exact shape
 * (device, time, a `-2`, a shortened stem). Per version and path the model keeps every
 * placement, with what happened to it since, following causality as the engine does:
 *  - placed: a step wrote the version there (create, edit, append, a rename's destination).
 *    Putting back on a computer just what it had there at its last sync is no placement: the
 *    engine compares the folder with that state, so a rename away and back is no change.
 *  - superseded: a step on a computer that had the version there changed, moved or deleted it.
 *    That replaces only the placements that computer had seen: its own, and those their
 *    computer up-synced before one of its down-syncs. An edit made elsewhere that it never saw
 *    is not (an edit wins over a deletion, and a conflict keeps both versions), nor is the same
 *    placement another computer made on its own and had not synced (two computers made one
 *    rename, a third deleted the one it received: the other's stays). But two such placements
 *    that both reached the chain before either computer received the other's are one: the
 *    merge finds the version on both sides since their base, the same add (lib/sync/merge.ts),
 *    so what replaces one replaces both.
 *  A kill -9 of a sync leaves open whether it published or applied: what hangs on that may go
 *  or stay (and only that).
 * At the end every placement not replaced must be on every computer, at its path or in a
 * conflict copy of it. A version all of whose placements were replaced must not come back,
 * except in a conflict copy that a down-sync made before (a copy is a new file of its own;
 * deleting it is what dismisses it).
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

/**
 * One placement of a version at a path: a step of one computer's user put it there. Two
 * computers that make the same placement make two: each is replaced only by what saw it.
 */
interface Token {
  key: string
  /** The path it is a version of (conflict suffixes taken off). */
  path: string
  /** The exact path it was placed at (a copy's own name). */
  at: string
  by: string
  step: number
  tick: number
  /** maybe: a killed sync leaves open whether the step placed anything (see placed()). */
  born: 'alive' | 'maybe'
  /**
   * alive: no computer that had seen it replaced it; dead: one did; maybe: one did that may have
   * seen it (a killed sync between them, or its own copy merged into the chain's identical one).
   */
  state: 'alive' | 'maybe' | 'dead'
  /** The supersedes that hit it (a rename back by their computer takes its own back). */
  hits: { by: string; step: number; tick: number; path: string; to: 'maybe' | 'dead'; viaCopy: boolean }[]
  /** The tick of the first successful up-sync of `by` that held it. */
  publishedSure?: number
  /** The tick of the first up-sync of `by` that held it, killed ones too (they may have published). */
  publishedMaybe?: number
  /**
   * A down-sync of `by` ran while another computer's identical placement had (maybe) been
   * published: the engine may have taken this one as synced, the chain's own.
   */
  absorbed: boolean
  /**
   * The same placement by other computers that reached the chain in commits that did not know
   * of each other (sure: both up-syncs surely published): the merge takes them for one add
   * (lib/sync/merge.ts), so what replaces one replaces the others.
   */
  twins: Map<Token, boolean>
}

type Hit = Token['hits'][number]

/** What the model knows of one computer's syncs (in ticks of the model's clock). */
interface Device {
  /** Its last successful down-sync (0: the set-up's). */
  downOk: number
  /** Its last down-sync, killed ones too. */
  downTry: number
  /** What it last synced, as the engine compares its folder with it (see #downBase). */
  base: Base
}

/**
 * A computer's synced state as the model works it out: by exact path, the version (null: not
 * known, after a kill or where another computer made the same change) and the tick it got it.
 */
type Base = Map<string, { key: string | null; tick: number; may?: string[] }>

/** Not known: one of `keys` or none. */
const unknown = (keys: (string | null | undefined)[], tick: number, may: string[] = []) => ({
  key: null,
  tick,
  may: [...new Set([...may, ...keys.filter((k): k is string => typeof k === 'string')])],
})

export interface Failure {
  /** A short class name: failures of one class have one cause. */
  kind: string
  detail: string
}

const pairKey = (key: string, path: string) => `${key}\0${originalPath(path)}`
const baseName = (path: string) => path.slice(path.lastIndexOf('/') + 1)
const RANK = { alive: 0, maybe: 1, dead: 2 } as const

/** A synced state after a killed sync: where the two it may be differ, not known. */
function agree(old: Base, maybe: Base, tick: number): Base {
  const out: Base = new Map()
  for (const p of new Set([...old.keys(), ...maybe.keys()])) {
    const [o, m] = [old.get(p), maybe.get(p)]
    out.set(p, o && m && o.key === m.key && o.key !== null ? o : unknown([o?.key, m?.key], tick, [...(o?.may ?? []), ...(m?.may ?? [])]))
  }
  return out
}

function stateOf(t: Token): Token['state'] {
  let state: Token['state'] = t.born
  for (const h of t.hits) if (RANK[h.to] > RANK[state]) state = h.to
  return state
}

export class SoakModel {
  readonly versions = new Map<string, Version>()
  /** Every placement, by pairKey. */
  readonly #tokens = new Map<string, Token[]>()
  /** Versions a down-sync kept in a conflict copy, by pairKey. */
  readonly #copied = new Set<string>()
  /** Every version at every exact path a computer put it at or held it at after a sync (`key\0path`). */
  readonly #held = new Set<string>()
  readonly #devices = new Map<string, Device>()
  #nextId = 1
  /** The model's own clock: one tick per event, so that a sync and a step it follows are ordered. */
  #clock = 0
  /** Where and when each version in a copy was first seen after a down-sync, by `key\0path` (exact). */
  readonly #firstSeen = new Map<string, { by: string; tick: number }>()
  /** When each computer ran an up-sync, killed ones too (they may have published). */
  readonly #ups = new Map<string, number[]>()

  constructor(devices: string[]) {
    for (const d of devices) this.#devices.set(d, { downOk: 0, downTry: 0, base: new Map() })
  }

  nextVersionId(): number {
    return this.#nextId++
  }

  addVersion(v: Version): void {
    this.versions.set(v.key, v)
  }

  #device(name: string): Device {
    const d = this.#devices.get(name)
    if (!d) throw new Error(`not a computer of the soak: ${name}`)
    return d
  }

  /**
   * A user step on `by` put version `key` at `path`. Where `by` had just that there at its last
   * sync, the engine sees no change (it compares the folder with what it last synced): the step
   * only takes back what `by` did to that path since (a rename away and back is nothing).
   */
  placed(key: string, path: string, by: string, step: number): void {
    const tick = ++this.#clock
    const d = this.#device(by)
    this.#held.add(`${key}\0${path}`)
    const list = this.#tokens.get(pairKey(key, path)) ?? []
    this.#tokens.set(pairKey(key, path), list)
    const synced = d.base.get(path)
    if (synced?.key === key) {
      for (const t of list) {
        t.hits = t.hits.filter((h) => h.by !== by || h.path !== path || h.tick < synced.tick)
        t.state = stateOf(t)
      }
      return
    }
    // Not known what it last synced here (a kill): the step may be a placement or none, and the
    // version may go or stay.
    const born = synced?.may?.includes(key) ? 'maybe' : 'alive'
    list.push({ key, path: originalPath(path), at: path, by, step, tick, born, state: born, hits: [], absorbed: false, twins: new Map() })
  }

  /**
   * A user step on `by` changed, moved or deleted version `key`, which it had at `path`. That
   * replaces only the placements `by` had seen: its own, and those published before one of its
   * down-syncs. A placement another computer made and `by` never received is not replaced (the
   * engine merges the two: a change wins over no change), even when it is identical to one `by`
   * had (two computers made the same rename).
   */
  superseded(key: string, path: string, by: string, step: number): void {
    const tick = ++this.#clock
    const d = this.#device(by)
    const viaCopy = conflictDepth(path) > 0
    // Recorded on a placement already replaced too: a rename back may take that one back.
    for (const t of this.#tokens.get(pairKey(key, path)) ?? []) {
      const to = this.#covers(t, by, d)
      if (to) this.#strike(t, { by, step, tick, path, to, viaCopy })
    }
  }

  /** Hit `t` and its twins with `h` (maybe only, through a twin that is one only maybe). */
  #strike(t: Token, h: Hit, seen = new Set<Token>()): void {
    if (seen.has(t)) return
    seen.add(t)
    t.hits.push(h)
    t.state = stateOf(t)
    for (const [twin, sure] of t.twins) this.#strike(twin, sure ? h : { ...h, to: 'maybe' }, seen)
  }

  /**
   * `t` and `u`, the same placement by two computers, both reached the chain before either
   * computer received the other's: one add from then on (what hit one before hits the other).
   */
  #twin(t: Token, u: Token, sure: boolean): void {
    if (t.twins.get(u) === true || t.twins.get(u) === sure) return
    t.twins.set(u, sure)
    u.twins.set(t, sure)
    const [ht, hu] = [[...t.hits], [...u.hits]]
    for (const h of hu) this.#strike(t, sure ? h : { ...h, to: 'maybe' })
    for (const h of ht) this.#strike(u, sure ? h : { ...h, to: 'maybe' })
  }

  /** Whether a supersede by `by` replaces placement `t`: surely, maybe (a kill between), or not. */
  #covers(t: Token, by: string, d: Device): 'dead' | 'maybe' | undefined {
    if (t.by === by) return 'dead'
    if (t.publishedSure !== undefined && t.publishedSure < d.downOk) return 'dead'
    if (t.publishedMaybe !== undefined && t.publishedMaybe < d.downTry) return 'maybe'
    if (t.absorbed) return 'maybe'
    return undefined
  }

  /** What a computer (`by`) holds after a down-sync: the versions it keeps in conflict copies. */
  observed(entries: Entry[], by?: string): void {
    const tick = this.#clock
    for (const e of entries)
      if (e.key && conflictDepth(e.path) > 0) {
        this.#copied.add(pairKey(e.key, e.path))
        const exact = `${e.key}\0${e.path}`
        if (by !== undefined && !this.#firstSeen.has(exact)) this.#firstSeen.set(exact, { by, tick })
      }
    this.#hold(entries)
  }

  /**
   * Whether the copy at exact `path` holding `key` is another copy than the one `hit` deleted or
   * moved: made by a down-sync that could not know of that yet (first seen before the
   * superseding computer up-synced after it; on that computer itself, before it). The merge
   * tracks no renames and a copy is a file of its own from then on (README), so such a copy
   * stays. Counting a killed up-sync as published keeps this strict.
   */
  #concurrentCopy(key: string, path: string, hit: Token['hits'][number]): boolean {
    if (path === hit.path) return false
    const seen = this.#firstSeen.get(`${key}\0${path}`)
    if (!seen) return false
    if (seen.by === hit.by) return seen.tick < hit.tick
    return !(this.#ups.get(hit.by) ?? []).some((u) => u > hit.tick && u < seen.tick)
  }

  #hold(entries: Entry[]): void {
    for (const e of entries) if (e.key) this.#held.add(`${e.key}\0${e.path}`)
  }

  /**
   * An up-sync of `by`, which held `entries` before it, ended: `ok` if it succeeded (what it had is in the
   * chain), else it was killed (it may have published).
   */
  upSynced(by: string, entries: Entry[], ok: boolean): void {
    const tick = ++this.#clock
    const d = this.#device(by)
    this.#ups.set(by, [...(this.#ups.get(by) ?? []), tick])
    this.#hold(entries)
    const held = new Set(entries.filter((e) => e.key).map((e) => pairKey(e.key!, e.path)))
    for (const [at, list] of this.#tokens)
      if (held.has(at))
        for (const t of list)
          if (t.by === by && t.state !== 'dead') {
            t.publishedMaybe ??= tick
            if (ok) t.publishedSure ??= tick
            // Another computer's same placement, up-synced before this computer last down-synced
            // (killed ones too): the two commits know nothing of each other, and the merge finds
            // the version held on both sides since their base, one add (lib/sync/merge.ts).
            for (const u of list)
              if (u.by !== by && u.at === t.at && u.publishedMaybe !== undefined && d.downTry < u.publishedMaybe)
                this.#twin(t, u, ok && u.publishedSure !== undefined)
          }
    const sent: Base = new Map()
    for (const e of entries)
      if (e.key) sent.set(e.path, { key: e.key, tick: d.base.get(e.path)?.key === e.key ? d.base.get(e.path)!.tick : tick })
    d.base = ok ? sent : agree(d.base, sent, tick)
  }

  /**
   * A down-sync of `by` ended (`ok`: it succeeded, else it was killed); it held `before` before
   * it and holds `entries` now.
   */
  downSynced(by: string, before: Entry[], entries: Entry[], ok: boolean): void {
    const tick = ++this.#clock
    const d = this.#device(by)
    this.observed(entries, by)
    d.downTry = tick
    if (ok) d.downOk = tick
    // Its own placement identical to one the chain has: the down-sync may take it as synced,
    // the chain's version, which a supersede by a computer that saw the chain's replaces.
    const held = new Set(entries.filter((e) => e.key).map((e) => pairKey(e.key!, e.path)))
    for (const [at, list] of this.#tokens)
      if (held.has(at))
        for (const t of list)
          if (
            t.by === by &&
            t.state !== 'dead' &&
            list.some((o) => o.by !== by && o.publishedMaybe !== undefined && o.publishedMaybe < tick)
          )
            t.absorbed = true
    const merged = this.#downBase(by, d.base, before, entries, tick)
    d.base = ok ? merged : agree(d.base, merged, tick)
  }

  /**
   * What `by` synced after a down-sync that found its folder as `before` and left it as `after`:
   * where the folder was as last synced, what the down-sync left; where it had a change of its
   * own that the down-sync did not touch, the last synced version (the chain did not change the
   * path) unless another computer did something with these versions there (the chain may have
   * made the same change: not known); where it had a change and the down-sync wrote, what it wrote.
   */
  #downBase(by: string, base: Base, before: Entry[], after: Entry[], tick: number): Base {
    const l = new Map(before.filter((e) => e.key).map((e) => [e.path, e.key!]))
    const a = new Map(after.filter((e) => e.key).map((e) => [e.path, e.key!]))
    const out: Base = new Map()
    // The versions this down-sync put in new conflict copies, by the path they stand for.
    const copies = new Map<string, string[]>()
    for (const [p, k] of a) if (!l.has(p) && conflictDepth(p) > 0) copies.set(originalPath(p), [...(copies.get(originalPath(p)) ?? []), k])
    for (const p of new Set([...base.keys(), ...l.keys(), ...a.keys()])) {
      const b = base.get(p)
      const [lk, ak] = [l.get(p), a.get(p)]
      let key: string | undefined
      if (b?.key === null) {
        if (lk === ak) out.set(p, b)
        else key = ak
      }
      // A conflict copy this down-sync made is not synced yet; one it received is.
      else if (lk === b?.key) {
        if (conflictDepth(p) > 0 && lk === undefined && ak !== undefined) out.set(p, unknown([ak], tick))
        else key = ak
      } else if (ak !== lk) key = ak
      // Another computer's change here: the chain may have made the same one, or a conflict kept
      // the local version at the name and synced the incoming one, which went to a copy.
      else if (this.#othersAt(by, p, [b?.key, lk]) || copies.has(originalPath(p)))
        out.set(p, unknown([b?.key, lk, ...(copies.get(originalPath(p)) ?? [])], tick))
      else key = b?.key
      if (key !== undefined) out.set(p, b && b.key === key ? b : { key, tick })
    }
    return out
  }

  /** Whether a computer other than `by` placed or replaced one of `keys` at `path`. */
  #othersAt(by: string, path: string, keys: (string | undefined)[]): boolean {
    return keys.some(
      (k) => k !== undefined && (this.#tokens.get(pairKey(k, path)) ?? []).some((t) => t.by !== by || t.hits.some((h) => h.by !== by)),
    )
  }

  /** What must be present at the end: every placement no computer that had seen it replaced. */
  survivors(): Token[] {
    return [...this.#tokens.values()].flat().filter((t) => t.state === 'alive')
  }

  /**
   * One version in several copies of one folder, each made by its own down-sync, is not the
   * merge keeping it twice when each copy holds it at a different path of that folder that the
   * chain had it at: a folder meeting a file here goes to a copy with what the chain changed in
   * it since (README), and a copy is a folder of its own from then on, so a version the chain
   * later moved inside the folder (another computer's conflict copy of it) comes again in the
   * next copy, at its new path. Two copies of one path of the folder stay a failure.
   */
  #separateFolderCopies(key: string, same: string[]): boolean {
    const folders = same.map(copiedFolder)
    const inside = same.map(folderOriginal)
    return (
      folders.every((f) => f !== undefined) &&
      new Set(folders).size === same.length &&
      new Set(inside).size === same.length &&
      inside.every((p) => this.#held.has(`${key}\0${p}`))
    )
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

    // Every surviving version on every computer, at its path or in a conflict copy of it (one
    // report per version and path, naming a placement of it, an up-synced one if there is).
    const missing = new Map<string, { s: Token; on: string[]; elsewhere: Set<string> }>()
    const survivors = this.survivors().sort((x, y) => Number(y.publishedSure !== undefined) - Number(x.publishedSure !== undefined))
    for (const [name, tree] of trees) {
      const here = new Set(tree.filter((e) => e.key).map((e) => pairKey(e.key!, e.path)))
      for (const s of survivors) {
        const at = pairKey(s.key, s.path)
        if (here.has(at)) continue
        const m = missing.get(at) ?? { s, on: [], elsewhere: new Set<string>() }
        missing.set(at, m)
        if (m.s !== s) continue
        m.on.push(name)
        for (const e of tree) if (e.key === s.key) m.elsewhere.add(e.path)
      }
    }
    for (const { s, on, elsewhere } of missing.values())
      failures.push({
        kind: s.publishedSure !== undefined ? 'lost an up-synced version' : 'lost a version never up-synced',
        detail: `${this.describe(s.key)}, placed at ${s.path} by ${s.by} at step ${s.step}, is missing on ${on.join(', ')}${elsewhere.size ? `; found at ${[...elsewhere].join(', ')}` : ''}`,
      })

    const byKey = new Map<string, Entry[]>()
    for (const e of tree0) if (e.key) byKey.set(e.key, [...(byKey.get(e.key) ?? []), e])
    for (const e of tree0) {
      if (!e.key) continue
      const at = pairKey(e.key, e.path)
      const tokens = this.#tokens.get(at) ?? []
      const inCopy = conflictDepth(e.path) > 0
      // Gone for good only when every placement is: the last supersede that made one so says how.
      const p = tokens.every((t) => t.state === 'dead')
        ? tokens
            .flatMap((t) => t.hits.filter((h) => h.to === 'dead'))
            .reduce<Token['hits'][number] | undefined>((x, h) => (x && x.tick > h.tick ? x : h), undefined)
        : undefined
      const where = originalPath(e.path)
      if (!tokens.length)
        failures.push({ kind: 'version at a path it never had', detail: `${name0}: ${e.path} holds ${this.describe(e.key)}` })
      else if (p?.viaCopy && inCopy && !this.#concurrentCopy(e.key, e.path, p))
        failures.push({
          kind: 'a deleted conflict copy came back',
          detail: `${name0}: ${e.path} holds ${this.describe(e.key)}, whose copy at ${where} ${p.by} deleted or moved at step ${p.step}`,
        })
      else if (p && !p.viaCopy && !this.#copied.has(at))
        failures.push({
          kind: 'a superseded version came back',
          detail: `${name0}: ${e.path} holds ${this.describe(e.key)}, which ${p.by} replaced, moved or deleted at ${where} at step ${p.step}`,
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
        if (same.length > 1 && this.#separateFolderCopies(key, same))
          notes.push(
            `one version in two copied folders, each where the chain had it at its time: ${name0}: ${this.describe(key)} at ${same.join(' and ')}`,
          )
        else if (same.length > 1) {
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
        // A copy is named after the device that put its version at the path, which may have
        // moved another's file there (README, "Conflicts keep both versions"): its name's device
        // counts as the version's too (adversarial seed 47: c1 moved c3's file to the name).
        const named = [...baseName(o.path).matchAll(/\.conflict-(.+?)-\d{8}-\d{6}/g)].pop()?.[1]
        return (
          v &&
          mine &&
          v.key !== mine.key &&
          (v.author === mine.author || named === mine.author) &&
          Math.floor(o.mtimeMs / 1000) === Math.floor(e.mtimeMs / 1000)
        )
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

/** A path with its folders' conflict suffixes taken off, not its own: `d.conflict-…/f.conflict-…` -> `d/f.conflict-…`. */
function folderOriginal(path: string): string {
  const parts = path.split('/')
  return [...parts.slice(0, -1).map(originalName), parts[parts.length - 1]].join('/')
}

/** The first folder of `path` that is a conflict copy, with what is above it (undefined: none). */
function copiedFolder(path: string): string | undefined {
  const parts = path.split('/')
  const i = parts.slice(0, -1).findIndex((p) => conflictDepth(p) > 0)
  return i < 0 ? undefined : parts.slice(0, i + 1).join('/')
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
