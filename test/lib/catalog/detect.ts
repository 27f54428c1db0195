/** Signs that a catalog application is installed here, each read from a fixture system. */
import t from 'tap'
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Detector, installedDebianPackages } from '../../../lib/catalog/detect.js'
import { parseEntry } from '../../../lib/catalog/entry.js'
import { tempDir } from '../../helpers/temp.js'

const entry = (detect: string) =>
  parseEntry('x', `name = "X"\ncategory = "apps"\nsettings = ["$XDG_CONFIG_HOME/x"]\n[detect]\n${detect}\n`, '/c/x.toml')

t.test('commands on PATH (executable only), desktop files, Flatpak, dpkg, Snap and paths', async (t) => {
  const root = tempDir(t, 'root')
  const home = tempDir(t, 'home')
  const bin = join(root, 'bin')
  mkdirSync(bin)
  writeFileSync(join(bin, 'tool'), '#!/bin/sh\n')
  chmodSync(join(bin, 'tool'), 0o755)
  writeFileSync(join(bin, 'notexec'), '')
  mkdirSync(join(root, 'usr/share/applications'), { recursive: true })
  writeFileSync(join(root, 'usr/share/applications/org.x.App.desktop'), '[Desktop Entry]\n')
  mkdirSync(join(home, '.local/share/flatpak/app/org.x.Flat'), { recursive: true })
  mkdirSync(join(root, 'var/lib/flatpak/app/org.x.SysFlat'), { recursive: true })
  mkdirSync(join(root, 'var/lib/dpkg'), { recursive: true })
  writeFileSync(
    join(root, 'var/lib/dpkg/status'),
    'Package: hello\nStatus: install ok installed\nVersion: 1\n\nPackage: gone\nStatus: deinstall ok config-files\n\nPackage: vim\nStatus: install ok installed\n',
  )
  mkdirSync(join(root, 'snap/spotify'), { recursive: true })
  mkdirSync(join(home, '.config/x'), { recursive: true })
  const d = new Detector({ home, env: { PATH: `${bin}:/nonexistent`, CLOUDY_SYSTEM_ROOT: root } })
  t.same(d.signs(entry('commands = ["tool", "notexec", "absent"]')), ['command tool'])
  t.same(d.signs(entry('desktop = ["org.x.App.desktop", "no.desktop"]')), ['desktop org.x.App.desktop'])
  t.same(d.signs(entry('flatpak = ["org.x.Flat", "org.x.SysFlat", "org.x.None"]')), ['flatpak org.x.Flat', 'flatpak org.x.SysFlat'])
  t.same(d.signs(entry('debian = ["hello", "gone", "absent"]')), ['debian hello'], 'config-files only is not installed')
  t.same(d.signs(entry('snap = ["spotify", "none"]')), ['snap spotify'])
  t.same(d.signs(entry('paths = ["$XDG_CONFIG_HOME/x", "~/.nothing"]')), ['path $XDG_CONFIG_HOME/x'])
  t.ok(d.hasFiles(entry('commands = ["tool"]')))
  t.same([...installedDebianPackages(join(root, 'var/lib/dpkg/status'))].sort(), ['hello', 'vim'])
  // DPKG_ADMINDIR, as dpkg reads it, wins over the system root.
  const other = tempDir(t, 'admindir')
  writeFileSync(join(other, 'status'), 'Package: other\nStatus: install ok installed\n')
  const d2 = new Detector({ home, env: { PATH: '', CLOUDY_SYSTEM_ROOT: root, DPKG_ADMINDIR: other } })
  t.same(d2.signs(entry('debian = ["hello", "other"]')), ['debian other'])
  // XDG_CONFIG_HOME moves the files looked for.
  const d3 = new Detector({ home, env: { PATH: '', XDG_CONFIG_HOME: join(home, 'cfg') } })
  t.notOk(d3.hasFiles(entry('commands = ["tool"]')))
})
