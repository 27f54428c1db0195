/** `cloudy mount DIR`: the vault as a folder until Ctrl-C (or SIGTERM), then unmounted. */
import { EXIT } from '../../errors.js'
import { SpaceView } from '../../mount/space-view.js'
import { SpaceStore } from '../../store/space-store.js'
import { openSession } from '../context.js'
import type { CliIo } from '../io.js'

export interface MountArgs {
  dir: string
  passwordFile?: string
}

export async function mount(io: CliIo, args: MountArgs): Promise<number> {
  const s = await openSession(io, args)
  try {
    const views = new Map<string, SpaceView>()
    for (const space of ['settings']) {
      const store = new SpaceStore(s.vault.provider, s.vault.space(space), s.db)
      await store.open()
      views.set(space, await SpaceView.open(s.vault, store, s.db))
    }
    const { mountViews } = await import('../../../mount.js')
    const handle = await mountViews(args.dir, views)
    io.stderr.write(`Mounted at ${args.dir}; Ctrl-C unmounts.\n`)
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve)
      process.once('SIGTERM', resolve)
    })
    await handle.unmount()
    return EXIT.OK
  } finally {
    await s.close()
  }
}
