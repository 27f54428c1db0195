/**
 * What a test storage server gives the tests and the bench: everything a computer needs to use
 * it, as a user would set it up. Each server runs on 127.0.0.1 only, in temp folders of its own.
 */
export interface TestServer {
  /** A provider URL of a fresh, empty place on the server (a new one at every call). */
  newUrl(): string
  /** The credentials.toml tables a computer needs for it (e.g. `{ s3: { access_key_id: … } }`). */
  credentials: Record<string, Record<string, string>>
  /** Environment a computer needs for it (the fakes' API addresses; nothing for real servers). */
  env: Record<string, string>
  /** Stop the server and remove its files. */
  stop(): Promise<void>
}
