/**
 * `cloudy provider login dropbox --no-browser` on a computer without a browser: the address is
 * opened elsewhere (here: fetched from the fake's consent page, which shows the code when no
 * redirect is asked for), the code is pasted back, and the tokens work for a vault.
 */
import t from 'tap'
import { spawn } from 'node:child_process'
import { readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { startDropboxFake } from '../fakes/dropbox.js'
import { cloudyArgv, cloudy, computer, type Computer } from '../helpers/cli.js'

const fake = await startDropboxFake()
t.teardown(() => fake.stop())

/** `cloudy provider login dropbox --no-browser` on `c`, its answers to come through a pipe. */
function loginWithoutBrowser(c: Computer) {
  return spawn(...cloudyArgv(['provider', 'login', 'dropbox', '--no-browser', '--app-key', fake.appKey]), {
    env: { PATH: process.env.PATH, HOME: c.home, CLOUDY_HOME: c.cloudyHome, ...fake.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  })
}

t.test('a pasted code completes the login', async (t) => {
  const c = computer(t)
  const child = loginWithoutBrowser(c)
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d) => (stdout += d))
  const address = new Promise<string>((resolve) =>
    child.stderr.on('data', (d) => {
      stderr += d
      const url = /https?:\/\/\S+/.exec(stderr)?.[0]
      if (url && stderr.includes('Paste the code')) resolve(url)
    }),
  )
  const url = new URL(await address)
  t.equal(url.searchParams.get('redirect_uri'), null, 'no redirect: the page shows the code')
  t.equal(url.searchParams.get('code_challenge_method'), 'S256')
  // Another device opens the address; the person copies the code from the page.
  const page = await (await fetch(url)).text()
  const pasted = /<code>([^<]+)<\/code>/.exec(page)?.[1]
  t.ok(pasted, 'the page shows a code')
  child.stdin.end(`${pasted}\n`)
  const exit = await new Promise<number>((resolve) => child.on('close', (n) => resolve(n ?? 1)))
  t.equal(exit, 0, stderr)
  t.match(stdout, /Connected to Dropbox/)
  const credentials = join(c.cloudyHome, 'credentials.toml')
  t.equal(statSync(credentials).mode & 0o777, 0o600)
  t.match(readFileSync(credentials, 'utf8'), /refresh_token = /)
  const init = await cloudy(c, ['init', '--provider', fake.newUrl(), '--kdf', 'interactive', '--no-auto-apps'], fake.env)
  t.equal(init.code, 0, `the tokens reach the vault: ${init.stderr}`)
  // The vault remembers the app key, for the next computer's login.
  const key = await cloudy(c, ['provider', 'key', 'dropbox'], fake.env)
  t.equal(key.code, 0, key.stderr)
  t.match(key.stdout, new RegExp(`Dropbox app key: ${fake.appKey}\\n.*cloudy provider login dropbox --app-key ${fake.appKey}`))
  t.equal((await cloudy(c, ['provider', 'key', 'gdrive'], fake.env)).code, 2, 'no Google client remembered')
})

t.test('a wrong code is refused, naming what to do', async (t) => {
  const c = computer(t)
  const child = loginWithoutBrowser(c)
  let stderr = ''
  child.stderr.on('data', (d) => (stderr += d))
  child.stdin.end('not-a-code\n')
  const exit = await new Promise<number>((resolve) => child.on('close', (n) => resolve(n ?? 1)))
  t.equal(exit, 5, stderr)
  t.match(stderr, /provider login dropbox/)
})
