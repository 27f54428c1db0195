/**
 * credentials.toml: the secrets this computer uses to reach the storage account (access keys,
 * OAuth tokens, the SFTP key's path). They stay on this computer: never in the vault, never in
 * config.toml (which a user may share), never in a message or a log. The file must be private
 * (mode 0600): a looser one is refused rather than used, as ssh does with a private key.
 *
 * One table per provider kind, plain string values:
 *
 *   [s3]       access_key_id, secret_access_key, session_token (else the AWS SDK's own chain)
 *   [sftp]     identity_file, known_hosts, password
 *   [dropbox]  app_key, refresh_token, access_token, expires_at
 *   [gdrive]   client_id, client_secret, refresh_token, access_token, expires_at
 */
import { readFile, stat } from 'node:fs/promises'
import { parse, stringify, TomlError } from 'smol-toml'
import { ConfigError } from './errors.js'
import { writeFileAtomic } from './fs/atomic-file.js'

export type CredentialSection = Record<string, string>

export class CredentialStore {
  /** Updates of this process, one at a time (a token refresh rewrites the file). */
  #writing: Promise<void> = Promise.resolve()

  constructor(readonly file: string) {}

  /** Every table; empty when the file does not exist. */
  async read(): Promise<Record<string, CredentialSection>> {
    let text: string
    try {
      const st = await stat(this.file)
      if ((st.mode & 0o077) !== 0) {
        throw new ConfigError(
          `holds secrets but other users may read it (mode ${(st.mode & 0o777).toString(8)}); make it private: chmod 600 ${this.file}`,
          { file: this.file },
        )
      }
      text = await readFile(this.file, 'utf8')
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return {}
      if (e instanceof ConfigError) throw e
      throw new ConfigError(`cannot read: ${(e as Error).message}`, { file: this.file })
    }
    let doc: Record<string, unknown>
    try {
      doc = parse(text)
    } catch (e) {
      // The parser's message quotes the line, which may hold a secret: only the place is said.
      const line = e instanceof TomlError ? e.line : undefined
      throw new ConfigError('is not valid TOML; fix the line or remove the file and log in again', { file: this.file, line })
    }
    const out: Record<string, CredentialSection> = {}
    for (const [table, values] of Object.entries(doc)) {
      if (typeof values !== 'object' || values === null || Array.isArray(values)) {
        throw new ConfigError(`"${table}" must be a table ([${table}]) of provider settings`, { file: this.file, key: table })
      }
      const section: CredentialSection = {}
      for (const [k, v] of Object.entries(values)) {
        if (typeof v !== 'string')
          throw new ConfigError(`${table}.${k} must be a string (in quotes)`, { file: this.file, key: `${table}.${k}` })
        section[k] = v
      }
      out[table] = section
    }
    return out
  }

  /** One provider's table, if any. */
  async section(name: string): Promise<CredentialSection | undefined> {
    return (await this.read())[name]
  }

  /** Set keys of one table (undefined removes a key); the file is replaced atomically, 0600. */
  update(name: string, values: Record<string, string | undefined>): Promise<void> {
    const next = this.#writing.then(async () => {
      const all = await this.read()
      const section = { ...all[name] }
      for (const [k, v] of Object.entries(values)) {
        if (v === undefined) delete section[k]
        else section[k] = v
      }
      all[name] = section
      await writeFileAtomic(this.file, '# Cloudy provider credentials: keep private (mode 0600), never share.\n' + stringify(all) + '\n')
    })
    this.#writing = next.catch(() => {})
    return next
  }
}
