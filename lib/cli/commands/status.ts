/** `cloudy status`: per space, the last up-sync, local changes not yet sent, incoming changes, conflicts. */
import { providerFolder } from '../../../providers/index.js'
import { EXIT } from '../../errors.js'
import { planDown } from '../../sync/down.js'
import { pendingChanges, treeFiles } from '../../sync/pending.js'
import { treeMetaKey } from '../../sync/up.js'
import { openSession } from '../context.js'
import type { CliIo } from '../io.js'
import { settingsSource } from '../spaces.js'
import { table } from '../table.js'

export interface StatusArgs {
  passwordFile?: string
  json?: boolean
}

export async function status(io: CliIo, args: StatusArgs): Promise<number> {
  const s = await openSession(io, args)
  try {
    const source = settingsSource(s.config, s.paths, providerFolder(s.config.vault.provider!, s.config.vault.root))
    const plan = await planDown({
      vault: s.vault,
      db: s.db,
      space: source.space,
      device: s.device,
      allowUsernameMismatch: s.config.sync.allow_username_mismatch,
      configFile: s.paths.configFile,
    })
    const own = (await plan.store.readHeads()).get(s.vault.deviceTag(s.device.id))
    const synced = await treeFiles((id) => plan.store.readTree(id), s.db.getMeta(treeMetaKey(source.space)))
    const pending = pendingChanges(s.paths.home, source.include, source.excluded, s.db.files(source.space), synced)
    const count = (op: string) => plan.items.filter((it) => it.op === op).length
    const space = {
      space: source.space,
      lastUpSync: own?.time,
      pending: { added: pending.added.length, changed: pending.changed.length, deleted: pending.deleted.length },
      incoming: { add: count('add'), update: count('update'), delete: count('delete') },
      conflicts: plan.items.filter((it) => it.op === 'conflict').map((it) => it.item),
    }
    if (args.json) io.stdout.write(JSON.stringify({ device: s.device.name, spaces: [space] }) + '\n')
    else {
      const p = space.pending
      const i = space.incoming
      io.stdout.write(
        table(
          ['SPACE', 'LAST UP-SYNC', 'LOCAL CHANGES', 'INCOMING', 'CONFLICTS'],
          [
            [
              space.space,
              space.lastUpSync ? space.lastUpSync.slice(0, 19).replace('T', ' ') : 'never',
              `${p.added} new, ${p.changed} changed, ${p.deleted} deleted`,
              `${i.add} add, ${i.update} update, ${i.delete} delete`,
              String(space.conflicts.length),
            ],
          ],
        ),
      )
      for (const c of space.conflicts) io.stdout.write(`conflict: ${c}\n`)
    }
    return EXIT.OK
  } finally {
    await s.close()
  }
}
