/** The down-sync plan of one space of this computer, with the settings of its config. */
import { planDown, type DownPlan } from './down.js'
import type { Session } from '../session.js'
import type { SpaceSource } from '../sources/sources.js'

export function planSpace(s: Session, source: SpaceSource): Promise<DownPlan> {
  return planDown({
    vault: s.vault,
    db: s.db,
    space: source.space,
    label: source.label,
    device: { ...s.device, home: source.root },
    // The user-name rule keeps one user's files out of another's home; the computer's settings
    // and the inventory are no one's home.
    allowUsernameMismatch: s.config.sync.allow_username_mismatch || source.root !== s.paths.home,
    configFile: s.paths.configFile,
    excluded: source.excluded,
    follow: source.follow,
  })
}
