/** Cloudy's version, as its package.json says (`cloudy --version`). */
import { readFileSync } from 'node:fs'

/**
 * package.json is three folders up from both the compiled module (dist/lib/cli/version.js) and
 * the bundle (dist/lib/cli/cloudy.mjs), in a clone and in an `npm install -g` alike.
 */
export function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version?: string }
    return pkg.version ?? 'unknown'
  } catch {
    return 'unknown'
  }
}
