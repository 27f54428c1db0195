/**
 * What a vault holds, decrypted: every path of every commit ever published in a space (each
 * head and its ancestors), read with the password the test computers use. For tests that must
 * show something never reached the vault.
 */
import { join } from 'node:path'
import type { Test } from 'tap'
import { local } from '../../providers/local.js'
import { StateDb } from '../../lib/state/db.js'
import { Vault } from '../../lib/vault/vault.js'
import { tempDir } from './temp.js'

/** Every HOME-relative path (files, folders, links) any commit of `space` holds, sorted. */
export async function vaultPaths(t: Test, vaultDir: string, space: string): Promise<string[]> {
  const vault = await Vault.unlock(local({ root: join(vaultDir, 'Cloudy') }), 'correct horse')
  const db = new StateDb(join(tempDir(t, 'reader'), 'state.db'))
  try {
    const store = vault.store(space, db)
    await store.open()
    const paths = new Set<string>()
    const walk = async (tree: string, prefix: string) => {
      for (const e of (await store.readTree(tree)).entries) {
        const rel = prefix ? `${prefix}/${e.name}` : e.name
        paths.add(rel)
        if (e.type === 'dir' && e.subtree) await walk(e.subtree, rel)
      }
    }
    const todo = [...(await store.readHeads()).values()].map((h) => h.commit)
    const seen = new Set<string>()
    while (todo.length) {
      const id = todo.pop()!
      if (seen.has(id)) continue
      seen.add(id)
      const commit = await store.readCommit(id)
      await walk(commit.tree, '')
      todo.push(...commit.parents)
    }
    return [...paths].sort()
  } finally {
    db.close()
    vault.close()
  }
}
