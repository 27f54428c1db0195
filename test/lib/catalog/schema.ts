/**
 * The shipped catalog against its schema (docs/CATALOG.md): every entry parses, names its paths
 * under HOME or an XDG variable, no two entries claim one path, every known secret store inside
 * a claimed path is marked; and at least 100 entries. Broken entries name the file and field.
 */
import t from 'tap'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { checkClaims, claimedPaths, loadCatalog, shippedCatalogDir, unmarkedSecrets } from '../../../lib/catalog/catalog.js'
import { isCatalogPath, parseEntry } from '../../../lib/catalog/entry.js'
import { KNOWN_SECRET_STORES } from '../../../lib/catalog/secrets.js'
import { loadSystemCatalog, parseSystemCatalog } from '../../../lib/catalog/system.js'
import { ConfigError } from '../../../lib/errors.js'
import { tempDir } from '../../helpers/temp.js'

const catalog = loadCatalog()

t.test('at least 100 entries, each with a name, a category, something to collect and a sign', async (t) => {
  t.ok(catalog.entries.length >= 100, `${catalog.entries.length} entries`)
  for (const e of catalog.entries) {
    t.ok(e.name.trim(), `${e.id}: name`)
    t.ok(['settings', 'apps'].includes(e.category), `${e.id}: category`)
    t.ok(e.settings.length + e.data.length + e.dconf.length > 0, `${e.id}: collects something`)
    const d = e.detect
    t.ok(d.commands.length + d.desktop.length + d.flatpak.length + d.debian.length + d.snap.length + d.paths.length > 0, `${e.id}: a sign`)
    for (const p of [...e.settings, ...e.data, ...d.paths]) t.ok(isCatalogPath(p), `${e.id}: ${p} under HOME or an XDG variable`)
  }
})

t.test('no two entries claim one path, nor one inside another', async (t) => {
  const owner = new Map<string, string>()
  for (const e of catalog.entries)
    for (const p of claimedPaths(e)) {
      t.notOk(owner.has(p) && owner.get(p) !== e.id, `${p}: ${owner.get(p)} and ${e.id}`)
      owner.set(p, e.id)
    }
  for (const [p, id] of owner)
    for (const [q, other] of owner) if (id !== other && q.startsWith(p + '/')) t.fail(`${q} (${other}) lies inside ${p} (${id})`)
  t.doesNotThrow(() => checkClaims(catalog.entries))
  // The check itself: a second entry claiming a folder inside git's.
  const git = catalog.byId.get('git')!
  const clash = parseEntry(
    'clash',
    'name = "Clash"\ncategory = "apps"\nsettings = ["$XDG_CONFIG_HOME/git/hooks"]\n[detect]\ncommands = ["clash"]\n',
    '/c/clash.toml',
  )
  t.throws(() => checkClaims([git, clash]), /~\/.config\/git\/hooks of clash lies inside ~\/.config\/git of git/)
})

t.test('every known secret store inside a claimed path is marked, and the check finds one that is not', async (t) => {
  for (const e of catalog.entries) t.same(unmarkedSecrets(e), [], `${e.id} marks its secret stores`)
  const firefox = catalog.byId.get('firefox')!
  t.ok(firefox.secrets.includes('~/.mozilla/firefox/*/logins.json'), 'firefox: saved passwords are secrets')
  t.ok(catalog.byId.get('google-chrome')!.secrets.includes('$XDG_CONFIG_HOME/google-chrome/*/Login Data'))
  const bare = parseEntry(
    'bare',
    'name = "Bare"\ncategory = "settings"\nsettings = ["~/.ssh"]\n[detect]\ncommands = ["ssh"]\n',
    '/c/bare.toml',
  )
  t.same(unmarkedSecrets(bare), ['~/.ssh/id_*', '~/.ssh/*.pem'])
  t.ok(KNOWN_SECRET_STORES.length >= 30)
})

t.test('the entries Debian desktop users need most are there', async (t) => {
  for (const id of [
    'bash',
    'zsh',
    'fish',
    'git',
    'vim',
    'neovim',
    'emacs',
    'vscode',
    'jetbrains',
    'gnome-terminal',
    'kitty',
    'gnome-desktop',
    'kde-plasma',
    'firefox',
    'chromium',
    'thunderbird',
    'libreoffice',
    'keepassxc',
    'ssh',
    'npm',
    'pip',
    'cargo',
    'docker',
    'kubectl',
    'lutris',
  ])
    t.ok(catalog.byId.has(id), id)
  t.ok(
    catalog.entries.some((e) => e.dconf.length),
    'a dconf entry',
  )
  t.ok(
    catalog.entries.some((e) => e.detect.flatpak.length),
    'a Flatpak entry',
  )
})

const bad = (text: string) => () => parseEntry('x', text, '/cat/x.toml')
const ok = 'name = "X"\ncategory = "apps"\n'
const detect = '[detect]\ncommands = ["x"]\n'

