/**
 * The vault: `cloudy.json` (plaintext, no secrets), password key slots under `keys/`, and the
 * master key they wrap. An unlocked Vault hands out space keys; it never writes the password or
 * the master key anywhere.
 */
import { withVaultLock, type VaultLock } from './vault-lock.js'
import {
  AlreadyExistsError,
  CloudyError,
  EXIT,
  IntegrityError,
  LockedError,
  NoVaultError,
  NotFoundError,
  WrongPasswordError,
} from '../errors.js'
import type { Provider } from '../../providers/provider.js'
import type { StateDb } from '../state/db.js'
import { RecordStore } from '../store/records.js'
import { readPulse, watchPulse } from '../store/pulse.js'
import { SpaceStore, type SpaceStoreOptions } from '../store/space-store.js'
import { BlobType, open, seal } from './aead.js'
import { deriveKek, kdfParams, validKdfParams, type KdfParams } from './kdf.js'
import { deviceTag, homeStoreKey, spaceKey, spaceKeys, type SpaceKeys } from './keys.js'
import { appOfHomeSpace, appSpace } from '../apps/app-spaces.js'
import { KEY_BYTES, randomBytes, secureKey, sodium, wipe } from './sodium.js'

export const VAULT_FORMAT = 1
export const VAULT_FILE = 'cloudy.json'

/** Contents of `cloudy.json`. */
export interface VaultInfo {
  format: number
  /** Random hex id of the vault; binds key slots to it. */
  vaultId: string
  /** ISO time of `cloudy init`. */
  created: string
}

/** A password key slot as stored in `keys/<id>` (JSON). */
interface KeySlot {
  format: number
  kdf: KdfParams
  /** Base64 of the sealed master key (nonce || ciphertext || tag). */
  wrapped: string
}

/** Held by a `passwd` while it replaces key slots (not a slot: slot ids are 32 hex digits). */
const PASSWD_LOCK = 'keys/passwd.lock'
/** Longer than any change takes (two Argon2 runs and a few requests). */
const PASSWD_LOCK_STALE_MS = 10 * 60_000

const json = (v: unknown) => Buffer.from(JSON.stringify(v, null, 1) + '\n')

export async function readVaultInfo(provider: Provider): Promise<VaultInfo> {
  let raw: Uint8Array
  try {
    raw = await provider.get(VAULT_FILE)
  } catch (e) {
    if (e instanceof NotFoundError) {
      throw new NoVaultError(`no Cloudy vault at ${provider.name}: run "cloudy init" to create one, or check --provider and --root`)
    }
    throw e
  }
  let info: VaultInfo
  try {
    info = JSON.parse(Buffer.from(raw).toString('utf8')) as VaultInfo
  } catch (e) {
    throw new IntegrityError(VAULT_FILE, 'not valid JSON', { cause: e })
  }
  if (typeof info.vaultId !== 'string' || !/^[0-9a-f]{32}$/.test(info.vaultId)) {
    throw new IntegrityError(VAULT_FILE, 'no valid vaultId')
  }
  if (info.format !== VAULT_FORMAT) {
    throw new CloudyError(
      'EFORMAT',
      EXIT.FAILED,
      `the vault at ${provider.name} has format ${info.format}; this Cloudy reads format ${VAULT_FORMAT}: upgrade Cloudy`,
    )
  }
  return info
}

function slotAd(info: VaultInfo, slotId: string): Buffer {
  return Buffer.from(`${info.vaultId}/${slotId}`, 'latin1')
}

export class Vault {
  /** Reached through `store` and `records` only (docs/ARCHITECTURE.md, "Layers"). */
  readonly #provider: Provider
  readonly info: VaultInfo
  /** Undefined in a vault restricted to some spaces (`restrict`). */
  #master: Buffer | undefined
  #spaces = new Map<string, SpaceKeys>()
  /** Device tags known without the master key (a restricted vault). */
  #deviceTags = new Map<string, string>()

  private constructor(provider: Provider, info: VaultInfo, master: Buffer | undefined) {
    this.#provider = provider
    this.info = info
    this.#master = master
  }

