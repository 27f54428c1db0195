/**
 * Two computers of one chain against one local-folder vault: join, preview, partial and full
 * down-sync, edits and deletions both ways, concurrent up-syncs, conflicts and the chain
 * listing (the scenario is in test/helpers/two-computers.ts; other providers run it too).
 */
import t from 'tap'
import { tempDir } from '../helpers/cli.js'
import { twoComputers } from '../helpers/two-computers.js'

t.test('join, preview, partial and full down-sync, then edits and deletions propagate', (t) =>
  twoComputers(t, { url: tempDir(t, 'vault'), setup: async () => {} }),
)
