/** The catalog's patterns: what each form matches, and malformed ones refused by name. */
import t from 'tap'
import { GlobError, globToRegExp } from '../../../lib/catalog/glob.js'

const matches = (glob: string, path: string, anchored = false) => globToRegExp(glob, anchored).test(path)

t.test('name patterns match the end of a path at a folder boundary', async (t) => {
  t.ok(matches('*.lock', 'a/b/x.lock'))
  t.ok(matches('*.lock', 'x.lock'))
  t.ok(matches('*.lock', 'a/x.lock/y'), 'and what is inside it')
  t.notOk(matches('*.lock', 'a/x.locky'))
  t.ok(matches('Cache', '.config/Code/Cache'))
  t.notOk(matches('Cache', '.config/Code/GPUCache'), 'a whole name, not a suffix of one')
  t.ok(matches('Code/Cache*', '.config/Code/CachedData'))
  t.ok(matches('?.log', 'logs/a.log'))
  t.notOk(matches('?.log', 'logs/ab.log'))
  t.ok(matches('[ab].txt', 'b.txt'))
  t.ok(matches('[a-c].txt', 'c.txt'))
  t.notOk(matches('[!a-c].txt', 'c.txt'))
  t.ok(matches('[!a-c].txt', 'd.txt'))
  t.notOk(matches('a*c', 'ab/c', true), '* stays inside one folder')
  t.ok(matches('Login Data', '.config/chromium/Default/Login Data'), 'spaces are plain characters')
  t.ok(matches('a.b', 'a.b'))
  t.notOk(matches('a.b', 'axb'), 'a dot is a dot')
})

t.test('** stands for any number of whole folders; anchored patterns are whole paths', async (t) => {
  t.ok(matches('.mozilla/**/cache2', '.mozilla/firefox/p/cache2', true))
  t.ok(matches('.mozilla/**/cache2', '.mozilla/cache2', true))
  t.ok(matches('.cache/**', '.cache/a/b', true))
  t.notOk(matches('.mozilla/firefox/*/logins.json', 'x/.mozilla/firefox/p/logins.json', true), 'anchored at HOME')
  t.ok(matches('.mozilla/firefox/*/logins.json', '.mozilla/firefox/p/logins.json', true))
  t.notOk(matches('.mozilla/firefox/*/logins.json', '.mozilla/firefox/p/q/logins.json', true))
})

t.test('malformed patterns are errors, never literal text', async (t) => {
  for (const [glob, message] of [
    ['', /empty pattern/],
    ['[abc', /never closed/],
    ['abc]', /closes no "\["/],
    ['a**', /whole folder name/],
    ['/abs', /starts or ends with "\/"/],
    ['dir/', /starts or ends with "\/"/],
    ['a//b', /empty folder name/],
    ['[]', /never closed|empty/],
    ['[a/b]', /empty or holds "\/"/],
  ] as const)
    t.throws(() => globToRegExp(glob), { constructor: GlobError, message }, glob)
})