  /** Space `space`'s store, with its keys: the way to a space's blobs, trees, commits and heads. */
  store(space: string, db: StateDb, options?: SpaceStoreOptions): SpaceStore {
    return new SpaceStore(this.#provider, this.space(space), db, options)
  }

  /** The records under `prefix` (device records, selection records). */
  records(prefix: string): RecordStore {
    return new RecordStore(this.#provider, prefix)
  }

  /** The chain's pulse (lib/store/pulse.ts): what changed since `readPulse` said this, or undefined for nothing new. */
  readPulse(): Promise<string | undefined> {
    return readPulse(this.#provider)
  }

  /** `onBeat` on each pulse, through the provider's change feed; undefined when it has none. */
  watchPulse(onBeat: () => void, signal: AbortSignal): Promise<void> | undefined {
    return watchPulse(this.#provider, onBeat, signal)
  }

  /** Whether the storage account is on this computer's disk (caching its objects on disk again gains nothing). */
  get local(): boolean {
    return this.#provider.local === true
  }

  /** The storage account, as its provider names it (for messages). */
  get where(): string {
    return this.#provider.name
  }

  /**
   * A vault that holds the keys of `spaces` and the tags of `devices` only, and this one
   * forgotten (master key wiped): what a process that must reach one space alone keeps. Any
   * other space is out of its reach: it does not have the key.
   */
  restrict(spaces: readonly string[], devices: readonly string[]): Vault {
    const v = new Vault(this.#provider, this.info, undefined)
    for (const name of spaces) {
      v.#spaces.set(name, this.space(name))
      this.#spaces.delete(name)
    }
    for (const id of devices) v.#deviceTags.set(id, this.deviceTag(id))
    this.close()
    return v
  }

  /** Create a new vault on `provider`. Fails if one exists there. */
  static async create(provider: Provider, password: string, options: { kdf?: string } = {}): Promise<Vault> {
    const params = kdfParams(options.kdf ?? 'moderate', randomBytes(sodium.crypto_pwhash_SALTBYTES))
    if (await provider.stat(VAULT_FILE)) {
      throw new CloudyError(
        'EVAULTEXISTS',
        EXIT.USAGE,
        `a Cloudy vault already exists at ${provider.name}: use "cloudy join" to add this computer to it, or pick another --root`,
      )
    }
    const info: VaultInfo = { format: VAULT_FORMAT, vaultId: randomBytes(16).toString('hex'), created: new Date().toISOString() }
    const master = secureKey(KEY_BYTES)
    sodium.randombytes_buf(master)
    const vault = new Vault(provider, info, master)
    const slotId = await vault.#writeSlot(password, params)
    try {
      // cloudy.json last: until it exists there is no vault, so a crash leaves nothing half-made.
      await provider.put(VAULT_FILE, json(info), { ifAbsent: true })
    } catch (e) {
      await provider.delete(`keys/${slotId}`)
      if (e instanceof AlreadyExistsError) {
        throw new CloudyError(
          'EVAULTEXISTS',
          EXIT.USAGE,
          `a Cloudy vault was created at ${provider.name} at the same moment: use "cloudy join"`,
        )
      }
      throw e
    }
    return vault
  }

  /** Open the vault with the master password; WrongPasswordError if no slot opens. */
  static async unlock(provider: Provider, password: string): Promise<Vault> {
    const info = await readVaultInfo(provider)
    const found = await findSlot(provider, info, password)
    if (!found) throw new WrongPasswordError()
    return new Vault(provider, info, found.master)
  }

  /**
   * Open the vault with its master key, as the unlocked service of this user hands it to this
   * user's commands (lib/daemon/service.ts): refused unless it is this vault's.
   */
  static async withMasterKey(provider: Provider, vaultId: string, key: Uint8Array): Promise<Vault> {
    const info = await readVaultInfo(provider)
    if (info.vaultId !== vaultId || key.length !== KEY_BYTES)
      throw new CloudyError(
        'EOTHERVAULT',
        EXIT.USAGE,
        `the Cloudy service holds the keys of another vault than the one at ${provider.name}`,
      )
    const master = secureKey()
    master.set(key)
    return new Vault(provider, info, master)
  }

  /** A copy of the master key, for this user's commands (the caller wipes it once sent). */
  masterKeyCopy(): Buffer {
    if (!this.#master) throw new Error('this process holds no master key')
    return Buffer.from(this.#master)
  }

  /**
   * Re-wrap the master key under a new password: a new slot is written first, then the slots
   * the old password opened are removed. Data is untouched; the old password stops working.
   */
  async changePassword(oldPassword: string, newPassword: string, options: { kdf?: string } = {}): Promise<void> {
    // One change at a time across the chain: two at once would each remove the old slot and
    // leave both new passwords working.
    await withVaultLock(this.#provider, this.#passwdLock(), () => this.#changePassword(oldPassword, newPassword, options))
  }

  #passwdLock(): VaultLock {
    return {
      key: PASSWD_LOCK,
      staleMs: PASSWD_LOCK_STALE_MS,
      refused: (since) =>
        new LockedError(
          `the master password of the vault at ${this.#provider.name}`,
          `another computer is changing it${since ? ` since ${since.toISOString()}` : ''}, and the last change must be the one that holds. Nothing was changed here: ` +
            `run "cloudy passwd" again once it is done, with the password it set (a change stopped half-way frees it after ` +
            `${PASSWD_LOCK_STALE_MS / 60_000} minutes)`,
        ),
    }
  }

  /** Run `fn` holding the lock `lock` of this vault (vault-lock.ts). */
  exclusive<T>(lock: VaultLock, fn: () => Promise<T>): Promise<T> {
    return withVaultLock(this.#provider, lock, fn)
  }

  async #changePassword(oldPassword: string, newPassword: string, options: { kdf?: string }): Promise<void> {
    const old = await listSlots(this.#provider)
    const opened: string[] = []
    for (const s of old) if (await tryOpenSlot(this.#provider, this.info, s, oldPassword).then((m) => m && (wipe(m), true))) opened.push(s)
    if (opened.length === 0) throw new WrongPasswordError()
    const params = kdfParams(options.kdf ?? 'moderate', randomBytes(sodium.crypto_pwhash_SALTBYTES))
    const fresh = await this.#writeSlot(newPassword, params)
    for (const s of opened) if (s !== fresh) await this.#provider.delete(`keys/${s}`)
  }

  async #writeSlot(password: string, params: KdfParams): Promise<string> {
    const slotId = randomBytes(16).toString('hex')
    const kek = await deriveKek(password, params)
    try {
      const wrapped = seal(kek, BlobType.keySlot, slotAd(this.info, slotId), this.#master!)
      const slot: KeySlot = { format: VAULT_FORMAT, kdf: params, wrapped: Buffer.from(wrapped).toString('base64') }
      await this.#provider.put(`keys/${slotId}`, json(slot), { ifAbsent: true })
    } finally {
      wipe(kek)
    }
    return slotId
  }

  /** Keys of a space (`settings`, `app/<id>`, …); derived once, kept in secure memory. */
  space(name: string): SpaceKeys {
    let k = this.#spaces.get(name)
    if (!k) {
      if (!this.#master) throw new Error(`this process holds no key for the space ${name}`)
      // An application's home store has its key from the application's (app-spaces.ts).
      const app = appOfHomeSpace(name)
      const sk = spaceKey(this.#master, app ? appSpace(app) : name)
      const key = app ? homeStoreKey(sk) : sk
      k = spaceKeys(name, key)
      wipe(sk)
      if (key !== sk) wipe(key)
      this.#spaces.set(name, k)
    }
    return k
  }

  /** Whether this process can open space `name` (a restricted vault holds a few keys only). */
  holds(name: string): boolean {
    return this.#spaces.has(name) || !!this.#master
  }

  deviceTag(deviceId: string): string {
    const known = this.#deviceTags.get(deviceId)
    if (known) return known
    if (!this.#master) throw new Error('this process holds no key to name devices')
    return deviceTag(this.#master, deviceId)
  }

  /** Forget every key held in memory. */
  close(): void {
    if (this.#master) wipe(this.#master)
    this.#master = undefined
    for (const k of this.#spaces.values()) {
      wipe(k.blobKey)
      wipe(k.idKey)
    }
    this.#spaces.clear()
  }
}

async function listSlots(provider: Provider): Promise<string[]> {
  const ids: string[] = []
  for await (const o of provider.list('keys/')) {
    const id = o.key.slice('keys/'.length)
    if (/^[0-9a-f]{32}$/.test(id)) ids.push(id)
  }
  return ids.sort()
}

async function tryOpenSlot(provider: Provider, info: VaultInfo, slotId: string, password: string): Promise<Buffer | undefined> {
  let slot: KeySlot
  try {
    slot = JSON.parse(Buffer.from(await provider.get(`keys/${slotId}`)).toString('utf8')) as KeySlot
  } catch (e) {
    if (e instanceof NotFoundError) return undefined
    if (e instanceof SyntaxError) throw new IntegrityError(`keys/${slotId}`, 'key slot is not valid JSON')
    throw e
  }
  if (!validKdfParams(slot.kdf) || typeof slot.wrapped !== 'string') {
    throw new IntegrityError(`keys/${slotId}`, 'key slot has invalid or unsafe KDF parameters')
  }
  const kek = await deriveKek(password, slot.kdf)
  try {
    const plain = open(kek, BlobType.keySlot, slotAd(info, slotId), Buffer.from(slot.wrapped, 'base64'))
    if (!plain || plain.length !== KEY_BYTES) return undefined
    const master = secureKey(KEY_BYTES)
    master.set(plain)
    wipe(plain)
    return master
  } finally {
    wipe(kek)
  }
}

async function findSlot(provider: Provider, info: VaultInfo, password: string): Promise<{ slotId: string; master: Buffer } | undefined> {
  const slots = await listSlots(provider)
  if (slots.length === 0) throw new IntegrityError('keys/', 'the vault has no key slot: it cannot be opened by any password')
  for (const slotId of slots) {
    const master = await tryOpenSlot(provider, info, slotId, password)
    if (master) return { slotId, master }
  }
  return undefined
}
