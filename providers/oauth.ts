/**
 * OAuth 2 for installed applications (RFC 8252): the authorization-code flow with PKCE
 * (RFC 7636) and a loopback redirect. Cloudy listens on 127.0.0.1 at a free port, prints the
 * provider's consent address for the user to open, and takes the code the browser brings back;
 * the `state` value must match, so another page cannot slip its own code in. Shared by the
 * Dropbox and Google Drive logins; each supplies its addresses and its token exchange.
 */
import { createHash, randomBytes } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { CredentialStore } from '../lib/credentials.js'
import { ProviderError } from '../lib/errors.js'

/** Tokens as a provider's token endpoint returns them. */
export interface OAuthTokens {
  access_token: string
  refresh_token?: string
  /** Seconds the access token lives. */
  expires_in?: number
}

export interface LoopbackLoginOptions {
  /** Provider name for messages, e.g. `dropbox`. */
  provider: string
  /** The consent page address for this redirect, PKCE challenge (S256) and state. */
  authorizeUrl(redirectUri: string, codeChallenge: string, state: string): string
  /** Trade the code for tokens (the verifier proves this is the process that asked). */
  exchange(code: string, redirectUri: string, codeVerifier: string): Promise<OAuthTokens>
  /** Told the address to open (the CLI prints it; tests follow it). */
  onAuthorizeUrl(url: string): void
  /** Give up waiting after this long (default 5 minutes). */
  timeoutMs?: number
}

const base64url = (b: Buffer) => b.toString('base64url')

/** A PKCE verifier and its S256 challenge. */
export function pkcePair(): { verifier: string; challenge: string } {
  const verifier = base64url(randomBytes(48))
  return { verifier, challenge: base64url(createHash('sha256').update(verifier).digest()) }
}

const PAGE = (text: string) =>
  `<!doctype html><meta charset="utf-8"><title>Cloudy</title><p style="font:16px sans-serif;margin:3em">${text}</p>`

/** Run the flow; the tokens, once the browser came back with a valid code. */
export async function loopbackLogin(o: LoopbackLoginOptions): Promise<OAuthTokens> {
  const { verifier, challenge } = pkcePair()
  const state = base64url(randomBytes(24))
  let server: Server | undefined
  let timer: NodeJS.Timeout | undefined
  try {
    const code = await new Promise<string>((resolve, reject) => {
      server = createServer((req, res) => {
        const url = new URL(req.url ?? '/', 'http://127.0.0.1')
        if (url.pathname !== '/callback') {
          res.writeHead(404).end()
          return
        }
        const error = url.searchParams.get('error')
        if (url.searchParams.get('state') !== state) {
          // Not our request (or a stale tab): ignored, the login goes on waiting.
          res.writeHead(400, { 'content-type': 'text/html' }).end(PAGE('This login link is not the one Cloudy is waiting for.'))
          return
        }
        if (error) {
          res.writeHead(200, { 'content-type': 'text/html' }).end(PAGE('Cloudy was not given access. You can close this tab.'))
          reject(
            new ProviderError(o.provider, `login refused (${error}); run "cloudy provider login ${o.provider}" again and allow access`, {
              kind: 'auth',
            }),
          )
          return
        }
        const c = url.searchParams.get('code')
        if (!c) {
          res.writeHead(400).end()
          return
        }
        res.writeHead(200, { 'content-type': 'text/html' }).end(PAGE('Cloudy is connected. You can close this tab.'))
        resolve(c)
      })
      server.on('error', reject)
      server.listen(0, '127.0.0.1', () => {
        const port = (server!.address() as AddressInfo).port
        o.onAuthorizeUrl(o.authorizeUrl(`http://127.0.0.1:${port}/callback`, challenge, state))
      })
      timer = setTimeout(
        () =>
          reject(
            new ProviderError(o.provider, `no answer from the browser in time; run "cloudy provider login ${o.provider}" again`, {
              kind: 'auth',
            }),
          ),
        o.timeoutMs ?? 5 * 60_000,
      )
    })
    const port = (server!.address() as AddressInfo).port
    return await o.exchange(code, `http://127.0.0.1:${port}/callback`, verifier)
  } finally {
    clearTimeout(timer)
    server?.closeAllConnections()
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()))
  }
}

export interface PastedLoginOptions {
  provider: string
  /**
   * The consent page address. Without a redirect the provider shows the code on its page for
   * the user to copy (Dropbox); with one, the browser, on another computer, fails to open it
   * and the user copies the address it ended on (Google, which no longer shows codes).
   */
  authorizeUrl(redirectUri: string | undefined, codeChallenge: string, state: string): string
  exchange(code: string, redirectUri: string | undefined, codeVerifier: string): Promise<OAuthTokens>
  redirectUri?: string
  onAuthorizeUrl(url: string): void
  /** Ask the user one line. */
  ask(question: string): Promise<string>
}

/**
 * The same flow for a computer without a browser (rclone's `authorize` is the model): the
 * address is opened on any other device, and the code, or the whole address the browser
 * ended on, is pasted back here. The state is checked when the address is pasted.
 */
export async function pastedLogin(o: PastedLoginOptions): Promise<OAuthTokens> {
  const { verifier, challenge } = pkcePair()
  const state = base64url(randomBytes(24))
  o.onAuthorizeUrl(o.authorizeUrl(o.redirectUri, challenge, state))
  const question = o.redirectUri
    ? 'Paste the address the browser ended on (it fails to load there; that is expected): '
    : 'Paste the code the page shows: '
  for (;;) {
    const answer = (await o.ask(question)).trim()
    if (!answer) continue
    if (!/^https?:\/\//.test(answer)) return o.exchange(answer, o.redirectUri, verifier)
    const back = new URL(answer)
    const error = back.searchParams.get('error')
    if (back.searchParams.get('state') !== state) {
      o.onAuthorizeUrl('That address is not from the login Cloudy is waiting for; open the address above and paste where it ends.')
      continue
    }
    if (error)
      throw new ProviderError(o.provider, `login refused (${error}); run "cloudy provider login ${o.provider}" again and allow access`, {
        kind: 'auth',
      })
    const code = back.searchParams.get('code')
    if (code) return o.exchange(code, o.redirectUri, verifier)
  }
}

/** What `cloudy provider login KIND` gives a provider's login function. */
export interface LoginContext {
  /** The credentials of this computer, where the tokens go. */
  credentials: CredentialStore
  env: NodeJS.ProcessEnv
  /** Where to tell the user what to do (stderr). */
  say(text: string): void
  /** Command-line options of the login (`app-key`, `client-id`, `client-secret`). */
  options: Record<string, string | undefined>
  /** No browser on this computer: the address is opened elsewhere and the code pasted back through `ask`. */
  noBrowser?: boolean
  ask?: (question: string) => Promise<string>
}

/** The loopback flow, or the pasted one when the user said there is no browser here. */
export function login(context: LoginContext, o: LoopbackLoginOptions & Omit<PastedLoginOptions, 'ask'>): Promise<OAuthTokens> {
  if (!context.noBrowser) return loopbackLogin(o)
  if (!context.ask) throw new Error('a login without a browser needs a way to ask')
  return pastedLogin({ ...o, ask: context.ask })
}
