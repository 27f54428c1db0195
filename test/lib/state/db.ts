/**
 * The state database's copy of the index: a blob listed at two places, index files a prune
 * removed (only their packs' blobs leave, with the file cache entries that name them), and a
 * database of the first schema read again from the vault.
 */
import t from 'tap'
import Database from 'better-sqlite3'
import { join } from 'node:path'
import { StateDb } from '../../../lib/state/db.js'
import { tempDir } from '../../helpers/temp.js'

const id = (n: number) => Buffer.alloc(32, n)
const pack = (n: number) => String(n).repeat(64).slice(0, 64)
const at = (n: number, p: number) => ({ id: id(n), type: 1, pack: pack(p), offset: 0, length: 10, rawLength: 8 })
const cached = (...chunks: number[]) => ({ size: 1, mtimeNs: 1n, ctimeNs: 1n, ino: 1, mode: 0o644, content: Buffer.concat(chunks.map(id)) })

t.test('a pruned index file takes only its packs, and the cache entries naming what left', async (t) => {
  const db = new StateDb(join(tempDir(t), 'state.db'))
  t.teardown(() => db.close())
  db.addIndex('s', 'i1', [at(1, 1), at(2, 1)])
  db.addIndex('s', 'i2', [at(1, 2), at(3, 2)])
  t.same(
    db.getBlob('s', id(1)).map((l) => l.pack),
    [pack(1), pack(2)],
    'a blob stored twice has both places',
  )
  t.equal(db.blobs('s', new Set([pack(1)])).get(id(1).toString('hex'))?.pack, pack(2), 'the place outside condemned packs is preferred')
  db.updateFiles('s', [
    ['one', cached(1)],
    ['two', cached(2)],
    ['three', cached(3, 1)],
  ])
  t.equal(db.dropIndexes('s', ['i1']), 2, "i1's pack leaves")
  t.same(db.getBlob('s', id(2)), [], 'a blob only in that pack is gone')
  t.same(
    db.getBlob('s', id(1)).map((l) => l.pack),
    [pack(2)],
    'one stored elsewhere too keeps that place',
  )
  t.same([...db.files('s').keys()].sort(), ['one', 'three'], 'only the cache entry naming a chunk that left is dropped')
  t.same(db.indexNames('s'), ['i2'])
})

t.test('a database of the first schema drops its copy of the index and keeps the rest', async (t) => {
  const file = join(tempDir(t), 'state.db')
  const old = new Database(file)
  old.exec(`CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
    CREATE TABLE blobs (space TEXT NOT NULL, id BLOB NOT NULL, type INTEGER NOT NULL, pack TEXT NOT NULL,
      offset INTEGER NOT NULL, length INTEGER NOT NULL, raw_length INTEGER NOT NULL, PRIMARY KEY (space, id)) WITHOUT ROWID;
    CREATE TABLE index_files (space TEXT NOT NULL, name TEXT NOT NULL, PRIMARY KEY (space, name)) WITHOUT ROWID;
    INSERT INTO meta VALUES ('schema', '1'), ('tree:settings', 'abc');
    INSERT INTO index_files VALUES ('s', 'i1');`)
  old.close()
  const db = new StateDb(file)
  t.teardown(() => db.close())
  t.equal(db.getMeta('schema'), '2')
  t.equal(db.getMeta('tree:settings'), 'abc', 'what it knew of the sync stays')
  t.same(db.indexNames('s'), [], 'the index is read again from the vault')
  db.addIndex('s', 'i1', [at(1, 1), at(1, 2)])
  t.equal(db.getBlob('s', id(1)).length, 2)
})
