/**
 * Acceptance: `check --read-data` passes on a good vault and exits 7 naming the damaged object
 * when one byte of a pack is flipped, a pack is truncated, or two blobs are swapped.
 */
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { cp, readFile, stat, truncate, writeFile } from 'node:fs/promises'
import { join, relative } from 'node:path'
import { local } from '../../providers/local.js'
import { Vault } from '../../lib/vault/vault.js'
import { open, BlobType } from '../../lib/vault/aead.js'
import { decodeHeader } from '../../lib/store/pack.js'
import { cloudy, computer, initVault, tempDir, type Computer } from '../helpers/cli.js'
import { listFiles } from '../helpers/tree.js'

t.test('check finds damage and names it', async (t) => {
  const a = computer(t)
  const good = tempDir(t, 'vault')
  // Two files of one size: their sealed blobs are the same length, so swapping them keeps
  // every offset valid and only the binding of blob to id can catch it.
  await writeFile(join(a.home, 'one'), randomBytes(3000))
  await writeFile(join(a.home, 'two'), randomBytes(3000))
  await writeFile(join(a.home, 'three'), 'three\n'.repeat(100))
  await initVault(t, a, good, ['~/one', '~/two', '~/three'])
  t.equal((await cloudy(a, ['sync', 'up'])).code, 0)
  const ok = await cloudy(a, ['check', '--read-data'])
  t.equal(ok.code, 0, ok.stdout + ok.stderr)
  t.match(ok.stdout, /No problems found/)

  const damaged = async (name: string, harm: (pack: string, c: Computer) => Promise<void>, args = ['check', '--read-data']) => {
    const copy = tempDir(t, `vault-${name}`)
    await cp(good, copy, { recursive: true })
    const c = computer(t)
    const cfg = await readFile(join(a.cloudyHome, 'config.toml'), 'utf8')
    await writeFile(join(c.cloudyHome, 'config.toml'), cfg.replace(good, copy))
    const [pack] = await listFiles(copy, '/packs/')
    await harm(pack!, c)
    const r = await cloudy(c, args)
    t.equal(r.code, 7, `${name}: exit 7`)
    t.match(r.stdout, relative(join(copy, 'Cloudy'), pack!), `${name}: names the damaged pack`)
    return r
  }

  await damaged('flipped', async (pack) => {
    const b = await readFile(pack)
    b[20]! ^= 0x01
    await writeFile(pack, b)
  })
  await damaged('truncated', async (pack) => {
    await truncate(pack, (await stat(pack)).size - 100)
  })
  await damaged('swapped', async (pack) => {
    const vault = await Vault.unlock(local({ root: join(pack.slice(0, pack.indexOf('/Cloudy/')), 'Cloudy') }), 'correct horse')
    const keys = vault.space('settings')
    const bytes = await readFile(pack)
    const hlen = bytes.readUInt32LE(bytes.length - 4)
    const id = Buffer.from(pack.slice(pack.lastIndexOf('/') + 1), 'hex')
    const header = decodeHeader(open(keys.blobKey, BlobType.packHeader, id, bytes.subarray(bytes.length - 4 - hlen, bytes.length - 4))!)!
    const [x, y] = header.filter((e) => e.type === BlobType.data && e.rawLength === 3000)
    t.ok(x && y && x.length === y.length, 'two same-length data blobs to swap')
    const bx = Buffer.from(bytes.subarray(x!.offset, x!.offset + x!.length))
    bytes.copy(bytes, x!.offset, y!.offset, y!.offset + y!.length)
    bx.copy(bytes, y!.offset)
    await writeFile(pack, bytes)
    vault.close()
  })

  // Without --read-data the structure check still catches a truncated pack.
  const r = await damaged(
    'truncated-quick',
    async (pack) => {
      await truncate(pack, 10)
    },
    ['check'],
  )
  t.match(r.stdout, /DAMAGED/)
})
