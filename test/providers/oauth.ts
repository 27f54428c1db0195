/** The loopback OAuth flow: PKCE, the state check, a refusal, and the code exchanged once. */
import t from 'tap'
import { createHash } from 'node:crypto'
import { loopbackLogin, pkcePair } from '../../providers/oauth.js'

t.test('PKCE: an S256 challenge of a 64-character verifier', async (t) => {
  const { verifier, challenge } = pkcePair()
  t.match(verifier, /^[A-Za-z0-9_-]{64}$/)
  t.equal(challenge, createHash('sha256').update(verifier).digest('base64url'))
})

/** Play the browser: open the consent address's redirect with these parameters. */
function browser(query: (state: string) => string) {
  return (url: string) => {
    const u = new URL(url)
    const redirect = u.searchParams.get('redirect_uri')!
    const state = u.searchParams.get('state')!
    setImmediate(() => void fetch(`${redirect}?${query(state)}`).catch(() => {}))
  }
}

const authorizeUrl = (redirect: string, challenge: string, state: string) =>
  `https://auth.example/authorize?redirect_uri=${encodeURIComponent(redirect)}&code_challenge=${challenge}&state=${state}`

t.test('the code the browser brings back is exchanged with the verifier', async (t) => {
  let seen: { code: string; redirect: string; verifier: string } | undefined
  let challenge = ''
  const tokens = await loopbackLogin({
    provider: 'test',
    authorizeUrl: (r, c, s) => ((challenge = c), authorizeUrl(r, c, s)),
    exchange: async (code, redirect, verifier) => {
      seen = { code, redirect, verifier }
      return { access_token: 'at', refresh_token: 'rt', expires_in: 3600 }
    },
    onAuthorizeUrl: browser((state) => `code=the-code&state=${state}`),
  })
  t.same(tokens, { access_token: 'at', refresh_token: 'rt', expires_in: 3600 })
  t.equal(seen?.code, 'the-code')
  t.match(seen?.redirect, /^http:\/\/127\.0\.0\.1:\d+\/callback$/)
  t.equal(createHash('sha256').update(seen!.verifier).digest('base64url'), challenge, 'the verifier matches the challenge sent')
})

t.test('a code with another state is ignored; a refusal ends the login', async (t) => {
  let exchanged = false
  const err = await loopbackLogin({
    provider: 'test',
    authorizeUrl,
    exchange: async () => ((exchanged = true), { access_token: 'x' }),
    onAuthorizeUrl: (url) => {
      const u = new URL(url)
      const redirect = u.searchParams.get('redirect_uri')!
      const state = u.searchParams.get('state')!
      void (async () => {
        const forged = await fetch(`${redirect}?code=evil&state=not-it`)
        t.equal(forged.status, 400, 'a forged callback is turned away')
        await fetch(`${redirect}?error=access_denied&state=${state}`)
      })()
    },
  }).catch((e: unknown) => e)
  t.notOk(exchanged, 'no code was exchanged')
  t.match(err, { code: 'EPROVIDER', kind: 'auth', message: /login refused \(access_denied\); run "cloudy provider login test" again/ })
})

t.test('no answer in time: said, and the port is let go', async (t) => {
  await t.rejects(
    loopbackLogin({
      provider: 'test',
      authorizeUrl,
      exchange: async () => ({ access_token: 'x' }),
      onAuthorizeUrl: () => {},
      timeoutMs: 100,
    }),
    { kind: 'auth', message: /no answer from the browser in time/ },
  )
})
