/**
 * The catalog at work on fixture HOMEs: realistic files of 15 applications (among them a
 * browser pair and a Flatpak one) with their caches, locks, a socket and secrets, and a GNOME
 * one whose settings are in dconf (real dconf, through a private session bus). Up-sync on
 * A finds and collects them, down-sync on B puts every file where it belongs, and nothing that
 * must stay (a cache, a lock, a socket, a secret) is in the vault: the decrypted trees are
 * read back. `cloudy apps list` on B finds exactly the fixture applications. A running
 * application's items wait until it exits.
 */
import t, { type Test } from 'tap'
import { execFileSync, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { chmod, copyFile, mkdir, readFile, symlink, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { cloudy, computer, ok, tempDir, type Computer } from '../helpers/cli.js'
import { vaultPaths } from '../helpers/vault-tree.js'
import { mountPoint, sh, startMount } from '../helpers/mount.js'
import { cloudyInSession, dconf, noDconf } from '../helpers/session.js'

/** Files each application would leave in a HOME: `keep` travels, `stay` never does. */
const FIXTURE: Record<string, { keep: Record<string, string>; stay: Record<string, string> }> = {
  bash: { keep: { '.bashrc': 'alias ll="ls -l"\n', '.inputrc': 'set editing-mode vi\n' }, stay: {} },
  git: {
    keep: { '.gitconfig': '[user]\n\tname = A\n', '.config/git/ignore': '*.o\n' },
    stay: { '.git-credentials': 'https://u:token@example.com\n', '.config/git/credentials': 'https://u:t2@example.com\n' },
  },
  vim: {
    keep: { '.vimrc': 'set number\n', '.vim/colors/dark.vim': 'hi Normal\n' },
    stay: { '.vim/.vimrc.swp': 'swap', '.vim/undo/x': 'undo' },
  },
  neovim: { keep: { '.config/nvim/init.lua': 'vim.o.number = true\n' }, stay: { '.config/nvim/.init.lua.swp': 'swap' } },
  tmux: { keep: { '.tmux.conf': 'set -g mouse on\n' }, stay: { '.config/tmux/plugins/tpm/tpm': '#!/bin/sh\n' } },
  ssh: {
    keep: { '.ssh/config': 'Host *\n  ServerAliveInterval 30\n', '.ssh/known_hosts': 'example.com ssh-ed25519 AAAA\n' },
    stay: { '.ssh/id_ed25519': '-----BEGIN OPENSSH PRIVATE KEY-----\n', '.ssh/deploy.pem': 'KEY' },
  },
  vscode: {
    keep: {
      '.config/Code/User/settings.json': '{"editor.fontSize": 14}\n',
      '.config/Code/User/keybindings.json': '[]\n',
      '.config/Code/User/snippets/ts.json': '{}\n',
    },
    stay: {
      '.config/Code/User/globalStorage/state.vscdb': 'sqlite',
      '.config/Code/User/workspaceStorage/abc/workspace.json': '{}',
      '.config/Code/User/History/x/entries.json': '{}',
      '.config/Code/Cache/data_0': 'cache',
      '.config/Code/logs/main.log': 'log',
    },
  },
  firefox: {
    keep: {
      '.mozilla/firefox/profiles.ini': '[Profile0]\nPath=p1.default\n',
      '.mozilla/firefox/p1.default/prefs.js': 'user_pref("a", 1);\n',
      '.mozilla/firefox/p1.default/user.js': 'user_pref("b", 2);\n',
    },
    stay: {
      '.mozilla/firefox/p1.default/.parentlock': '',
      '.mozilla/firefox/p1.default/cache2/entries/ABC': 'cache',
      '.mozilla/firefox/p1.default/logins.json': '{"logins": []}',
      '.mozilla/firefox/p1.default/key4.db': 'key',
      '.mozilla/firefox/p1.default/cookies.sqlite': 'cookies',
      '.mozilla/firefox/p1.default/places.sqlite': 'history',
      '.mozilla/firefox/p1.default/sessionstore-backups/recovery.jsonlz4': 'session',
    },
  },
  chromium: {
    keep: {
      '.config/chromium/Local State': '{}\n',
      '.config/chromium/Default/Preferences': '{"homepage": "x"}\n',
      '.config/chromium/Default/Bookmarks': '{"roots": {}}\n',
    },
    stay: {
      '.config/chromium/Default/Cache/Cache_Data/data_1': 'cache',
      '.config/chromium/Default/Login Data': 'passwords',
      '.config/chromium/Default/Cookies': 'cookies',
      '.config/chromium/Default/History': 'history',
    },
  },
  kitty: { keep: { '.config/kitty/kitty.conf': 'font_size 12\n' }, stay: {} },
  alacritty: { keep: { '.config/alacritty/alacritty.toml': '[font]\nsize = 12\n' }, stay: {} },
  htop: { keep: { '.config/htop/htoprc': 'tree_view=1\n' }, stay: {} },
  libreoffice: {
    keep: { '.config/libreoffice/4/user/registrymodifications.xcu': '<items/>\n' },
    stay: { '.config/libreoffice/4/.lock': 'lock', '.config/libreoffice/4/user/backup/doc.bak': 'backup' },
  },
  'spotify-flatpak': {
    keep: { '.var/app/com.spotify.Client/config/spotify/Users/me-user/prefs': 'ui.zoom=1\n' },
    stay: {
      '.var/app/com.spotify.Client/config/spotify/prefs': 'autologin.saved_credentials=SECRET\n',
      '.var/app/com.spotify.Client/config/spotify/Storage/x': 'cache',
    },
  },
  starship: { keep: { '.config/starship.toml': 'add_newline = false\n' }, stay: {} },
}

/** GNOME Terminal's settings, all in dconf: written on A, read back on B. */
const DCONF: Record<string, string> = {
  '/org/gnome/terminal/legacy/theme-variant': "'dark'",
  '/org/gnome/terminal/legacy/profiles:/:b1dcc9dd/font': "'Monospace 13'",
}

/**
 * A system with nothing installed but these commands (and no dpkg database, Flatpak or Snap);
 * dconf is there, as on a GNOME desktop, when this machine has it.
 */
async function bareSystem(t: Test): Promise<Record<string, string>> {
  const root = tempDir(t, 'system')
  const bin = join(root, 'bin')
  await mkdir(bin)
  for (const cmd of ['bash', 'git', 'vim', 'nvim', 'tmux', 'ssh', 'code', 'kitty', 'alacritty', 'htop', 'starship', 'gnome-terminal'])
    await writeFile(join(bin, cmd), '#!/bin/sh\n', { mode: 0o755 })
  if (!noDconf) await symlink('/usr/bin/dconf', join(bin, 'dconf'))
  await mkdir(join(root, 'usr/share/applications'), { recursive: true })
  for (const f of ['firefox.desktop', 'chromium.desktop', 'libreoffice-startcenter.desktop'])
    await writeFile(join(root, 'usr/share/applications', f), '[Desktop Entry]\n')
  await mkdir(join(root, 'var/lib/flatpak/app/com.spotify.Client'), { recursive: true })
  return { PATH: bin, CLOUDY_SYSTEM_ROOT: root }
}
async function writeFixture(home: string, which: 'keep' | 'stay'): Promise<void> {
  for (const app of Object.values(FIXTURE))
    for (const [rel, text] of Object.entries(app[which])) {
      await mkdir(dirname(join(home, rel)), { recursive: true })
      await writeFile(join(home, rel), text)
    }
}

/**
 * Computer A on a bare fixture system, with the applications' files to carry, set up with the
 * default selection (applications found join by themselves); B shares its system, not yet joined.
 */
async function fixturePair(t: Test): Promise<{ vault: string; a: Computer; b: Computer }> {
  const vault = tempDir(t, 'vault')
  const env = await bareSystem(t)
  const a: Computer = { ...computer(t), env }
  const b: Computer = { ...computer(t), env }
  await writeFixture(a.home, 'keep')
  await ok(t, a, ['init', '--provider', vault, '--kdf', 'interactive', '--name', 'alpha'])
  return { vault, a, b }
}

t.test('16 applications: found, collected without caches, locks, sockets or secrets, and restored on B', { skip: noDconf }, async (t) => {
  const vault = tempDir(t, 'vault')
  const env = await bareSystem(t)
  const a: Computer = { ...computer(t), env }
  const b: Computer = { ...computer(t), env }
  await writeFixture(a.home, 'keep')
  await writeFixture(a.home, 'stay')
  // Firefox's lock is a dangling link, Chromium's singleton a socket.
  await symlink('127.0.0.1:+4242', join(a.home, '.mozilla/firefox/p1.default/lock'))
  await symlink('host-4242', join(a.home, '.config/chromium/SingletonLock'))
  const socket = join(a.home, '.config/chromium/SingletonSocket')
  execFileSync('python3', ['-c', `import socket; s = socket.socket(socket.AF_UNIX); s.bind(${JSON.stringify(socket)})`])
  t.ok(existsSync(socket), 'a real socket in the fixture')
  for (const [key, value] of Object.entries(DCONF)) dconf(a, 'write', key, value)

  await ok(t, a, ['init', '--provider', vault, '--kdf', 'interactive', '--name', 'alpha'])
  const up = await ok(t, a, ['sync', 'up'])
  const apps = [...Object.keys(FIXTURE), 'gnome-terminal'].sort()
  for (const id of apps) t.match(up.stdout, new RegExp(`^apps/${id}: published`, 'm'), `${id} collected`)
  const sel = JSON.parse((await ok(t, a, ['selection', '--json'])).stdout) as { apps: Record<string, boolean> }
  t.same(Object.keys(sel.apps).sort(), apps, 'the applications found joined the selection')

  // Read back what the vault holds, decrypted: every kept file, none that stays.
  for (const [id, app] of Object.entries(FIXTURE)) {
    const held = await vaultPaths(t, vault, `app/${id}/home`)
    for (const rel of Object.keys(app.keep)) t.ok(held.includes(rel), `${id}: ${rel} in the vault`)
    for (const rel of Object.keys(app.stay)) t.notOk(held.includes(rel), `${id}: ${rel} never reaches the vault`)
  }
  const browsers = [...(await vaultPaths(t, vault, 'app/firefox/home')), ...(await vaultPaths(t, vault, 'app/chromium/home'))]
  t.notOk(
    browsers.some((p) => /(^|\/)(lock|SingletonLock|SingletonSocket)$/.test(p)),
    'no lock or socket',
  )
  t.same(
    await vaultPaths(t, vault, 'app/gnome-terminal/home'),
    [
      '.local',
      '.local/share',
      '.local/share/cloudy',
      '.local/share/cloudy/dconf',
      '.local/share/cloudy/dconf/gnome-terminal',
      '.local/share/cloudy/dconf/gnome-terminal/org.gnome.terminal.ini',
    ],
    'GNOME Terminal: its dconf settings as text, never the dconf database',
  )
  t.same(await vaultPaths(t, vault, 'settings'), [], 'nothing went to the settings space')

  await ok(t, b, ['join', '--provider', vault, '--name', 'bravo'])
  const preview = await ok(t, b, ['sync', 'down', '--preview'])
  t.match(preview.stdout, 'apps/vscode/.config/Code/User/settings.json', 'items named by application')
  const down = cloudyInSession(b, ['sync', 'down', '--yes'])
  t.equal(down.code, 0, `applied (${down.stderr})`)
  for (const [key, value] of Object.entries(DCONF)) t.equal(dconf(b, 'read', key), `${value}\n`, `B's dconf: ${key}`)
  for (const [id, app] of Object.entries(FIXTURE)) {
    for (const [rel, text] of Object.entries(app.keep))
      t.equal(await readFile(join(b.home, rel), 'utf8').catch(() => 'missing'), text, `${id}: ${rel} on B`)
    for (const rel of Object.keys(app.stay)) t.notOk(existsSync(join(b.home, rel)), `${id}: ${rel} not on B`)
  }

  const list = JSON.parse((await ok(t, b, ['apps', 'list', '--json'])).stdout) as {
    apps: { id: string; detected: string[]; collected: boolean }[]
  }
  t.same(
    list.apps
      .filter((x) => x.detected.length)
      .map((x) => x.id)
      .sort(),
    apps,
    'B finds exactly the fixture applications',
  )
  t.ok(
    list.apps.every((x) => x.collected),
    'each collected',
  )
  const table = await ok(t, b, ['apps', 'list'])
  t.match(table.stdout, /vscode +command code +yes +3 /, 'files counted')

  // B's edit goes back through the application's space.
  await writeFile(join(b.home, '.config/kitty/kitty.conf'), 'font_size 14\n')
  t.match((await ok(t, b, ['sync', 'up'])).stdout, /^apps\/kitty: published/m)
  await ok(t, a, ['sync', 'down', '--yes'])
  t.equal(await readFile(join(a.home, '.config/kitty/kitty.conf'), 'utf8'), 'font_size 14\n')
})

t.test('an application removed from the selection, or skipped here, is not collected; --only takes an app', async (t) => {
  const { a } = await fixturePair(t)
  await ok(t, a, ['remove', 'vscode', 'firefox'])
  const only = await ok(t, a, ['sync', 'up', '--only', 'kitty'])
  t.match(only.stdout, /^apps\/kitty: published/m)
  t.notMatch(only.stdout, /apps\/git:/, '--only kitty sends kitty alone')
  const up = await ok(t, a, ['sync', 'up'])
  t.notMatch(up.stdout, /apps\/(vscode|firefox):/, 'removed: not collected, and not added back')
  t.match(up.stdout, /^apps\/git: published/m)
  const list = JSON.parse((await ok(t, a, ['apps', 'list', '--json'])).stdout) as {
    apps: { id: string; collected: boolean; why?: string }[]
  }
  t.equal(list.apps.find((x) => x.id === 'vscode')?.why, 'removed from the selection')
  const r = await cloudy(a, ['sync', 'up', '--only', '/etc'])
  t.equal(r.code, 2, '--only outside HOME is bad usage')
})

t.test("a running application's items wait until it exits; --force applies them", async (t) => {
  const { vault, a, b } = await fixturePair(t)
  await ok(t, a, ['sync', 'up'])
  await ok(t, b, ['join', '--provider', vault, '--name', 'bravo'])
  // A copy of sleep named like kitty's process.
  const bin = tempDir(t, 'procs')
  await copyFile('/bin/sleep', join(bin, 'kitty'))
  await chmod(join(bin, 'kitty'), 0o755)
  const kitty = spawn(join(bin, 'kitty'), ['60'], { stdio: 'ignore' })
  t.teardown(() => kitty.kill('SIGKILL'))
  await new Promise((r) => setTimeout(r, 200))

  const preview = await ok(t, b, ['sync', 'down', '--preview'])
  t.match(preview.stdout, /waiting: kitty is running \(process kitty\): its \d+ items are applied once it exits/)
  const held = await cloudy(b, ['sync', 'down', '--yes'])
  t.equal(held.code, 6, 'done, with items waiting')
  t.match(held.stdout, /waiting: kitty is running/)
  t.notOk(existsSync(join(b.home, '.config/kitty/kitty.conf')), 'not written under the running application')
  t.equal(await readFile(join(b.home, '.config/htop/htoprc'), 'utf8'), 'tree_view=1\n', 'the others are applied')

  kitty.kill('SIGKILL')
  await new Promise((r) => kitty.once('exit', r))
  const after = await ok(t, b, ['sync', 'down', '--yes'])
  t.match(after.stdout, /apps\/kitty: applied \d+ of \d+ items/)
  t.equal(await readFile(join(b.home, '.config/kitty/kitty.conf'), 'utf8'), 'font_size 12\n', 'applied once it exited')

  // --force writes under a running application.
  await writeFile(join(a.home, '.config/kitty/kitty.conf'), 'font_size 16\n')
  await ok(t, a, ['sync', 'up'])
  const again = spawn(join(bin, 'kitty'), ['60'], { stdio: 'ignore' })
  t.teardown(() => again.kill('SIGKILL'))
  await new Promise((r) => setTimeout(r, 200))
  await ok(t, b, ['sync', 'down', '--yes', '--force'])
  t.equal(await readFile(join(b.home, '.config/kitty/kitty.conf'), 'utf8'), 'font_size 16\n')
})

t.test("the mount shows each application's collected files under home/<id>/, read-only", async (t) => {
  const { a } = await fixturePair(t)
  await ok(t, a, ['sync', 'up'])
  const dir = mountPoint(t)
  await startMount(t, a, dir)
  t.match(await sh(`ls ${dir}`), /home/)
  t.equal(await sh(`cat '${dir}/home/kitty/.config/kitty/kitty.conf'`), 'font_size 12\n')
  t.equal(await sh(`cat '${dir}/home/vscode/.config/Code/User/settings.json'`), '{"editor.fontSize": 14}\n')
  t.match(await sh(`(echo x > '${dir}/home/kitty/new') 2>&1 || true`), /Read-only file system/)
})

t.test('status, history and restore cover the applications too', async (t) => {
  const { a } = await fixturePair(t)
  await ok(t, a, ['sync', 'up'])
  const conf = join(a.home, '.config/kitty/kitty.conf')
  await writeFile(conf, 'font_size 20\n')
  const status = JSON.parse((await ok(t, a, ['status', '--json'])).stdout) as { spaces: { space: string; pending: { changed: number } }[] }
  t.equal(status.spaces.find((s) => s.space === 'apps/kitty')?.pending.changed, 1, 'status counts the edit in apps/kitty')
  await ok(t, a, ['sync', 'up'])
  const all = JSON.parse((await ok(t, a, ['history', '--json'])).stdout) as { commits: { space: string; commit: string }[] }
  const kitty = all.commits.filter((c) => c.space === 'apps/kitty')
  t.equal(kitty.length, 2, 'history lists the application space')
  t.ok(all.commits.some((c) => c.space === 'apps/git'))
  const versions = JSON.parse((await ok(t, a, ['history', conf, '--json'])).stdout) as { item: string; versions: unknown[] }
  t.equal(versions.item, 'apps/kitty/.config/kitty/kitty.conf', 'a local path is named by the space that holds it')
  t.equal(versions.versions.length, 2)
  await ok(t, a, ['restore', '--at', kitty[1]!.commit, conf])
  t.equal(await readFile(conf, 'utf8'), 'font_size 12\n', 'restored')
  const byApp = JSON.parse((await ok(t, a, ['history', 'kitty', '--json'])).stdout) as { commits: unknown[] }
  t.equal(byApp.commits.length, 2, 'history of one application by its id')
})
