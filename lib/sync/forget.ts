/**
 * `cloudy forget`: which commits of each space the retention policies let go
 * (docs/FORMAT.md, "Retention and prune"). Forgetting writes a forget record and deletes
 * nothing; `prune` then removes what only forgotten commits used.
 *
 * Each computer's commits of a space are one history, as restic groups snapshots by host: the
 * policy of the space's scope keeps some of each. Kept always, whatever the policy: every
 * head of the chain (a removed computer's as its removal recorded it), and the best common
 * ancestors of every two heads, which the next merge of those heads reads as its base.
 */
import { loadSelectionMap } from '../selection/records.js'
import { policyOf } from '../selection/retention.js'
import type { Session } from '../session.js'
import type { ForgetRecord } from '../store/prune-records.js'
import type { SpaceStore } from '../store/space-store.js'
import { APPS_REGISTRY } from '../apps/app-spaces.js'
import { chainHeadIds } from './down.js'
import { CommitGraph, type CommitRef } from './graph.js'
import { allCommits } from './history.js'
import { applyPolicy, type RetentionPolicy } from './retention.js'
import { allSpaces } from './spaces.js'

export interface ForgetOptions {
  /** Rules given on the command line: they replace the selection's for every space. */
  policy?: RetentionPolicy
  dryRun?: boolean
  /** Count buckets in UTC, not local time (tests). */
  utc?: boolean
}

export interface KeptCommit {
  commit: CommitRef
  /** Why: the policy's rules (`daily`, `last`, …), `head`, `merge base`. */
  reasons: string[]
}

export interface SpaceForget {
  space: string
  /** The scope whose policy applied (absent: the default, or the command line's). */
  scope?: string
  policy: RetentionPolicy
  kept: KeptCommit[]
  forgotten: CommitRef[]
}

/** Apply the retention policies to every space of the vault. */
export async function forget(s: Session, o: ForgetOptions = {}): Promise<SpaceForget[]> {
  const map = await loadSelectionMap(s.vault, s.db)
  const out: SpaceForget[] = []
  for (const space of await allSpaces(s.vault, s.db)) {
    const { policy, scope } = o.policy ? { policy: o.policy, scope: undefined } : policyOf(map, space)
    const store = s.vault.store(space, s.db)
    await store.open()
    const decided = await decide(s, store, policy, o)
    out.push({ space, scope: o.policy ? undefined : scope, policy, ...decided })
    if (o.dryRun || decided.forgotten.length === 0) continue
    const record: ForgetRecord = {
      format: 1,
      by: s.vault.deviceTag(s.device.id),
      byName: s.device.name,
      time: new Date().toISOString(),
      commits: Object.fromEntries(decided.forgotten.map((c) => [c.id, c.commit])),
    }
    if (space === APPS_REGISTRY) record.apps = await appsListed(store, decided.forgotten)
    await s.vault.assertLatestEpoch()
    await store.putForgetRecord(record)
  }
  return out
}

/** What the policy keeps of one space's retained commits, and what it lets go. */
async function decide(
  s: Session,
  store: SpaceStore,
  policy: RetentionPolicy,
  o: ForgetOptions,
): Promise<{ kept: KeptCommit[]; forgotten: CommitRef[] }> {
  const graph = new CommitGraph(store, s.db)
  const heads = await chainHeadIds(s.vault, store, s.db)
  const commits = await allCommits(graph, heads)
  const reasons = new Map<string, string[]>(commits.map((c) => [c.id, []]))
  const byDevice = new Map<string, CommitRef[]>()
  for (const c of commits) {
    let list = byDevice.get(c.commit.device)
    if (!list) byDevice.set(c.commit.device, (list = []))
    list.push(c)
  }
  for (const list of byDevice.values()) {
    const decision = applyPolicy(
      list.map((c) => ({ id: c.id, time: c.commit.time, ref: c })),
      policy,
      { utc: o.utc },
    )
    for (const k of decision.keep) reasons.get(k.item.id)!.push(...k.reasons)
  }
  for (const h of heads) reasons.get(h)?.push('head')
  for (const b of await mergeBasesOf(graph, heads)) reasons.get(b)?.push('merge base')
  const kept: KeptCommit[] = []
  const forgotten: CommitRef[] = []
  for (const c of commits) {
    const why = reasons.get(c.id)!
    if (why.length) kept.push({ commit: c, reasons: [...new Set(why)] })
    else forgotten.push(c)
  }
  return { kept, forgotten }
}

/**
 * The best common ancestors of every two of `heads`, and (after a criss-cross, where there are
 * several) those of every two of them, as the merge's virtual base reads them (merge.ts).
 */
async function mergeBasesOf(graph: CommitGraph, heads: readonly string[]): Promise<Set<string>> {
  const out = new Set<string>()
  const todo = [[...new Set(heads)]]
  while (todo.length) {
    const ids = todo.pop()!
    for (let i = 0; i < ids.length; i++)
      for (let j = i + 1; j < ids.length; j++) {
        const bases = (await graph.mergeBases([ids[i]!], ids[j]!)).map((b) => b.id).filter((b) => !out.has(b))
        for (const b of bases) out.add(b)
        if (bases.length > 1) todo.push(bases)
      }
  }
  return out
}

/** The applications the trees of `commits` of the list of applications name (`ForgetRecord.apps`). */
async function appsListed(store: SpaceStore, commits: readonly CommitRef[]): Promise<string[]> {
  const apps = new Set<string>()
  for (const c of commits) for (const e of (await store.readTree(c.commit.tree)).entries) if (e.type === 'dir') apps.add(e.name)
  return [...apps].sort()
}
