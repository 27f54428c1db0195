import t from 'tap'
import { tempDir } from '../helpers/temp.js'
import { readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { defaultConfig, loadConfig, parseConfig, renderConfig, writeConfig, lineOf } from '../../lib/config.js'
import { ConfigError } from '../../lib/errors.js'

t.test('write then load: same config, mode 0600, comments kept for people', async (t) => {
  const file = join(tempDir(t), 'sub', 'config.toml')
  const c = defaultConfig()
  c.vault.provider = 'local:/srv/v'
  c.device.id = 'ab'.repeat(16)
  c.here.include = ['~/.bashrc', '~/.config/git']
  c.here.skip = ['*.tmp']
  await writeConfig(file, c)
  t.same(await loadConfig(file), c)
  t.equal((await stat(file)).mode & 0o777, 0o600)
  t.match(await readFile(file, 'utf8'), /# Where the encrypted vault lives/)
  t.equal(await loadConfig(join(tempDir(t), 'absent.toml')), undefined, 'no file yet: undefined')
})

t.test('errors name the key and the line', async (t) => {
  const text = ['[vault]', 'root = "Cloudy"', '', '[settings]', 'exclude = []', '', 'include = 5', ''].join('\n')
  const e = t.throws(() => parseConfig(text, '/x/config.toml')) as ConfigError
  t.type(e, ConfigError)
  t.equal(e.line, 7)
  t.equal(e.key, 'settings.include')
  t.match(e.message, '/x/config.toml:7: settings.include must be an array of strings')
  t.equal(e.exitCode, 2)
  t.throws(() => parseConfig('[settings]\ninclud = []\n', 'c'), /c:2: unknown key settings.includ \(did you mean "include"\?\)/)
  t.throws(() => parseConfig('[setings]\n', 'c'), /c:1: unknown section \[setings\] \(did you mean "settings"\?\)/)
  t.throws(
    () => parseConfig('[sync]\nallow_username_mismatch = "yes"\n', 'c'),
    /c:2: sync.allow_username_mismatch must be a boolean, found the string "yes"/,
  )
  t.throws(
    () => parseConfig('[settings]\ninclude = 5\n', 'c'),
    /c:2: settings.include must be an array of strings, e.g. .*, found the number 5$/,
  )
  // The element at fault is named, with its type and value (not "found an array").
  t.throws(() => parseConfig('[settings]\ninclude = [42]\n', 'c'), /c:2: settings.include\[0\] must be a string, found the number 42$/)
  t.throws(
    () => parseConfig('[settings]\ninclude = ["/etc/passwd", 3]\n', 'c'),
    /c:2: settings.include\[1\] must be a string, found the number 3$/,
  )
  t.throws(() => parseConfig('[settings]\nexclude = ["*.log", [1]]\n', 'c'), /c:2: settings.exclude\[1\] must be a string, found an array$/)
  t.throws(() => parseConfig('[settings]\ninclude = [{ a = 1 }]\n', 'c'), /c:2: settings.include\[0\] must be a string, found a table$/)
  t.throws(
    () => parseConfig('[settings]\ninclude = ["relative/path"]\n', 'c'),
    /c:2: settings.include: "relative\/path" must start with ~\//,
  )
  t.throws(() => parseConfig('[vault\nroot = 1', 'c'), /c:1: .*TOML syntax/)
  t.throws(() => parseConfig('vault = 3\n', 'c'), /c:1: vault must be a table/)
})

t.test('lineOf finds keys in tables, dotted keys and multi-line arrays', async (t) => {
  const text = '# c\n[a]\nx = [\n  1,\n]\ny = 2\n[b]\n"q" = 1\n'
  t.equal(lineOf(text, 'a', 'x'), 3)
  t.equal(lineOf(text, 'a', 'y'), 6)
  t.equal(lineOf(text, 'b', 'q'), 8)
  t.equal(lineOf(text, 'b'), 7)
  t.equal(lineOf(text, 'c', 'z'), undefined)
})

t.test('a malformed file on disk', async (t) => {
  const file = join(tempDir(t), 'config.toml')
  await writeFile(file, '[settings]\ninclude = [\n"~/a",\n')
  await t.rejects(loadConfig(file), ConfigError)
})

t.test('[here] holds what this computer alone includes and skips; [settings] is its older name', async (t) => {
  const c = parseConfig('[here]\ninclude = ["~/notes"]\nskip = ["vscode", "*.log", "~/big"]\n', 'c')
  t.same(c.here, { include: ['~/notes'], skip: ['vscode', '*.log', '~/big'] })
  const legacy = parseConfig('[settings]\ninclude = ["~/.bashrc"]\nexclude = ["*.tmp"]\n', 'c')
  t.same(legacy.here, { include: ['~/.bashrc'], skip: ['*.tmp'] }, 'include stays, exclude becomes skip')
  t.notMatch(renderConfig(legacy), /\[settings\]/, 'written back under its new name')
  t.match(renderConfig(legacy), /\[here\]\ninclude = \[\n  "~\/.bashrc",\n\]\nskip = \[\n  "\*.tmp",\n\]/)
  t.throws(() => parseConfig('[here]\ninclude = ["notes"]\n', 'c'), /c:2: here.include: "notes" must start with ~\//)
  t.throws(() => parseConfig('[here]\nskp = []\n', 'c'), /c:2: unknown key here.skp \(did you mean "skip"\?\)/)
  t.same(defaultConfig().here, { include: [], skip: [] }, 'what is collected comes from the chain, not from here')
})
