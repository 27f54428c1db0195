/** `cloudy status`: per space, the last up-sync, local changes not yet sent, incoming changes, conflicts. */
import { EXIT } from '../../errors.js'
import { pendingChanges, treeFiles } from '../../sync/pending.js'
import { pendingCopies } from '../../sync/copies.js'
import { pendingReceived } from '../../sync/received.js'
import { treeMetaKey } from '../../sync/up.js'
import { openSession } from '../context.js'
import type { CliIo } from '../io.js'
import { sessionSources } from '../../sync/spaces.js'
import { planSpace } from '../../sync/plan-space.js'
import { table } from '../../text/table.js'

export interface StatusArgs {
  passwordFile?: string
  json?: boolean
}

export async function status(io: CliIo, args: StatusArgs): Promise<number> {
  const s = await openSession(io, args)
  try {
    const sources = await sessionSources(s)
    const spaces = []
    for (const source of sources) {
      const plan = await planSpace(s, source)
      const own = (await plan.store.readHeads()).get(s.vault.deviceTag(s.device.id))
      const synced = await treeFiles((id) => plan.store.readTree(id), s.db.getMeta(treeMetaKey(source.space)))
      const cache = s.db.files(source.space)
      const pending = await pendingChanges(source.root, source.include, source.excluded, cache, synced, plan.store.keys)
      // What this computer received, and the conflict copies it made, are sent too.
      const received = await pendingReceived(
        source.root,
        source.include,
        source.excluded,
        cache,
        synced,
        pendingCopies(s.db, source.space),
        plan.store.keys,
      )
      for (const k of ['added', 'changed', 'deleted'] as const) pending[k].push(...received[k])
      const count = (op: string) => plan.items.filter((it) => it.op === op).length
      spaces.push({
        space: source.label,
        lastUpSync: own?.time,
        pending: { added: pending.added.length, changed: pending.changed.length, deleted: pending.deleted.length },
        incoming: { add: count('add'), update: count('update'), delete: count('delete') },
        conflicts: plan.items.filter((it) => it.op === 'conflict').map((it) => it.item),
      })
    }
    if (args.json) io.stdout.write(JSON.stringify({ device: s.device.name, spaces }) + '\n')
    else {
      const rows = spaces.map((sp) => [
        sp.space,
        sp.lastUpSync ? sp.lastUpSync.slice(0, 19).replace('T', ' ') : 'never',
        `${sp.pending.added} new, ${sp.pending.changed} changed, ${sp.pending.deleted} deleted`,
        `${sp.incoming.add} add, ${sp.incoming.update} update, ${sp.incoming.delete} delete`,
        String(sp.conflicts.length),
      ])
      io.stdout.write(table(['SPACE', 'LAST UP-SYNC', 'LOCAL CHANGES', 'INCOMING', 'CONFLICTS'], rows))
      for (const c of spaces.flatMap((sp) => sp.conflicts)) io.stdout.write(`conflict: ${c}\n`)
    }
    return EXIT.OK
  } finally {
    await s.close()
  }
}
