/** A down-sync plan as the table `sync down --preview` prints (and the mount's .preview/PLAN.txt holds). */
import { formatTime } from './format.js'
import type { ItemSide, PlanItem } from '../sync/plan.js'
import type { Missing } from '../sync/missing.js'
import { formatBytes } from './format.js'
import { table } from './table.js'

const size = (side: ItemSide) =>
  side.kind === 'file' ? formatBytes(side.size) : side.kind === 'dir' ? 'folder' : side.kind === 'symlink' ? 'link' : 'special'
const time = (ms: number) => formatTime(new Date(ms).toISOString())

export function planTable(items: readonly PlanItem[]): string {
  if (items.length === 0) return 'Nothing to do: this computer is up to date.\n'
  const rows = items.map((it) => [
    it.op,
    it.item,
    it.local ? `${size(it.local)} ${time(it.local.mtimeMs)}` : '-',
    it.incoming ? `${size(it.incoming)} ${time(it.incoming.mtimeMs)} ${it.incoming.device}` : '-',
  ])
  const notes = items.filter((it) => it.op === 'conflict').map((it) => `conflict: ${it.item}: ${it.reason}\n`)
  // A followed symlink (an include that is a link) stays; what it points to is written.
  for (const it of items)
    if (it.local?.through !== undefined)
      notes.push(`${it.op === 'delete' ? 'the link goes, what it points to stays' : 'through link'}: ${it.item} -> ${it.local.through}\n`)
  const count = (op: string) => items.filter((it) => it.op === op).length
  const summary = `${items.length} items: ${count('add')} to add, ${count('update')} to update, ${count('delete')} to delete, ${count('conflict')} in conflict\n`
  return table(['ACTION', 'ITEM', 'LOCAL', 'INCOMING'], rows) + notes.join('') + summary
}

/** One line per application missing here, for people. */
export function missingLines(missing: readonly Missing[]): string {
  return missing
    .map((m) => `missing here: ${m.app.source} ${m.app.id} (installed on ${m.on.join(', ')}); "cloudy apps install ${m.app.id}"\n`)
    .join('')
}
