/**
 * Typed errors. Every error a user can meet has a stable `code` (listed in the README) and an
 * `exitCode` from the command-line contract (docs/ARCHITECTURE.md, "The command line"), and a
 * message written for the user: what is wrong and what to do about it.
 */

/** Exit codes of the `cloudy` command (docs/ARCHITECTURE.md, "The command line"). */
export const EXIT = {
  OK: 0,
  FAILED: 1,
  USAGE: 2,
  WRONG_PASSWORD: 3,
  NO_VAULT: 4,
  PROVIDER: 5,
  PARTIAL: 6,
  INTEGRITY: 7,
} as const

export class CloudyError extends Error {
  /** Stable machine-readable code, e.g. `ECONFIG`. */
  readonly code: string
  /** Process exit code when this error ends a command. */
  readonly exitCode: number
  constructor(code: string, exitCode: number, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
    this.exitCode = exitCode
    this.name = new.target.name
  }
}

/** Bad command-line usage. */
export class UsageError extends CloudyError {
  constructor(message: string) {
    super('EUSAGE', EXIT.USAGE, message)
  }
}

/** config.toml (or another local setting) is malformed or names something impossible. */
export class ConfigError extends CloudyError {
  readonly file: string | undefined
  readonly line: number | undefined
  readonly key: string | undefined
  constructor(message: string, where: { file?: string; line?: number; key?: string } = {}) {
    const at = where.file ? `${where.file}${where.line ? `:${where.line}` : ''}: ` : ''
    super('ECONFIG', EXIT.USAGE, at + message)
    this.file = where.file
    this.line = where.line
    this.key = where.key
  }
}

/** The password does not open any key slot of the vault. */
export class WrongPasswordError extends CloudyError {
  constructor(message = 'wrong password: it opens none of the key slots of this vault. Nothing was changed.') {
    super('EPASSWORD', EXIT.WRONG_PASSWORD, message)
  }
}

/**
 * The vault's keys were changed by a rekey (`passwd --rekey`, `chain remove --rekey`) since
 * this password was set or this key was unlocked: it opens only the keys from before.
 */
export class KeysChangedError extends CloudyError {
  constructor() {
    super(
      'EKEYSCHANGED',
      EXIT.WRONG_PASSWORD,
      "the vault's keys were changed on another computer (cloudy passwd --rekey or chain remove --rekey): this password, or the key " +
        'the Cloudy service holds, opens only the keys from before, which seal nothing new. Nothing was changed. Give the new ' +
        'password (for the service: cloudy unlock).',
    )
  }
}

/** There is no vault at the configured place, or this computer has not joined one. */
export class NoVaultError extends CloudyError {
  constructor(message: string) {
    super('ENOVAULT', EXIT.NO_VAULT, message)
  }
}

/**
 * Why a provider refused: decides the advice, and whether a retry can help (none of these can;
 * a retryable failure is a `TransientError`).
 *  - `auth`: credentials wrong, expired or revoked;
 *  - `missing`: the bucket, folder or account named in the URL does not exist;
 *  - `quota`: the account is full;
 *  - `hostkey`: an SFTP server's host key is unknown or changed;
 *  - `unreachable`: no answer (after retries);
 *  - `refused`: any other refusal (permissions, bad request).
 */
export type ProviderErrorKind = 'auth' | 'missing' | 'quota' | 'hostkey' | 'unreachable' | 'refused'

/** The storage provider is unreachable or refused the request (auth, bucket, quota). */
export class ProviderError extends CloudyError {
  readonly provider: string
  readonly kind: ProviderErrorKind
  constructor(provider: string, message: string, options?: { cause?: unknown; kind?: ProviderErrorKind }) {
    super('EPROVIDER', EXIT.PROVIDER, `${provider}: ${message}`, options)
    this.provider = provider
    this.kind = options?.kind ?? 'refused'
  }
}

/**
 * A failure that trying again may cure: a dropped connection, a timeout, a 5xx, a 429. Providers
 * throw it; the retry policy (`providers/retry.ts`) retries it and, once out of tries, reports
 * a `ProviderError` of kind `unreachable`.
 */
export class TransientError extends CloudyError {
  /** The server asked to wait this long (Retry-After), in ms. */
  readonly retryAfterMs: number | undefined
  constructor(provider: string, message: string, options?: { cause?: unknown; retryAfterMs?: number }) {
    super('ETRANSIENT', EXIT.PROVIDER, `${provider}: ${message}`, options)
    this.retryAfterMs = options?.retryAfterMs
  }
}

/** An object the caller asked for does not exist on the provider. */
export class NotFoundError extends CloudyError {
  readonly key: string
  constructor(provider: string, key: string) {
    super('ENOTFOUND', EXIT.FAILED, `${provider}: no object at ${key}`)
    this.key = key
  }
}

/** A put with `ifAbsent` found the key already taken. */
export class AlreadyExistsError extends CloudyError {
  readonly key: string
  constructor(provider: string, key: string) {
    super('EEXIST', EXIT.FAILED, `${provider}: an object already exists at ${key}`)
    this.key = key
  }
}

/** Stored data failed authentication or does not match what refers to it. */
export class IntegrityError extends CloudyError {
  /** The provider key of the damaged object. */
  readonly object: string
  constructor(object: string, message: string, options?: { cause?: unknown }) {
    super('EINTEGRITY', EXIT.INTEGRITY, `integrity damage in ${object}: ${message}`, options)
    this.object = object
  }
}

/**
 * A prune on another computer deleted data this run was about to refer to, before this run could
 * keep it. Nothing was published; a new run stores the data again (the up-sync retries once).
 */
export class PrunedError extends CloudyError {
  constructor(what: string) {
    super(
      'EPRUNED',
      EXIT.FAILED,
      `a prune deleted ${what}, which this run uses, before it could be kept: nothing was published. ` +
        'Run the command again: it stores that data again.',
    )
  }
}

/** A head pointer went backwards: a storage account replaying an old state. */
export class RollbackError extends CloudyError {
  constructor(message: string) {
    super('EROLLBACK', EXIT.INTEGRITY, message)
  }
}

/**
 * Something the vault refers to is gone: a pack an index lists, a blob no index lists, a commit
 * a head names. Integrity damage (exit 7), with the way to see all of it.
 */
export class MissingError extends IntegrityError {
  constructor(object: string, what: string, options?: { cause?: unknown }) {
    super(object, `${what}. Run "cloudy check" to list all the damage.`, options)
  }
}

/** Another Cloudy process holds a lock this command needs (a mount's journal, a sync). */
export class LockedError extends CloudyError {
  /** The process holding it, when known. */
  readonly pid: number | undefined
  constructor(what: string, advice: string, pid?: number) {
    super('ELOCKED', EXIT.USAGE, `${what} is in use by another Cloudy process${pid ? ` (process ${pid})` : ''}: ${advice}`)
    this.pid = pid
  }
}

/** A local file of Cloudy's own (the mount's write journal) is damaged; what it held is named. */
export class LocalDamageError extends CloudyError {
  readonly file: string
  constructor(file: string, message: string, options?: { cause?: unknown }) {
    super('ELOCALDAMAGE', EXIT.INTEGRITY, `${file}: ${message}`, options)
    this.file = file
  }
}
