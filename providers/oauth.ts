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

/** What `cloudy provider login KIND` gives a provider's login function. */
export interface LoginContext {
  /** The credentials of this computer, where the tokens go. */
  credentials: CredentialStore
  env: NodeJS.ProcessEnv
  /** Where to tell the user what to do (stderr). */
  say(text: string): void
  /** Command-line options of the login (`app-key`, `client-id`, `client-secret`). */
  options: Record<string, string | undefined>
}
