/**
 * Application registration: an application that keeps its data through Cloudy has a folder in
 * the list of applications (the `apps` space), so that every computer knows its space exists.
 * The full mount makes it by `mkdir apps/<id>`; an `--app` mount, which will hold that
 * application's key alone, has it made here first.
 */
import { LockedError, UsageError } from '../errors.js'
import { baseTree } from '../mount/journal-sync.js'
import { JournaledSpaces } from '../mount/journaled-spaces.js'
import { SpaceView } from '../mount/space-view.js'
import type { Session } from '../session.js'
import { APPS_REGISTRY } from './app-spaces.js'

/**
 * For `--app ID`: make sure the application is in the list of applications (adding it needs
 * that list's key, which the app mount will not hold).
 */
export async function registerApp(s: Session, id: string): Promise<void> {
  const spaces = new JournaledSpaces({ vault: s.vault, db: s.db, device: s.device, stateDir: s.paths.stateDir })
  try {
    const registry = await spaces.get(APPS_REGISTRY).catch((e: unknown) => {
      if (e instanceof LockedError) return undefined
      throw e
    })
    if (!registry) {
      // A running mount holds the list: the application must be in it already (as last synced).
      const store = s.vault.store(APPS_REGISTRY, s.db)
      await store.open()
      if ((await SpaceView.of(store, baseTree(s.db, APPS_REGISTRY)).stat(id))?.type === 'dir') return
      throw new UsageError(
        `application ${id} is not in the list of applications yet, and a running Cloudy mount holds that list: ` +
          `make it there first (mkdir MOUNTPOINT/apps/${id}), then mount it again a few seconds later`,
      )
    }
    await spaces.downSync().catch(() => false)
    if ((await registry.view.stat(id))?.type === 'dir') return
    await registry.view.mkdir(id, 0o755)
    await registry.view.sync()
    // Unpublished, it waits in the list's journal for the next up-sync.
    await spaces.upSync().catch(() => [])
  } finally {
    await spaces.close()
  }
}
