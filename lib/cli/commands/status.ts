/**
 * `cloudy status`: per space, the last up-sync, local changes not yet sent, incoming changes,
 * conflicts (lib/sync/status.ts); where a service runs, also what it is doing.
 */
import { changeWord, formatTime } from '../../text/format.js'
import type { ServiceStatus } from '../../daemon/service.js'
import { EXIT } from '../../errors.js'
import { spacesStatus, type SpaceStatus } from '../../sync/status.js'
import { table } from '../../text/table.js'
import { openSession } from '../context.js'
import type { CliIo } from '../io.js'
import { serviceFor } from '../service-client.js'

export interface StatusArgs {
  /** List the files behind the counts. */
  verbose?: boolean
  passwordFile?: string
  json?: boolean
}

/** What the service says of itself, for people. */
function serviceLines(st: ServiceStatus): string {
  const out = [`service: running (process ${st.pid}), ${st.locked ? 'locked: "cloudy unlock" unlocks it' : 'unlocked'}`]
  out.push(`service: takes the chain's changes ${st.down === 'manual' ? 'by hand (down = "manual")' : 'in real time'}`)
  if (st.lastFollow)
    out.push(
      `service: last look at the chain ${formatTime(st.lastFollow.at)}: ` +
        (st.lastFollow.error ? `failed: ${st.lastFollow.error}` : `${st.lastFollow.applied} applied, ${st.lastFollow.conflicts} conflicts`),
    )
  if (st.incoming)
    out.push(
      `service: ${st.incoming.items} incoming items not applied${st.incoming.held ? `, held: ${st.incoming.held} ("cloudy sync down" applies them)` : ''}`,
    )
  let text = out.map((l) => l + '\n').join('')
  if (st.schedules?.length) {
    const time = (iso: string | undefined) => (iso ? formatTime(iso) : '')
    const rows = st.schedules.map((c) => [
      c.category,
      c.when,
      c.watching !== undefined ? `on change (${c.watching} watched)` : c.next ? time(c.next) : '',
      c.last ? `${time(c.last.at)} (${c.last.why}): ${c.last.result}` : '',
    ])
    text += table(['CATEGORY', 'SCHEDULE', 'NEXT UP-SYNC', 'LAST UP-SYNC BY THE SERVICE'], rows)
  }
  return text
}

/** `status -v`: each space's local changes not yet sent and what would come in, one per line. */
function fileLines(spaces: readonly SpaceStatus[]): string {
  let out = ''
  for (const sp of spaces) {
    const local = (['added', 'changed', 'deleted'] as const).flatMap((k) => sp.files.pending[k].map((p) => `  ${changeWord(k)}  ~/${p}\n`))
    if (local.length) out += `${sp.space}: local changes not yet sent:\n${local.join('')}`
    if (sp.files.incoming.length)
      out +=
        `${sp.space}: incoming:\n` +
        sp.files.incoming.map((it) => `  ${it.op.padEnd(8)} ${it.item}${it.device ? `  (from ${it.device})` : ''}\n`).join('')
  }
  return out
}

export async function status(io: CliIo, args: StatusArgs): Promise<number> {
  const service = await serviceFor(io.env, { unlocked: false })
  let report: Awaited<ReturnType<typeof spacesStatus>>
  if (service && !service.status.locked) report = await service.call({ op: 'spaces-status' })
  else {
    const s = await openSession(io, args)
    try {
      report = await spacesStatus(s)
    } finally {
      await s.close()
    }
  }
  if (args.json) io.stdout.write(JSON.stringify({ ...report, ...(service ? { service: service.status } : {}) }) + '\n')
  else {
    if (service) io.stdout.write(serviceLines(service.status))
    const rows = report.spaces.map((sp) => [
      sp.space,
      sp.lastUpSync ? formatTime(sp.lastUpSync) : 'never',
      `${sp.pending.added} new, ${sp.pending.changed} changed, ${sp.pending.deleted} deleted`,
      `${sp.incoming.add} add, ${sp.incoming.update} update, ${sp.incoming.delete} delete`,
      String(sp.conflicts.length),
    ])
    io.stdout.write(table(['SPACE', 'LAST UP-SYNC', 'LOCAL CHANGES', 'INCOMING', 'CONFLICTS'], rows))
    if (args.verbose) io.stdout.write(fileLines(report.spaces))
    for (const c of report.spaces.flatMap((sp) => sp.conflicts)) io.stdout.write(`conflict: ${c}\n`)
    const time = (iso?: string) => (iso ? formatTime(iso) : '-')
    const devices = report.devices.map((d) => [
      (d.self ? '* ' : '  ') + d.name,
      d.tag,
      time(d.lastUpSync),
      time(d.lastSeen),
      d.removed ? 'removed' : 'active',
    ])
    io.stdout.write(table(['DEVICE', 'TAG', 'LAST UP-SYNC', 'LAST SEEN', 'STATE'], devices))
  }
  return EXIT.OK
}
