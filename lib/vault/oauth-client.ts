/**
 * The OAuth client (Dropbox app key, Google Drive client id and secret) a vault on Dropbox or
 * Drive was reached with, remembered in the vault (docs/FORMAT.md, "OAuth clients"), so that
 * every computer of the chain can be told which one to log in with: Cloudy cannot ship its own,
 * and an app-folder Dropbox app sees only its own folder. Sealed like the chain's records.
 */
import { BlobType } from './aead.js'
import { openJson, sealJson } from './sealed-json.js'
import type { Vault } from './vault.js'

export type OAuthKind = 'dropbox' | 'gdrive'

export interface OAuthClient {
  format: 1
  kind: OAuthKind
  /** The Dropbox app key, or the Google client id. */
  id: string
  /** Google's installed-app client secret (not a secret in practice: it ships with every copy). */
  secret?: string
}

const NAME = (kind: OAuthKind) => `clients/${kind}`

export async function writeClient(vault: Vault, c: OAuthClient): Promise<void> {
  await vault.records('').put(NAME(c.kind), sealJson(vault, BlobType.client, Buffer.from(NAME(c.kind)), c))
}

/** The client the vault remembers for `kind`; undefined when none (or a record that does not open). */
export async function readClient(vault: Vault, kind: OAuthKind): Promise<OAuthClient | undefined> {
  const sealed = await vault.records('').get(NAME(kind))
  const c = sealed && openJson<OAuthClient>(vault, BlobType.client, Buffer.from(NAME(kind)), sealed, NAME(kind))
  return c && c.kind === kind && typeof c.id === 'string' ? c : undefined
}

/** The OAuth kind of a provider URL, if it has one. */
export function oauthKind(url: string): OAuthKind | undefined {
  return url.startsWith('dropbox:') ? 'dropbox' : url.startsWith('gdrive:') ? 'gdrive' : undefined
}
