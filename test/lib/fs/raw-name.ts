import t from 'tap'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { cacheKey, decodeName, encodeName, fsPath, hasRawBytes, listNames, listNamesSync, shownName } from '../../../lib/fs/raw-name.js'
import { tempDir } from '../../helpers/temp.js'

const bytes = (...parts: (string | number[])[]) =>
  Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : Buffer.from(p))))

t.test('valid UTF-8 decodes as itself; every other byte as a lone surrogate, and back exactly', async (t) => {
  t.equal(decodeName(Buffer.from('plain-é-日本-😀.txt')), 'plain-é-日本-😀.txt')
  t.notOk(hasRawBytes('plain-é-日本-😀.txt'))
  const cases = [
    bytes('bad', [0xff, 0xfe], 'name.txt'),
    bytes([0x80]),
    bytes('é', [0xc3], 'x'), // a lead byte cut short
    bytes([0xc0, 0xaf]), // overlong
    bytes([0xed, 0xa0, 0x80]), // an encoded surrogate
    bytes([0xf4, 0x90, 0x80, 0x80]), // past U+10FFFF
    bytes('ok', [0xe6, 0x97], '😀', [0xa5]),
  ]
  for (const b of cases) {
    const s = decodeName(b)
    t.ok(hasRawBytes(s), `${b.toString('hex')} carries raw bytes`)
    t.same(encodeName(s), b, `${b.toString('hex')} round-trips`)
    t.equal(JSON.parse(JSON.stringify({ s })).s, s, 'a tree keeps it (JSON)')
  }
  t.equal(decodeName(bytes('bad', [0xff, 0xfe], 'name.txt')), 'bad\udcff\udcfename.txt')
  t.equal(shownName('bad\udcff\udcfename.txt'), 'bad\\xff\\xfename.txt')
})

t.test('fsPath gives bytes only where needed; cache keys of such paths stay apart', async (t) => {
  t.equal(fsPath('/home/u', 'a/b.txt'), '/home/u/a/b.txt')
  t.same(fsPath('/home/u', 'a/\udcff.txt'), bytes('/home/u/a/', [0xff], '.txt'))
  t.equal(cacheKey('a/b'), 'a/b')
  t.not(cacheKey('a/\udcff'), cacheKey('a/\udcfe'), 'two raw names, two keys')
  t.not(cacheKey('a/\udcff'), 'a/\ufffd')
})

t.test('listNames carries names that are not UTF-8, and files are reached through fsPath', async (t) => {
  const dir = tempDir(t, 'raw')
  mkdirSync(join(dir, 'plain'))
  writeFileSync(join(dir, 'plain', 'x'), '')
  writeFileSync(bytes(dir, '/', 'bad', [0xff, 0xfe], 'name.txt'), 'raw')
  writeFileSync(join(dir, 'ok-\ufffd.txt'), 'a real U+FFFD')
  const expected = ['bad\udcff\udcfename.txt', 'ok-\ufffd.txt', 'plain']
  t.same((await listNames(dir)).sort(), expected)
  t.same(listNamesSync(dir).sort(), expected)
  t.same(await listNames(join(dir, 'plain')), ['x'])
  t.equal(readFileSync(fsPath(dir, 'bad\udcff\udcfename.txt'), 'utf8'), 'raw')
})
