/**
 * A journaled view of one application space (over the memory provider) mounted by this process,
 * for tests of the mount's own behaviour (the binding, the kernel's caches). The process serves
 * the mount, so every access to it must be a child process (`sh` in ./mount.js): a FUSE call
 * answered by the process that waits on it deadlocks.
 */
import { join } from 'node:path'
import type { Test } from 'tap'
import { memory } from '../../providers/memory.js'
import { StateDb } from '../../lib/state/db.js'
import { SpaceStore } from '../../lib/store/space-store.js'
import { Vault } from '../../lib/vault/vault.js'
import { Journal } from '../../lib/mount/journal.js'
import { baseTree } from '../../lib/mount/journal-sync.js'
import { JournaledView } from '../../lib/mount/journaled-view.js'
import { SpaceView } from '../../lib/mount/space-view.js'
import { mountView, type MountHandle } from '../../mount.js'
import { sh, unmountServed } from './mount.js'
import { tempDir } from './temp.js'

let vault: Promise<Vault> | undefined

/**
 * Space `space` mounted at `dir` under a new temp folder `root` (the journal is in it), taken
 * down by `t`'s teardown. `prepare` sees the view before the mount does (to spy on it).
 */
export async function servedMount(
  t: Test,
  space: string,
  prepare: (view: JournaledView) => void = () => {},
): Promise<{ root: string; dir: string; view: JournaledView; handle: MountHandle }> {
  vault ??= Vault.create(memory(), 'pw', { kdf: 'interactive' })
  // Removed after the teardown below, which is registered later: tap runs teardowns last first.
  const root = tempDir(t, 'cloudy-served')
  const db = new StateDb(join(root, 'state.db'))
  const store = new SpaceStore(memory(), (await vault).space(space), db)
  await store.open()
  const view = new JournaledView(SpaceView.of(store, baseTree(db, space)), await Journal.open(join(root, 'journal')))
  prepare(view)
  const dir = join(root, 'm')
  await sh(`mkdir ${dir}`)
  const handle = await mountView(dir, view)
  t.teardown(async () => {
    await unmountServed(handle, dir)
    await view.journal.close()
    await view.close()
    db.close()
  })
  return { root, dir, view, handle }
}
