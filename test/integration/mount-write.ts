/**
 * Writing through the mount: an application's folder driven by ordinary tools (cp -r, mv,
 * rm -r, appends, truncate, sqlite3), the same commands run on a plain folder as the reference;
 * then a second computer reads it back, and each computer's changes reach the other's mount
 * while both stay mounted.
 */
import t from 'tap'
import { mkdir, writeFile } from 'node:fs/promises'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { cloudy, computer, initVault, joinVault, tempDir } from '../helpers/cli.js'
import { eventually, mountPoint, sh, startMount } from '../helpers/mount.js'

/** The small-file set copied in: a few folders, text and binary, one file over a chunk. */
async function makeSet(dir: string): Promise<void> {
  await mkdir(join(dir, 'docs/deep/er'), { recursive: true })
  await mkdir(join(dir, 'img'), { recursive: true })
  for (let i = 0; i < 30; i++) await writeFile(join(dir, 'docs', `note-${i}.txt`), `note ${i}\n`.repeat(i + 1))
  await writeFile(join(dir, 'docs/deep/er/bottom.txt'), 'bottom\n')
  await writeFile(join(dir, 'img/big.bin'), randomBytes(3 * 1024 * 1024 + 17))
  await writeFile(join(dir, 'img/empty'), '')
}

/** Tree listing with modes, sizes and contents' hashes: equal listings mean equal trees. */
const describe = (dir: string) =>
  sh(
    `cd ${dir} && find . -mindepth 1 | LC_ALL=C sort | while read -r p; do if [ -L "$p" ]; then echo "$p -> $(readlink "$p")"; ` +
      `elif [ -d "$p" ]; then echo "$p/ $(stat -c %a "$p")"; else echo "$p $(stat -c '%a %s' "$p") $(sha256sum < "$p" | cut -c1-16)"; fi; done`,
  )

t.test('apps/<id>/: ordinary tools write, a second computer reads it back', async (t) => {
  const vault = tempDir(t, 'vault')
  const a = computer(t)
  await initVault(t, a, vault, [], 'alpha-pc')
  const set = tempDir(t, 'set')
  await makeSet(set)
  const ref = tempDir(t, 'reference')
  const dir = mountPoint(t)
  const mountA = await startMount(t, a, dir)
  await sh(`mkdir ${dir}/apps/notes`)
  t.same((await sh(`ls ${dir}/apps`)).split('\n').filter(Boolean), ['notes'], 'mkdir apps/<id> makes an application space')
  const app = `${dir}/apps/notes`
  // The same commands on the mount and on a plain folder.
  const steps = (d: string) => [
    `cp -r ${set} ${d}/set`,
    `cp -r ${d}/set ${d}/copy`,
    `mv ${d}/copy/docs ${d}/moved-docs`,
    `mv ${d}/set/img/big.bin ${d}/set/img/renamed.bin`,
    `rm -r ${d}/copy`,
    `echo first > ${d}/log.txt && echo second >> ${d}/log.txt && printf third >> ${d}/log.txt`,
    `truncate -s 5 ${d}/moved-docs/note-3.txt && truncate -s 9000 ${d}/moved-docs/note-4.txt`,
    `dd if=/dev/zero of=${d}/set/img/renamed.bin bs=1 count=3 seek=100000 conv=notrunc status=none`,
    `ln -s set/docs/note-1.txt ${d}/link && chmod 600 ${d}/log.txt && mkdir -p ${d}/a/b/c && rmdir ${d}/a/b/c`,
    `sqlite3 ${d}/app.db "PRAGMA journal_mode=DELETE; CREATE TABLE kv(k INTEGER PRIMARY KEY, v TEXT);" >/dev/null`,
    // Random writes across the file: inserts, updates and deletes in transactions, each fsynced.
    `for i in $(seq 1 40); do echo "BEGIN; INSERT INTO kv(v) VALUES (hex(randomblob(300))); UPDATE kv SET v = v || 'x' WHERE k % 7 = $i % 7; DELETE FROM kv WHERE k % 11 = 0; COMMIT;"; done | sqlite3 ${d}/app.db`,
  ]
  for (const step of steps(app)) await sh(step)
  for (const step of steps(ref).slice(0, -2)) await sh(step)
  // SQLite's random bytes differ: the database is compared by what it holds, below.
  await sh(`cp ${app}/app.db ${ref}/app.db`)
  t.equal(await describe(app), await describe(ref), 'the mount holds what the same commands made in a plain folder')
  t.equal(await sh(`sqlite3 ${app}/app.db "PRAGMA integrity_check;"`), 'ok\n')
  const rows = await sh(`sqlite3 ${app}/app.db "SELECT count(*), sum(length(v)) FROM kv;"`)
  t.match(rows, /^\d+\|\d+\n$/)

  // `cloudy sync up` asks the running mount to publish (it owns the journal).
  const up = await cloudy(a, ['sync', 'up'])
  t.equal(up.code, 0, up.stderr)
  t.match(up.stdout, /mount \(process \d+\): (published|no change)/)
  const b = computer(t)
  await joinVault(t, b, vault, [], 'bravo-pc')
  const dirB = mountPoint(t)
  await startMount(t, b, dirB)
  t.equal(await describe(`${dirB}/apps/notes`), await describe(ref), 'the second computer sees the same tree')
  t.equal(await sh(`sqlite3 ${dirB}/apps/notes/app.db "SELECT count(*), sum(length(v)) FROM kv;"`), rows, 'and the same rows')
  t.equal(await sh(`cmp ${dirB}/apps/notes/app.db ${app}/app.db && echo same`), 'same\n')

  // Both mounted: a change on one shows on the other without remounting.
  await sh(`sqlite3 ${dirB}/apps/notes/app.db "INSERT INTO kv(v) VALUES ('from bravo');"`)
  t.equal(
    await eventually(`sqlite3 ${app}/app.db "SELECT v FROM kv WHERE v = 'from bravo';"`, 'from bravo\n'),
    'from bravo\n',
    "bravo's insert reaches alpha's mount",
  )
  await sh(`echo "alpha again" > ${app}/log.txt && mkdir ${dir}/apps/second && echo s > ${dir}/apps/second/s.txt`)
  t.equal(await eventually(`cat ${dirB}/apps/notes/log.txt`, 'alpha again\n'), 'alpha again\n', "alpha's edit reaches bravo's mount")
  t.equal(await eventually(`cat ${dirB}/apps/second/s.txt`, 's\n'), 's\n', 'so does a new application')
  t.notMatch(mountA.stderrText(), /failed|error/i, 'no sync job failed')
})

