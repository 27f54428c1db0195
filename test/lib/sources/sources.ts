/**
 * One path, one space, the same on every computer: what the settings space and an
 * application's space each take of a path the application claims, for a path the chain added,
 * one a computer adds itself, and one it adds while keeping the application off itself.
 */
import t from 'tap'
import { defaultConfig } from '../../../lib/config.js'
import { loadCatalog } from '../../../lib/catalog/catalog.js'
import { cloudyPaths } from '../../../lib/paths.js'
import { readSelection, setSelection } from '../../../lib/selection/selection.js'
import { spaceSources, type SpaceSource } from '../../../lib/sources/sources.js'

const home = '/home/u'
const catalog = loadCatalog()

/** The sources of a computer whose `[here]` is `here`, in a chain that selected kitty (and `added`). */
function sources(here: { include?: string[]; skip?: string[] }, added: string[] = []): Map<string, SpaceSource> {
  const config = defaultConfig()
  config.here = { include: here.include ?? [], skip: here.skip ?? [] }
  const changes: Record<string, boolean> = { 'app:kitty': true }
  for (const p of added) changes[`include:${p}`] = true
  const selection = readSelection(setSelection({}, changes, 'aa'))
  const env = { HOME: home, CLOUDY_HOME: '/state/u' }
  const list = spaceSources({ config, paths: cloudyPaths(env), env, selection, catalog })
  return new Map(list.map((s) => [s.label, s]))
}

/** Which of `spaces` takes `rel` on that computer: collects it or applies it. */
function owners(spaces: Map<string, SpaceSource>, rel: string): string[] {
  return [...spaces.values()]
    .filter((s) => !s.excluded(rel) && s.include.some((i) => rel === i || rel.startsWith(i + '/') || i.startsWith(rel + '/') || i === ''))
    .map((s) => s.label)
}

const conf = '.config/kitty/kitty.conf'

t.test('a path an application claims is its space’s, on every computer that collects the application', async (t) => {
  t.same(owners(sources({}), conf), ['apps/kitty'])
  // The settings space of another computer (which adds it itself) never writes it here.
  t.ok(sources({}).get('settings')!.excluded(conf), 'received in settings, not applied here')
})

t.test('a path this computer adds itself goes to the application collected here, not to settings', async (t) => {
  for (const include of [['~/.config/kitty'], ['~/.config'], ['~/.config/kitty/kitty.conf']]) {
    const s = sources({ include })
    t.same(owners(s, conf), ['apps/kitty'], `[here] include ${include[0]}`)
  }
  t.same(owners(sources({ include: ['~/.config'] }), '.config/other/x'), ['settings'], 'the rest of the folder is settings’')
})

t.test('a computer that keeps the application off itself collects its own include into settings', async (t) => {
  const s = sources({ include: ['~/.config/kitty'], skip: ['kitty'] })
  t.same(owners(s, conf), ['settings'])
  // Without the include, that computer takes the path in no space.
  t.same(owners(sources({ skip: ['kitty'] }), conf), [])
})

t.test('a path the chain added is settings’ everywhere, even where an application claims it', async (t) => {
  t.same(owners(sources({}, ['~/.config/kitty']), conf), ['settings'])
  t.same(owners(sources({ skip: ['kitty'] }, ['~/.config/kitty']), conf), ['settings'])
})

t.test('the folder the service mounts the vault on is never collected, even inside an included folder', async (t) => {
  const config = defaultConfig()
  config.here = { include: ['~/docs'], skip: [] }
  config.mount = { dir: '~/docs/Cloudy' }
  const env = { HOME: home, CLOUDY_HOME: '/state/u' }
  const selection = readSelection(setSelection({}, {}, 'aa'))
  const settings = spaceSources({ config, paths: cloudyPaths(env), env, selection, catalog }).find((s) => s.label === 'settings')!
  t.ok(settings.excluded('docs/Cloudy'), 'the mount folder is left out')
  t.ok(settings.excluded('docs/Cloudy/apps/x/f'), 'and all under it')
  t.notOk(settings.excluded('docs/notes.txt'), 'the rest of the folder is collected')
})
