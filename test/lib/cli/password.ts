import t from 'tap'
import { tempDir } from '../../helpers/temp.js'
import { EventEmitter } from 'node:events'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { readPassword } from '../../../lib/cli/password.js'

/** A stand-in terminal: what it echoes is recorded, keys are typed with `type`. */
function fakeTty() {
  const stdin = Object.assign(new EventEmitter(), {
    isTTY: true,
    isRaw: false,
    setRawMode(v: boolean) {
      this.isRaw = v
      return this
    },
    resume() {},
    pause() {},
  })
  let written = ''
  const stderr = { write: (s: string) => ((written += s), true) }
  return {
    stdin: stdin as unknown as NodeJS.ReadStream,
    stderr: stderr as unknown as NodeJS.WriteStream,
    type: (s: string) => stdin.emit('data', Buffer.from(s)),
    written: () => written,
  }
}

t.test('sources in order: file option, file env, command, env, terminal', async (t) => {
  const f = join(tempDir(t), 'pw')
  await writeFile(f, 'from file\nsecond line\n')
  t.equal(await readPassword({ passwordFile: f, env: { CLOUDY_PASSWORD: 'env' }, prompt: '' }), 'from file')
  t.equal(await readPassword({ env: { CLOUDY_PASSWORD_FILE: f, CLOUDY_PASSWORD: 'env' }, prompt: '' }), 'from file')
  const command = { CLOUDY_PASSWORD_COMMAND: 'printf "from command\\nmore"', PATH: process.env.PATH, CLOUDY_PASSWORD: 'env' }
  t.equal(await readPassword({ env: command, prompt: '' }), 'from command', 'a command (a keyring, pass): its first line')
  await t.rejects(
    readPassword({ env: { CLOUDY_PASSWORD_COMMAND: 'echo locked >&2; exit 3', PATH: process.env.PATH }, prompt: '' }),
    /CLOUDY_PASSWORD_COMMAND failed \(locked\)/,
  )
  t.equal(await readPassword({ env: { CLOUDY_PASSWORD: 'env' }, prompt: '' }), 'env')
  await t.rejects(readPassword({ env: { CLOUDY_PASSWORD: '' }, prompt: '' }), /is empty/)
  await t.rejects(readPassword({ passwordFile: join(tempDir(t), 'nope'), prompt: '' }), /--password-file .* cannot be read: ENOENT/)
  const notTty = Object.assign(new EventEmitter(), { isTTY: false }) as unknown as NodeJS.ReadStream
  await t.rejects(
    readPassword({ env: {}, prompt: '', stdin: notTty }),
    /no terminal to ask on: use --password-file FILE, CLOUDY_PASSWORD_FILE=FILE, CLOUDY_PASSWORD_COMMAND, or CLOUDY_PASSWORD \(the least safe/,
  )
})

t.test('the terminal prompt echoes nothing, handles backspace, confirms', async (t) => {
  const tty = fakeTty()
  const p = readPassword({ env: {}, prompt: 'Password: ', confirm: true, stdin: tty.stdin, stderr: tty.stderr })
  tty.type('hunter3\x7f2\r')
  await new Promise((r) => setImmediate(r))
  tty.type('hunter2\n')
  t.equal(await p, 'hunter2')
  t.notMatch(tty.written(), /hunter/, 'the password never appears on the terminal')
  t.match(tty.written(), /Password: \nRepeat it: \n/)
  t.equal((tty.stdin as unknown as { isRaw: boolean }).isRaw, false, 'raw mode undone')

  const tty2 = fakeTty()
  const p2 = readPassword({ env: {}, prompt: 'P: ', confirm: true, stdin: tty2.stdin, stderr: tty2.stderr })
  tty2.type('a\r')
  await new Promise((r) => setImmediate(r))
  tty2.type('b\r')
  await t.rejects(p2, /the two passwords differ/)

  const tty3 = fakeTty()
  const p3 = readPassword({ env: {}, prompt: 'P: ', stdin: tty3.stdin, stderr: tty3.stderr })
  tty3.type('abc\x03')
  await t.rejects(p3, /cancelled/)
})
