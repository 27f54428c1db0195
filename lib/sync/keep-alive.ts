/**
 * A writer's side of the prune protocol (docs/FORMAT.md, "Retention and prune"): before a run
 * makes a state visible (moves its head, records a base), every blob that state refers to that
 * sits only in packs a prune condemned is copied to a new pack. The prune deletes a condemned
 * pack only once its mark has been seen for the grace period, and looks at every head and base
 * again first; a writer that looked at the marks less than the grace period before its state
 * became visible is therefore either seen by that look, or saw the mark itself.
 */
import { IntegrityError, PrunedError } from '../errors.js'
import type { BlobType } from '../vault/aead.js'
import type { SpaceStore } from '../store/space-store.js'
import { referencedBlobs } from './referenced.js'

/**
 * A writer looks at the marks again after making its state visible when more than this passed
 * since it last looked: half the shortest grace period `prune` accepts.
 */
export const RECHECK_MS = 1000

/**
 * Copy out of condemned packs what the trees `roots` refer to; returns how many blobs were
 * copied. Costs one listing when no prune is under way and the store read the index less than
 * `RECHECK_MS` ago. Throws `PrunedError` when a blob is already gone (the run must start over:
 * its store has read the index again, and what is gone left it and the file cache).
 */
export async function keepAlive(store: SpaceStore, roots: readonly (string | undefined)[]): Promise<number> {
  const { finished } = await store.refreshMarks()
  // A prune may have finished since the store read the index: a mark it saw is gone, or one
  // could have come and gone unseen (that takes at least the grace period, twice `RECHECK_MS`).
  // Then the index is read again, and what left it is looked for.
  let vanished = 0
  if (finished > 0 || performance.now() - store.openedAt > RECHECK_MS) vanished = await store.open()
  if (store.condemned.size === 0 && vanished === 0) return 0
  const gone = (hex: string, cause?: unknown) =>
    Object.assign(new PrunedError(`blob ${hex} of space ${store.keys.name}`), cause ? { cause } : {})
  let used: Set<string>
  try {
    used = await referencedBlobs(store, roots)
  } catch (e) {
    // A tree's pack was deleted under this run: the store read the index again, and it is gone.
    if (e instanceof IntegrityError && /^blob [0-9a-f]{64}$/.test(e.object)) throw gone(e.object.slice(5), e)
    throw e
  }
  let copied = 0
  for (const hex of used) {
    const id = Buffer.from(hex, 'hex')
    const loc = store.locate(id)
    if (!loc) throw gone(hex)
    if (!store.condemned.has(loc.pack)) continue
    let sealed: Uint8Array
    try {
      sealed = (await store.fetchSealed(id)).sealed
    } catch (e) {
      throw gone(hex, e)
    }
    await store.copySealed(loc.type as BlobType, id, sealed, loc.rawLength)
    copied++
  }
  if (copied) await store.flush()
  return copied
}

/**
 * Make a state visible (`makeVisible`: a head moved, a base recorded and published) with every
 * blob the trees `roots` refer to kept alive: looked at right before, and again after when
 * making it visible took longer than `RECHECK_MS` (a prune may have marked meanwhile).
 */
export async function keptWhileVisible<T>(
  store: SpaceStore,
  roots: readonly (string | undefined)[],
  makeVisible: () => Promise<T>,
): Promise<T> {
  const checked = performance.now()
  await keepAlive(store, roots)
  const out = await makeVisible()
  if (performance.now() - checked > RECHECK_MS) await keepAlive(store, roots)
  return out
}
