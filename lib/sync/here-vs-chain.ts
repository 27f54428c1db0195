/**
 * What differs between this computer's files and the chain's current state (`cloudy diff`):
 * files only here, only in the chain, or different in both, with a unified diff where both
 * sides are text. The chain's state is what a down-sync would merge (the heads merged as
 * every computer merges them), so a change made here and one made elsewhere both show.
 */
import { lstat, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createTwoFilesPatch } from 'diff'
import { fsPath } from '../fs/raw-name.js'
import type { Session } from '../session.js'
import type { SpaceSource } from '../sources/sources.js'
import type { TreeEntry } from '../store/objects.js'
import type { SpaceStore } from '../store/space-store.js'
import { pendingChanges, treeFiles } from './pending.js'
import { planSpace } from './plan-space.js'
import { sourceOf } from './restore.js'

/** Larger files are compared by size and time only: a diff of them is not for reading. */
const TEXT_LIMIT = 1 << 20

export interface Side {
  size: number
  mtimeMs: number
}

export interface FileDifference {
  /** As the plan names it: `settings/.gitconfig`. */
  item: string
  /** Only here, only in the chain, or in both and different. */
  where: 'here' | 'chain' | 'both'
  here?: Side
  chain?: Side & { kind: TreeEntry['type'] }
  /** A unified diff (chain, then here), where both sides are text. */
  patch?: string
}

/** The differences under `arg` (a local path or a plan name), or in every space. */
export async function hereVsChain(s: Session, sources: readonly SpaceSource[], arg?: string): Promise<FileDifference[]> {
  const named = arg ? sourceOf(sources, arg, s.paths.home) : undefined
  const out: FileDifference[] = []
  for (const source of named ? [named.source] : sources) {
    const under = named?.path ?? ''
    const plan = await planSpace(s, source)
    const chainTree = plan.target ?? plan.base
    const inside = (p: string) => under === '' || p === under || p.startsWith(under + '/')
    const chain = new Map([...(await treeFiles((id) => plan.store.readTree(id), chainTree))].filter(([p]) => inside(p)))
    // The includes narrowed to `under`: those inside it, and `under` itself where an include holds it.
    const include = [
      ...new Set(source.include.filter((i) => inside(i) || i === '' || under.startsWith(i + '/')).map((i) => (inside(i) ? i : under))),
    ]
    const found = await pendingChanges(source.root, include, source.excluded, s.db.files(source.space), chain, plan.store.keys)
    const item = (p: string) => `${source.label}/${p}`
    const local = async (p: string): Promise<Side | undefined> => {
      const st = await lstat(fsPath(join(source.root, p))).catch(() => undefined)
      return st && { size: st.size, mtimeMs: Math.trunc(st.mtimeMs) }
    }
    const chainSide = (e: TreeEntry) => ({ size: e.size ?? 0, mtimeMs: Number(BigInt(e.mtimeNs) / 1_000_000n), kind: e.type })
    for (const p of found.added) out.push({ item: item(p), where: 'here', here: await local(p) })
    for (const p of found.deleted) out.push({ item: item(p), where: 'chain', chain: chainSide(chain.get(p)!) })
    for (const p of found.changed) {
      const e = chain.get(p)!
      const here = await local(p)
      const d: FileDifference = { item: item(p), where: 'both', here, chain: chainSide(e) }
      const patch = e.type === 'file' && here ? await textPatch(plan.store, e, join(source.root, p), `~/${p}`) : undefined
      if (patch) d.patch = patch
      out.push(d)
    }
  }
  return out.sort((a, b) => (a.item < b.item ? -1 : a.item > b.item ? 1 : 0))
}

/** Text that a person can read: no NUL byte, valid UTF-8. */
function asText(bytes: Buffer): string | undefined {
  if (bytes.includes(0)) return undefined
  const text = bytes.toString('utf8')
  return Buffer.byteLength(text) === bytes.length && !text.includes('\uFFFD') ? text : undefined
}

async function textPatch(store: SpaceStore, e: TreeEntry, abs: string, name: string): Promise<string | undefined> {
  if ((e.size ?? 0) > TEXT_LIMIT) return undefined
  const here = await readFile(fsPath(abs)).catch(() => undefined)
  if (!here || here.length > TEXT_LIMIT) return undefined
  const [a, b] = [asText(await store.readFileBytes(e)), asText(here)]
  if (a === undefined || b === undefined) return undefined
  return createTwoFilesPatch(`chain/${name}`, `here/${name}`, a, b, undefined, undefined, { context: 3 })
}
