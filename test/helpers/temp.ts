/** Temporary folders for tests: unique (mkdtemp), so test runs never share one, and removed at teardown. */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'

/** A fresh temp dir removed at teardown. */
export function tempDir(t: Test, name = 'cloudy'): string {
  const dir = mkdtempSync(join(tmpdir(), `${name}-`))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}
