/**
 * What to watch to know that a source changed (the service's on-change up-syncs): the paths it
 * collects, or, where it collects something Cloudy stages from elsewhere, that elsewhere (the
 * package databases for the inventory, the dconf database for a dconf application).
 */
import { homedir } from 'node:os'
import { basename, join } from 'node:path'
import { isTempName } from '../fs/temp-name.js'
import { dpkgStatusFile, systemRoot } from '../catalog/detect.js'
import { dconfDatabase } from './dconf.js'
import type { SpaceSource } from './sources.js'

export interface Watched {
  /** Absolute paths: a folder is watched with everything under it, a file alone. */
  paths: string[]
  /** Whether a change at an absolute path counts (the source's exclusions). */
  counts: (path: string) => boolean
}

export function watchedPaths(source: SpaceSource, env: NodeJS.ProcessEnv): Watched {
  if (source.category === 'inventory') {
    const root = systemRoot(env)
    const home = env.HOME || homedir()
    return {
      paths: [
        dpkgStatusFile(env),
        join(root, 'var/lib/flatpak/app'),
        join(env.XDG_DATA_HOME || join(home, '.local/share'), 'flatpak/app'),
        join(root, 'var/lib/snapd/snaps'),
      ],
      counts: () => true,
    }
  }
  const paths = source.include.map((rel) => join(source.root, rel))
  if (source.app?.dconf.length) paths.push(dconfDatabase(env.HOME || homedir(), env))
  const prefix = source.root.endsWith('/') ? source.root : source.root + '/'
  return {
    paths,
    // A down-sync's temporary files are its own business: only the renamed file is a change.
    counts: (path) => !isTempName(basename(path)) && (!path.startsWith(prefix) || !source.excluded(path.slice(prefix.length))),
  }
}
