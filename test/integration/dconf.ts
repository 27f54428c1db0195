/**
 * dconf settings travel as text: A's GNOME Terminal settings (dconf, no file) are dumped into
 * its application space by the up-sync, and loaded into B's dconf by the down-sync; a key B set
 * and never sent is kept (its text in a conflict copy), a key A reset is reset on B. Real dconf,
 * each computer's database under its own HOME, written through a private session bus.
 */
import t from 'tap'
import { mkdir, readdir, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { cloudy, computer, ok, tempDir, type Computer } from '../helpers/cli.js'
import { vaultPaths } from '../helpers/vault-tree.js'
import { cloudyInSession, dconf, noDconf } from '../helpers/session.js'

const down = (c: Computer) => cloudyInSession(c, ['sync', 'down', '--yes'])

t.test('GNOME Terminal settings in dconf reach another computer', { skip: noDconf }, async (t) => {
  const vault = tempDir(t, 'vault')
  const bin = tempDir(t, 'bin')
  await writeFile(join(bin, 'gnome-terminal'), '#!/bin/sh\n', { mode: 0o755 })
  await symlink('/usr/bin/dconf', join(bin, 'dconf'))
  const env = { PATH: bin, CLOUDY_SYSTEM_ROOT: tempDir(t, 'system') }
  const a: Computer = { ...computer(t), env }
  const b: Computer = { ...computer(t), env }
  await ok(t, a, ['init', '--provider', vault, '--kdf', 'interactive', '--name', 'alpha'])
  await ok(t, b, ['join', '--provider', vault, '--name', 'bravo'])
  // B has a setting of its own, older than A's.
  dconf(b, 'write', '/org/gnome/terminal/legacy/new-terminal-mode', "'tab'")
  await new Promise((r) => setTimeout(r, 1100))
  dconf(a, 'write', '/org/gnome/terminal/legacy/theme-variant', "'dark'")
  dconf(a, 'write', '/org/gnome/terminal/legacy/profiles:/:b1dcc9dd/font', "'Monospace 13'")
  dconf(a, 'write', '/org/gnome/terminal/legacy/default-show-menubar', 'false')
  dconf(a, 'write', '/org/gnome/desktop/interface/clock-format', "'24h'")

  const up = await ok(t, a, ['sync', 'up'])
  t.match(up.stdout, /^apps\/gnome-terminal: published/m, 'found by its command and its dconf settings, and collected')
  const held = await vaultPaths(t, vault, 'app/gnome-terminal/home')
  t.ok(held.includes('.local/share/cloudy/dconf/gnome-terminal/org.gnome.terminal.ini'), 'the dump is in its space')
  t.notOk(
    held.some((p) => p.startsWith('.config/dconf')),
    'never the dconf database itself',
  )

  const first = down(b)
  t.equal(first.code, 6, `a conflict, both kept (${first.stderr})`)
  t.match(first.stdout, /conflict: apps\/gnome-terminal\/.local\/share\/cloudy\/dconf\/gnome-terminal\/org.gnome.terminal.ini/)
  t.equal(dconf(b, 'read', '/org/gnome/terminal/legacy/theme-variant'), "'dark'\n", "A's newer settings loaded into B's dconf")
  t.equal(dconf(b, 'read', '/org/gnome/terminal/legacy/profiles:/:b1dcc9dd/font'), "'Monospace 13'\n")
  t.equal(dconf(b, 'read', '/org/gnome/desktop/interface/clock-format'), '', 'another application is not touched')
  const copies = (await readdir(join(b.home, '.local/share/cloudy/dconf/gnome-terminal'))).filter((n) => n.includes('conflict'))
  t.equal(copies.length, 1, "B's own unsent settings are kept, as text, in a conflict copy")
  t.equal(dconf(b, 'read', '/org/gnome/terminal/legacy/new-terminal-mode'), '', "reset: A's text does not set it")

  // A resets a key and changes another: B's next down-sync does the same.
  await ok(t, b, ['sync', 'up'])
  t.equal(down(a).code, 0)
  dconf(a, 'reset', '/org/gnome/terminal/legacy/default-show-menubar')
  dconf(a, 'write', '/org/gnome/terminal/legacy/theme-variant', "'light'")
  await ok(t, a, ['sync', 'up'])
  t.equal(down(b).code, 0)
  t.equal(dconf(b, 'read', '/org/gnome/terminal/legacy/theme-variant'), "'light'\n")
  t.equal(dconf(b, 'read', '/org/gnome/terminal/legacy/default-show-menubar'), '', 'reset on B too')

  // dconf is read again only when its database changed: without dconf on PATH, an up-sync
  // after nothing changed has nothing to ask it; after a change it says it cannot read it.
  const noDconfHere = tempDir(t, 'no-dconf')
  await writeFile(join(noDconfHere, 'gnome-terminal'), '#!/bin/sh\n', { mode: 0o755 })
  const unchanged = await cloudy(a, ['sync', 'up'], { PATH: noDconfHere })
  t.equal(unchanged.code, 0, `nothing changed, dconf not started (${unchanged.stderr})`)
  dconf(a, 'write', '/org/gnome/terminal/legacy/theme-variant', "'dark'")
  const changed = await cloudy(a, ['sync', 'up'], { PATH: noDconfHere })
  t.equal(changed.code, 6, 'dconf changed: read again')
  t.match(changed.stderr, /dconf settings under \/org\/gnome\/terminal\/ not collected/)

  // Without dconf on PATH: said, not fatal.
  const c: Computer = { ...computer(t), env: { ...env, PATH: tempDir(t, 'empty') } }
  await mkdir(join(c.home, '.config'), { recursive: true })
  await ok(t, c, ['join', '--provider', vault, '--name', 'charlie'])
  const r = await cloudy(c, ['sync', 'down', '--yes'])
  t.equal(r.code, 6, 'done, with the dconf settings not applied')
  t.match(r.stderr, /gnome-terminal: dconf settings under \/org\/gnome\/terminal\/ .*not installed \(Debian package dconf-cli\)/)
})
