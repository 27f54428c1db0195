/**
 * What an up-sync of a space will read and send, found by stat before it starts (pending.ts),
 * for a progress display's totals: files new or changed since the last sync, and their bytes.
 */
import { lstat } from 'node:fs/promises'
import { join } from 'node:path'
import { fsPath } from '../fs/raw-name.js'
import type { Session } from '../session.js'
import type { SpaceSource } from '../sources/sources.js'
import { pendingChanges, treeFiles } from './pending.js'
import { treeMetaKey } from './up.js'

export async function toSend(s: Session, source: SpaceSource): Promise<{ files: number; bytes: number }> {
  const store = s.vault.store(source.space, s.db)
  await store.open()
  const synced = await treeFiles((id) => store.readTree(id), s.db.getMeta(treeMetaKey(source.space)))
  const p = await pendingChanges(source.root, source.include, source.excluded, s.db.files(source.space), synced, store.keys)
  let bytes = 0
  for (const rel of [...p.added, ...p.changed]) {
    const st = await lstat(fsPath(join(source.root, rel))).catch(() => undefined)
    if (st?.isFile()) bytes += st.size
  }
  return { files: p.added.length + p.changed.length, bytes }
}
