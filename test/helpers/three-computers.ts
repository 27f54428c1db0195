/**
 * Three computers of one chain over a local vault, for the tests of what merges keep: A (pc-a)
 * up-syncs ~/cfg; B (pc-b) and C (pc-c) join and down-sync it.
 */
import type { Test } from 'tap'
import { mkdir, readFile, rm, utimes, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { cloudy, computer, initVault, joinedComputer, type Computer } from './cli.js'
import { tempDir } from './temp.js'
import { describeTree } from './tree.js'

/** `cloudy ARGS` on `c`, which must exit with `code`. */
export async function run(t: Test, c: Computer, args: string[], code = 0) {
  const r = await cloudy(c, args)
  t.equal(r.code, code, `${args.join(' ')}: ${r.stdout}${r.stderr}`)
  return r
}

/** Write `text` at `path` with the modification time `iso`. */
export async function writeAt(path: string, text: string, iso: string): Promise<void> {
  await writeFile(path, text)
  await utimes(path, new Date(iso), new Date(iso))
}

/** A (pc-a) with ~/cfg as `files` made it, up-synced; B (pc-b) joined and down-synced. */
export async function setUp(t: Test, files: (home: string) => Promise<void>) {
  const a = computer(t)
  await mkdir(join(a.home, 'cfg'))
  await files(a.home)
  const vault = tempDir(t, 'vault')
  await initVault(t, a, vault, ['~/cfg'], 'pc-a')
  await run(t, a, ['sync', 'up'])
  return { a, b: await joinedComputer(t, vault, ['~/cfg'], 'pc-b'), vault }
}

/** A (pc-a) with an empty ~/cfg up-synced; B (pc-b) and C (pc-c) joined and down-synced. */
export async function threeComputers(t: Test) {
  const { a, b, vault } = await setUp(t, async () => {})
  return { a, b, c: await joinedComputer(t, vault, ['~/cfg'], 'pc-c'), vault }
}

/**
 * C's down-sync writes A's merge copy and stops there (as a killed one does), so C's next up-sync
 * sends the copy as an add of its own; then A's user deletes the copy before A ever up-synced it,
 * and every computer down-syncs (A twice, to see what the others sent after).
 */
export async function sentByCDeletedByA(t: Test, { a, b, c }: Record<'a' | 'b' | 'c', Computer>, copy: string, text: string) {
  await cloudy(c, ['sync', 'down', '--yes', '--only', `settings/cfg/${copy}`])
  t.equal(await readFile(join(c.home, 'cfg', copy), 'utf8'), text)
  await run(t, c, ['sync', 'up'])
  await rm(join(a.home, 'cfg', copy))
  await run(t, a, ['sync', 'up'])
  for (const x of [a, b, c, a]) await cloudy(x, ['sync', 'down', '--yes'])
}

/** Every computer given (named by their letters) holds the same ~/cfg as the first. */
export async function sameCfg(t: Test, computers: Record<string, Computer>): Promise<void> {
  const [first, ...rest] = Object.entries(computers)
  if (!first) return
  const tree = await describeTree(join(first[1].home, 'cfg'))
  for (const [name, c] of rest)
    t.same(await describeTree(join(c.home, 'cfg')), tree, `${name.toUpperCase()} and ${first[0].toUpperCase()} are equal`)
}

/** Every computer down-syncs, then up-syncs, twice round: the chain settles. */
export async function settle(...xs: Computer[]): Promise<void> {
  for (let round = 0; round < 2; round++)
    for (const x of xs) {
      await cloudy(x, ['sync', 'down', '--yes'])
      await cloudy(x, ['sync', 'up'])
    }
}

/** The files under `x`'s ~/cfg whose text is `text`. */
export async function filesHolding(x: Computer, text: string): Promise<string[]> {
  const out: string[] = []
  for (const f of await describeTree(join(x.home, 'cfg')))
    if (f.type === 'file' && (await readFile(join(x.home, 'cfg', f.path), 'utf8')) === text) out.push(f.path)
  return out
}