t.test('a broken entry: exit 2 naming the file, the line and the field', async (t) => {
  const cases: [string, RegExp][] = [
    [`${ok}settings = ["~/.x"]\nexclude = ["[abc"]\n${detect}`, /\/cat\/x\.toml:4: exclude: "\[abc": "\[" at character 1 is never closed/],
    [`${ok}settings = ["~/.x"]\nexclud = ["*.log"]\n${detect}`, /\/cat\/x\.toml:4: unknown field exclud \(did you mean "exclude"\?\)/],
    [`${ok}settings = ["/etc/x"]\n${detect}`, /\/cat\/x\.toml:3: settings: "\/etc\/x" must start with ~\/ or \$XDG_CONFIG_HOME/],
    [`${ok}settings = ["~/../x"]\n${detect}`, /settings: "~\/..\/x" has an empty, "." or ".." part/],
    [`${ok}settings = ["~/.x/*"]\n${detect}`, /settings: "~\/.x\/\*" is a pattern/],
    [`${ok}settings = ["~/.x"]\n[detect]\ncomands = ["x"]\n`, /x\.toml:5: unknown field detect.comands \(did you mean "commands"\?\)/],
    [`${ok}settings = ["~/.x"]\n[detect]\n`, /\[detect\] names no way to tell/],
    [`${ok}${detect}`, /collects nothing/],
    [`category = "apps"\nsettings = ["~/.x"]\n${detect}`, /the field name is missing/],
    [`${ok.replace('apps', 'games')}settings = ["~/.x"]\n${detect}`, /x\.toml:2: category must be "settings" or "apps"/],
    [`${ok}settings = "~/.x"\n${detect}`, /x\.toml:3: settings must be an array of strings/],
    [`${ok}dconf = ["/org/x"]\n${detect}`, /dconf: "\/org\/x" must be a dconf folder/],
    [`${ok}settings = ["~/.x"]\nprocesses = ["a b"]\n${detect}`, /processes: "a b" must be one plain name/],
    [`${ok}settings = ["~/.x"]\nsecrets = ["a/**b"]\n${detect}`, /secrets: "a\/\*\*b": "\*\*" must be a whole folder name/],
    [`${ok}settings = ["~/.x"\n`, /x\.toml:4: .*TOML syntax/],
  ]
  for (const [text, message] of cases) {
    const e = t.throws(bad(text), message) as ConfigError
    t.equal(e.exitCode, 2, String(message))
  }
})

t.test("a user's own entry replaces or adds to the shipped ones, and is checked like them", async (t) => {
  const dir = tempDir(t)
  mkdirSync(dir, { recursive: true })
  writeFileSync(join(dir, 'mytool.toml'), `${ok}settings = ["$XDG_CONFIG_HOME/mytool"]\n${detect}`)
  writeFileSync(
    join(dir, 'git.toml'),
    `name = "My Git"\ncategory = "settings"\nsettings = ["~/.gitconfig"]\n[detect]\ncommands = ["git"]\n`,
  )
  const mine = loadCatalog(dir)
  t.equal(mine.byId.get('mytool')?.name, 'X')
  t.equal(mine.byId.get('git')?.name, 'My Git')
  t.equal(mine.entries.length, catalog.entries.length + 1)
  writeFileSync(join(dir, 'broken.toml'), `${ok}settings = ["~/.b"]\n[detect]\npaths = ["/etc/b"]\n`)
  t.throws(() => loadCatalog(dir), new RegExp(`${join(dir, 'broken.toml')}:5: detect.paths: "/etc/b" must start with ~/`))
  t.ok(shippedCatalogDir().endsWith('lib/catalog/apps'))
})

t.test('the computer settings: paths under /etc, never the machine identity, network profiles secret', async (t) => {
  const system = loadSystemCatalog()
  t.ok(system.paths.length >= 15)
  for (const id of ['/etc/machine-id', '/etc/hostname', '/etc/fstab', '/etc/ssh']) t.ok(system.never.includes(id), `${id} never travels`)
  for (const p of system.paths)
    t.notOk(
      system.never.some((n) => p === n || p.startsWith(n + '/')),
      `${p} is no identity`,
    )
  t.ok(system.secrets.includes('/etc/NetworkManager/system-connections'))
  t.throws(
    () => parseSystemCatalog('paths = ["/etc/ssh/ssh_config"]\nnever = ["/etc/ssh"]\n', '/s.toml'),
    /\/s\.toml:1: paths: "\/etc\/ssh\/ssh_config" lies in "\/etc\/ssh", which never travels/,
  )
  t.throws(() => parseSystemCatalog('paths = ["/home/x"]\n', '/s.toml'), /\/s\.toml:1: paths: "\/home\/x" must be a plain path under \/etc/)
  t.throws(() => parseSystemCatalog('path = []\n', '/s.toml'), /unknown field path \(did you mean "paths"\?\)/)
})
