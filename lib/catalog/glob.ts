/**
 * The name patterns of excludes and secrets (docs/CATALOG.md, "Patterns"): `*` any run of
 * characters but `/`, `?` one such character, `**` any run of whole folders, `[abc]` / `[a-z]` /
 * `[!abc]` one character of a set. A pattern matches the end of a HOME-relative path at a
 * folder boundary, and everything inside what it matches: `*.lock` leaves out every file ending
 * in .lock, `Code/Cache` the folder Cache inside any folder Code, with its content.
 *
 * Small on purpose, and strict: picomatch and minimatch read a malformed pattern (`[abc`) as
 * literal text, which would silently collect what the user meant to leave out; here it is an
 * error that names the pattern.
 */

export class GlobError extends Error {}

/**
 * The regular expression of `glob`, or a GlobError saying what is wrong with it. `anchored`: the
 * pattern is a whole HOME-relative path (a path with patterns in it), not the end of one.
 */
export function globToRegExp(glob: string, anchored = false): RegExp {
  if (glob === '') throw new GlobError('an empty pattern matches nothing')
  if (glob.startsWith('/') || glob.endsWith('/'))
    throw new GlobError(`"${glob}" starts or ends with "/": write a name pattern such as "Cache" or "*.log"`)
  if (glob.includes('//')) throw new GlobError(`"${glob}" has an empty folder name ("//")`)
  let body = ''
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!
    if (c === '*' && glob[i + 1] === '*') {
      const whole = (i === 0 || glob[i - 1] === '/') && (i + 2 === glob.length || glob[i + 2] === '/')
      if (!whole) throw new GlobError(`"${glob}": "**" must be a whole folder name ("a/**/b")`)
      // `**/` : zero or more folders; a trailing `**`: anything below.
      if (i + 2 === glob.length) body += '.*'
      else {
        body += '(?:[^/]+/)*'
        i++
      }
      i++
    } else if (c === '*') body += '[^/]*'
    else if (c === '?') body += '[^/]'
    else if (c === '[') {
      const end = glob.indexOf(']', i + 2)
      if (end < 0) throw new GlobError(`"${glob}": "[" at character ${i + 1} is never closed by "]"`)
      let set = glob.slice(i + 1, end)
      const negate = set.startsWith('!')
      if (negate) set = set.slice(1)
      if (set === '' || set.includes('/')) throw new GlobError(`"${glob}": the set "[${glob.slice(i + 1, end)}]" is empty or holds "/"`)
      body += `[${negate ? '^/' : ''}${set.replace(/[\\\]^]/g, '\\$&')}]`
      i = end
    } else if (c === ']') throw new GlobError(`"${glob}": "]" at character ${i + 1} closes no "["`)
    else body += c.replace(/[.+^${}()|\\]/g, '\\$&')
  }
  // What lies inside a matching folder matches too: leaving a folder out leaves out its content.
  return new RegExp(`${anchored ? '^' : '(?:^|/)'}${body}(?:/.*)?$`)
}

/** A test over HOME-relative paths, true when any of `globs` matches. */
export function globsMatcher(globs: readonly string[]): (rel: string) => boolean {
  const res = globs.map((g) => globToRegExp(g))
  return (rel) => res.some((r) => r.test(rel))
}
