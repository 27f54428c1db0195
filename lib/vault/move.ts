/**
 * Moving a vault to another place (docs/FORMAT.md, "Moving a vault"): every object copied and
 * read back, then a sealed pointer left at the old place, then what changed there meanwhile
 * copied again. Computers follow the pointer at their next contact (lib/session.ts). Nothing at
 * the old place is deleted: it stays as it was, plus the pointer, until the user removes it.
 */
import { createHash } from 'node:crypto'
import type { Provider, ObjectInfo } from '../../providers/provider.js'
import { CloudyError, EXIT, IntegrityError } from '../errors.js'
import type { ProgressSink } from '../sync/progress.js'
import { MOVED_KEY, writeMoved } from './moved.js'
import { Vault, VAULT_FILE } from './vault.js'

export interface MoveTarget {
  provider: Provider
  /** How computers reach it: the provider URL and vault folder, as config.toml holds them. */
  url: string
  root: string
}

export interface MoveResult {
  objects: number
  bytes: number
  /** Objects written at the old place during the copy, copied in the second pass. */
  late: number
}

const digest = (b: Uint8Array) => createHash('sha256').update(b).digest('hex')

/** Every object of the vault at `from`, but the pointer (a vault moved before keeps its old one). */
async function listAll(from: Provider): Promise<Map<string, ObjectInfo>> {
  const out = new Map<string, ObjectInfo>()
  for await (const o of from.list('')) if (o.key !== MOVED_KEY) out.set(o.key, o)
  return out
}

/** Copy `keys` and read each back: the bytes at the new place must be the bytes at the old. */
async function copyChecked(from: Provider, to: Provider, keys: readonly string[], progress?: ProgressSink): Promise<number> {
  let bytes = 0
  for (const key of keys) {
    progress?.file?.(key, 0)
    const data = await from.get(key)
    await to.put(key, data)
    const back = await to.get(key)
    if (digest(back) !== digest(data))
      throw new IntegrityError(
        key,
        `reads back different from what was written at ${to.name}: nothing was switched; the vault stays where it was`,
      )
    bytes += data.length
    progress?.add(data.length)
  }
  return bytes
}

export async function moveVault(
  vault: Vault,
  from: Provider,
  target: MoveTarget,
  byName: string,
  progress?: ProgressSink,
): Promise<MoveResult> {
  if (await target.provider.stat(VAULT_FILE))
    throw new CloudyError('EVAULTEXISTS', EXIT.USAGE, `a Cloudy vault is already at ${target.provider.name}: move to an empty place`)
  const first = await listAll(from)
  // cloudy.json last: until it is there, the new place is no vault, so a stopped move leaves
  // nothing a computer could take for one.
  const keys = [...first.keys()].filter((k) => k !== VAULT_FILE).sort()
  progress?.total?.(
    first.size,
    [...first.values()].reduce((n, o) => n + o.size, 0),
  )
  let bytes = await copyChecked(from, target.provider, keys, progress)
  bytes += await copyChecked(from, target.provider, [VAULT_FILE], progress)
  // From now on, every computer that reaches the old place goes on at the new one.
  await writeMoved(vault, { format: 1, provider: target.url, root: target.root, time: new Date().toISOString(), byName })
  // What another computer wrote at the old place while the copy ran (a head, a record, a pack
  // it indexed), and what a computer that had not yet seen the pointer writes: copied again.
  const after = await listAll(from)
  const late = [...after.values()]
    .filter((o) => {
      const was = first.get(o.key)
      return !was || was.size !== o.size || was.mtimeMs !== o.mtimeMs
    })
    .map((o) => o.key)
  bytes += await copyChecked(from, target.provider, late, progress)
  progress?.done()
  return { objects: after.size, bytes, late: late.length }
}

/**
 * What a computer that follows the pointer brings from the old place: objects missing at the
 * new one (what it published there after the move's last pass, before it saw the pointer), and
 * its own heads and records where they differ (only this device writes them, and it has not
 * written at the new place yet, so the old place's are its latest).
 */
export async function catchUp(from: Provider, to: Provider, ownTag: string): Promise<number> {
  const there = new Set<string>()
  for await (const o of to.list('')) there.add(o.key)
  const own = (key: string) => key.endsWith(`/heads/${ownTag}`) || key === `devices/${ownTag}` || key === `selection/${ownTag}`
  const todo: string[] = []
  for (const [key] of await listAll(from)) {
    if (!there.has(key)) todo.push(key)
    else if (own(key) && digest(await from.get(key)) !== digest(await to.get(key))) todo.push(key)
  }
  await copyChecked(from, to, todo)
  return todo.length
}
