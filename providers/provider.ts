/**
 * The Provider interface: the one seam between Cloudy and a storage account.
 *
 * Keys are `/`-separated relative paths (`s/ab12/packs/3f/3f9c…`), never starting with `/`,
 * made only of `[A-Za-z0-9._-]` segments. A provider maps them below its own root folder.
 * The doc comments here are the contract; `test/contract/suite.ts` checks every provider
 * against it.
 */

/** A byte range: `length` bytes from `offset`. */
export interface ByteRange {
  /** First byte, counted from 0. */
  offset: number
  /** Number of bytes; a range reaching past the end is cut at the end. */
  length: number
}

/** What `stat` and `list` tell of an object. */
export interface ObjectInfo {
  /** The key, relative to the provider root. */
  key: string
  /** Size in bytes. */
  size: number
  /** Last modification time in ms since the epoch, when the provider knows it. */
  mtimeMs?: number
  /**
   * Where a listing broken off after this object may pick up again, for providers that list
   * by pages: given back as `list(prefix, { resume })`, the listing goes on from the page this
   * object was on (so objects of that page may come again). Opaque; absent when the provider
   * can only list from the start.
   */
  resume?: string
}

/** Options of `list`. */
export interface ListOptions {
  /** Go on from a `resume` token of an earlier listing of the same prefix. */
  resume?: string
}

/** A change a provider's change feed reports (`watch`). */
export type ProviderChange =
  /** An object was stored (new or replaced). */
  | { type: 'put'; key: string; size: number; mtimeMs?: number }
  /** An object was deleted; the key may be a folder's, then everything under `key/` is gone too. */
  | { type: 'delete'; key: string }
  /** The feed cannot say what changed (it was reset): list the prefix again. */
  | { type: 'resync' }

/** Options of `put`. */
export interface PutOptions {
  /**
   * Store only if nothing exists at the key yet; otherwise reject with `AlreadyExistsError`
   * and leave the existing object untouched. Two concurrent if-absent puts of one key: exactly
   * one succeeds.
   */
  ifAbsent?: boolean
}

/** Bytes to store: whole, or streamed (never held whole in memory by the provider). */
export type PutBody = Uint8Array | AsyncIterable<Uint8Array>

export interface Provider {
  /** Short human name used in messages, e.g. `local:/srv/vault`; no credentials. */
  readonly name: string

  /**
   * How many large transfers (packs) at once serve this provider best: a remote one hides its
   * round trips behind several; a local disk gains nothing from more than one. Default 1.
   */
  readonly parallelism?: number

  /** True when the objects are on this computer's disk: caching them on disk again gains nothing. */
  readonly local?: boolean

  /**
   * Read an object, or `range` of it. Rejects with `NotFoundError` when the key does not
   * exist. A range past the end returns the bytes that exist (possibly none).
   */
  get(key: string, range?: ByteRange): Promise<Uint8Array>

  /**
   * Store an object atomically: readers see the old object or the whole new one, never a part;
   * a failed or interrupted put leaves no object at the key (nor a partial one).
   * Overwrites unless `options.ifAbsent`.
   */
  put(key: string, body: PutBody, options?: PutOptions): Promise<void>

  /**
   * Every object whose key starts with `prefix` (a folder prefix ends with `/`), in no set
   * order, each once. Temporary files of in-flight puts are never listed.
   */
  list(prefix: string, options?: ListOptions): AsyncIterable<ObjectInfo>

  /** Remove an object. Deleting a missing key is not an error. */
  delete(key: string): Promise<void>

  /** Size and time of an object, or `undefined` when it does not exist. */
  stat(key: string): Promise<ObjectInfo | undefined>

  /**
   * The provider's own change feed, where it has one (Dropbox's longpoll, Drive's changes):
   * calls `onChange` for changes under `prefix` made from now on, until `signal` aborts (then
   * resolves). Without it, a watcher polls `list`. Transient failures are ridden out inside.
   */
  watch?(prefix: string, onChange: (change: ProviderChange) => void | Promise<void>, signal: AbortSignal): Promise<void>

  /**
   * True when `watch` itself polls the service at an interval (Google Drive's changes list):
   * a follower wanting changes within a second reads a small object instead.
   */
  readonly watchPolls?: boolean

  /** Release connections and handles. The provider is unusable afterwards. */
  close(): Promise<void>
}
