import t from 'tap'
import { cloudyPaths, expandHome } from '../../lib/paths.js'

t.test('CLOUDY_HOME holds everything; otherwise XDG folders', async (t) => {
  const p = cloudyPaths({ HOME: '/home/u', CLOUDY_HOME: '/c' })
  t.equal(p.configFile, '/c/config.toml')
  t.equal(p.stateDb, '/c/state.db')
  t.equal(p.cacheDir, '/c/cache')
  const x = cloudyPaths({ HOME: '/home/u' })
  t.equal(x.configFile, '/home/u/.config/cloudy/config.toml')
  t.equal(x.stateDb, '/home/u/.local/state/cloudy/state.db')
  t.equal(x.cacheDir, '/home/u/.cache/cloudy')
  const y = cloudyPaths({ HOME: '/home/u', XDG_CONFIG_HOME: '/cfg', XDG_STATE_HOME: '/st', XDG_CACHE_HOME: '/ca' })
  t.equal(y.configFile, '/cfg/cloudy/config.toml')
  t.equal(y.stateDb, '/st/cloudy/state.db')
  t.throws(() => cloudyPaths({ HOME: '/home/u', CLOUDY_HOME: 'rel' }), /CLOUDY_HOME="rel" must be an absolute path/)
  t.throws(() => cloudyPaths({}), /HOME is not set/)
})

t.test('expandHome', async (t) => {
  t.equal(expandHome('~', '/h'), '/h')
  t.equal(expandHome('~/a/b', '/h'), '/h/a/b')
  t.equal(expandHome('/abs', '/h'), '/abs')
  t.throws(() => expandHome('~bob/x', '/h'), /only ~ and ~\/…/)
})
