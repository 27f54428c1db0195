/**
 * Where Cloudy keeps its local state. `CLOUDY_HOME` moves all of it into one folder (tests use
 * two of them as two computers); otherwise the XDG base directories of the user.
 */
import { isAbsolute, join } from 'node:path'
import { ConfigError } from './errors.js'

export interface CloudyPaths {
  /** The user's home folder: what is collected from and restored to. */
  home: string
  configDir: string
  /** config.toml */
  configFile: string
  /** credentials.toml (mode 0600, never in the vault) */
  credentialsFile: string
  stateDir: string
  /** The SQLite state database. */
  stateDb: string
  cacheDir: string
  journalDir: string
  /** Where the service's socket lives: private to this user, gone at logout (`$XDG_RUNTIME_DIR/cloudy`). */
  runtimeDir: string
}

function absolute(name: string, value: string): string {
  if (!isAbsolute(value)) throw new ConfigError(`${name}="${value}" must be an absolute path`)
  return value
}

export function cloudyPaths(env: NodeJS.ProcessEnv = process.env): CloudyPaths {
  if (!env.HOME) throw new ConfigError('HOME is not set: Cloudy needs the home folder to know what to sync')
  const home = absolute('HOME', env.HOME)
  let configDir: string, stateDir: string, cacheDir: string
  if (env.CLOUDY_HOME) {
    configDir = stateDir = cacheDir = absolute('CLOUDY_HOME', env.CLOUDY_HOME)
    cacheDir = join(configDir, 'cache')
  } else {
    configDir = join(env.XDG_CONFIG_HOME ? absolute('XDG_CONFIG_HOME', env.XDG_CONFIG_HOME) : join(home, '.config'), 'cloudy')
    stateDir = join(env.XDG_STATE_HOME ? absolute('XDG_STATE_HOME', env.XDG_STATE_HOME) : join(home, '.local', 'state'), 'cloudy')
    cacheDir = join(env.XDG_CACHE_HOME ? absolute('XDG_CACHE_HOME', env.XDG_CACHE_HOME) : join(home, '.cache'), 'cloudy')
  }
  return {
    home,
    configDir,
    configFile: join(configDir, 'config.toml'),
    credentialsFile: join(configDir, 'credentials.toml'),
    stateDir,
    stateDb: join(stateDir, 'state.db'),
    cacheDir,
    journalDir: join(stateDir, 'journal'),
    // Two computers in one test are two CLOUDY_HOMEs: each has its own service.
    runtimeDir: env.CLOUDY_HOME
      ? join(env.CLOUDY_HOME, 'run')
      : env.XDG_RUNTIME_DIR
        ? join(absolute('XDG_RUNTIME_DIR', env.XDG_RUNTIME_DIR), 'cloudy')
        : join(stateDir, 'run'),
  }
}

/** `~` and `~/…` relative to `home`; other paths unchanged. */
export function expandHome(p: string, home: string): string {
  if (p === '~') return home
  if (p.startsWith('~/')) return join(home, p.slice(2))
  if (p.startsWith('~')) throw new ConfigError(`"${p}": only ~ and ~/… are understood (not ~user)`)
  return p
}
