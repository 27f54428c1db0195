/** `cloudy mount DIR`: the vault as a folder until Ctrl-C (or SIGTERM), then unmounted. */
import { EXIT } from '../../errors.js'
import { PreviewView, type SpacePlan } from '../../mount/preview-view.js'
import { SpaceView } from '../../mount/space-view.js'
import type { MountView } from '../../mount/view.js'
import { providerFolder } from '../../../providers/index.js'
import { planSpace } from '../plan-space.js'
import { spaceSources } from '../spaces.js'
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
    const views = new Map<string, MountView>()
    const plans: SpacePlan[] = []
    for (const source of spaceSources(s.config, s.paths, providerFolder(s.config.vault.provider!, s.config.vault.root))) {
      const store = new SpaceStore(s.vault.provider, s.vault.space(source.space), s.db)
      await store.open()
      const view = await SpaceView.open(s.vault, store, s.db)
      views.set(source.space, view)
      plans.push({ items: (await planSpace(s, source)).items, incoming: view, root: source.root })
    }
    views.set('.preview', new PreviewView(plans))
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