t.test('the same file changed on both computers at once: both versions are kept', async (t) => {
  const vault = tempDir(t, 'vault')
  const a = computer(t)
  await initVault(t, a, vault, [], 'alpha-pc')
  const b = computer(t)
  await joinVault(t, b, vault, [], 'bravo-pc')
  const dirA = mountPoint(t)
  const dirB = mountPoint(t)
  // Long quiet periods: the two changes are made before either is up-synced.
  await startMount(t, a, dirA, ['--upsync-after', '2'])
  await sh(`mkdir ${dirA}/apps/x && echo base > ${dirA}/apps/x/f.txt`)
  await startMount(t, b, dirB, ['--upsync-after', '2'])
  t.equal(await eventually(`cat ${dirB}/apps/x/f.txt`, 'base\n'), 'base\n')
  await Promise.all([sh(`echo from-alpha > ${dirA}/apps/x/f.txt`), sh(`echo from-bravo > ${dirB}/apps/x/f.txt`)])
  const both = (d: string) => `cat ${d}/apps/x/f.txt ${d}/apps/x/f.conflict-*.txt 2>/dev/null | sort`
  const expected = 'from-alpha\nfrom-bravo\n'
  t.equal(await eventually(both(dirA), expected), expected, 'alpha has both versions')
  t.equal(await eventually(both(dirB), expected), expected, 'bravo has both versions')
  t.equal(await sh(`ls ${dirA}/apps/x`), await sh(`ls ${dirB}/apps/x`), 'under the same names on both')
  t.match(await sh(`ls ${dirA}/apps/x`), /^f\.conflict-(alpha|bravo)-pc-\d{8}-\d{6}\.txt\nf\.txt\n$/)
})

t.test('a file deleted while open (kept by the kernel as .fuse_hidden…) is never published', async (t) => {
  const vault = tempDir(t, 'vault')
  const a = computer(t)
  await initVault(t, a, vault, [], 'alpha-pc')
  const dir = mountPoint(t)
  await startMount(t, a, dir)
  const app = `${dir}/apps/h`
  await sh(`mkdir ${app} && echo kept > ${app}/kept.txt`)
  const b = computer(t)
  await joinVault(t, b, vault, [], 'bravo-pc')
  const dirB = mountPoint(t)
  await startMount(t, b, dirB)
  t.equal(await eventually(`ls -A ${dirB}/apps/h`, 'kept.txt\n'), 'kept.txt\n')
  // Open, write, delete, and stay open across up-syncs of A (0.3 s after a change) and looks
  // of B (every 0.5 s): A shows the hidden name, B never.
  const during = await sh(
    `exec 3>${app}/f; echo hi >&3; rm ${app}/f; echo x > ${app}/other; sleep 2; ls -A ${app}; echo /; ls -A ${dirB}/apps/h; exec 3>&-`,
  )
  const [onA, onB] = during.split('/\n')
  t.match(onA, /\.fuse_hidden/, 'the kernel keeps the open file under a hidden name')
  t.equal(onB, 'kept.txt\nother\n', 'the other computer gets the change made meanwhile, not the hidden file')
  await new Promise((r) => setTimeout(r, 1000))
  t.equal(await sh(`ls -A ${app}`), 'kept.txt\nother\n', 'gone at its last close')
})
