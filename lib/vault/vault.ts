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
  KeysChangedError,
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
import { deviceTag, homeStoreKey, spaceKey, spaceKeys, type EpochTrust, type SpaceKeys } from './keys.js'
import { EPOCH_PREFIX, openEpochRecord, openSealed, sealEpochRecord, sealedHash, trustOf, type EpochRecord } from './epochs.js'
import { CHAIN_SPACE as CHAIN } from './sealed-json.js'
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
  /** The key epoch whose master key it wraps (docs/FORMAT.md, "Key epochs"); absent: 0. */
  epoch?: number
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

/** A slot is bound to its vault, its name and (from epoch 1) its epoch. */
function slotAd(info: VaultInfo, slotId: string, epoch = 0): Buffer {
  return Buffer.from(epoch ? `${info.vaultId}/${slotId}/epoch-${epoch}` : `${info.vaultId}/${slotId}`, 'latin1')
}

/** The epochs whose records the vault holds (`keys/epoch-<n>`), ascending; none: epoch 0 only. */
export async function listEpochs(provider: Provider): Promise<number[]> {
  const out: number[] = []
  for await (const o of provider.list(EPOCH_PREFIX)) {
    const m = /^keys\/epoch-([1-9][0-9]{0,8})$/.exec(o.key)
    if (m) out.push(Number(m[1]))
  }
  return out.sort((a, b) => a - b)
}

/** The vault's latest key epoch (0 until the first rekey). */
async function latestEpoch(provider: Provider): Promise<number> {
  const epochs = await listEpochs(provider)
  return epochs[epochs.length - 1] ?? 0
}

export class Vault {
  /** Reached through `store` and `records` only (docs/ARCHITECTURE.md, "Layers"). */
  readonly #provider: Provider
  readonly info: VaultInfo
  /**
   * The master keys of every key epoch, oldest first: the first names everything, the last
   * (the current epoch's) seals what is written. Empty in a vault restricted to some spaces
   * (`restrict`).
   */
  #keys: Buffer[]
  /** The current key epoch. */
  #epoch: number
  /** What of the earlier epochs' objects is trusted (the current epoch's record). */
  #trust: EpochTrust | undefined
  #spaces = new Map<string, SpaceKeys>()
  /** Device tags known without the master key (a restricted vault). */
  #deviceTags = new Map<string, string>()

  private constructor(provider: Provider, info: VaultInfo, keys: Buffer[], epoch = 0, trust?: EpochTrust) {
    this.#provider = provider
    this.info = info
    this.#keys = keys
    this.#epoch = epoch
    this.#trust = trust
  }

  /** The current epoch's master key. */
  get #master(): Buffer | undefined {
    return this.#keys[this.#keys.length - 1]
  }

  /** The vault's key epoch this process works in (0 until the first rekey). */
  get epoch(): number {
    return this.#epoch
  }

  /** Space `space`'s store, with its keys: the way to a space's blobs, trees, commits and heads. */
  store(space: string, db: StateDb, options?: SpaceStoreOptions): SpaceStore {
    return new SpaceStore(this.#provider, this.space(space), db, { ...options, inFlight: this.#inFlight })
  }

  /** The uploads in flight of every store of this vault. */
  #inFlight = new Set<Promise<unknown>>()

  /**
   * Wait until no store of this vault has an upload in flight. A run that failed (an upload
   * refused) may still have packs on their way, each to be followed by its index file: sealed
   * after `close` wiped the keys, that file would be sealed with a zero key and read as damage.
   */
  async settle(): Promise<void> {
    while (this.#inFlight.size) await Promise.allSettled([...this.#inFlight])
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
    const v = new Vault(this.#provider, this.info, [], this.#epoch, this.#trust)
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
    const vault = new Vault(provider, info, [master])
    const slotId = await vault.#writeSlot(password, params, master, 0)
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
    const latest = await latestEpoch(provider)
    const { best: found, unfinished } = await findSlot(provider, info, password, latest)
    if (!found && unfinished)
      throw new WrongPasswordError(
        'this is the password a rekey (cloudy passwd --rekey or chain remove --rekey) was setting when it stopped, before it ' +
          'took effect: the password from before still holds. Give it, and run the rekey again. Nothing was changed.',
      )
    // After a rekey the old slots are gone: an old password is a wrong one, said so.
    if (!found)
      throw latest
        ? new WrongPasswordError(
            'wrong password: it opens none of the key slots of this vault. The vault was rekeyed on a computer of the chain ' +
              '(cloudy passwd --rekey or chain remove --rekey): give the password set then. Nothing was changed.',
          )
        : new WrongPasswordError()
    // A slot of an earlier epoch (a copy of one a rekey deleted, or one it had not deleted yet
    // when it stopped) opens only keys that no longer seal anything new.
    if (found.epoch < latest) {
      wipe(found.master)
      throw new KeysChangedError()
    }
    return Vault.#inEpoch(provider, info, found.master, found.epoch)
  }

  /** The vault in `epoch`, whose master key is `master`: its record gives the earlier keys. */
  static async #inEpoch(provider: Provider, info: VaultInfo, master: Buffer, epoch: number): Promise<Vault> {
    if (epoch === 0) return new Vault(provider, info, [master])
    const key = `${EPOCH_PREFIX}${epoch}`
    let sealed: Uint8Array
    try {
      sealed = await provider.get(key)
    } catch (e) {
      wipe(master)
      if (e instanceof NotFoundError) throw new IntegrityError(key, 'the record of the key epoch a key slot names is gone')
      throw e
    }
    const record = openEpochRecord(info.vaultId, epoch, master, sealed)
    if (!record) {
      wipe(master)
      throw new IntegrityError(key, 'the record of the key epoch fails authentication')
    }
    const keys = record.previous.map((b64) => {
      const k = secureKey(KEY_BYTES)
      const raw = Buffer.from(b64, 'base64')
      k.set(raw)
      wipe(raw)
      return k
    })
    return new Vault(provider, info, [...keys, master], epoch, trustOf(record))
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
    // The key of the latest epoch opens that epoch's record; any other is from before a rekey.
    const latest = await latestEpoch(provider)
    if (latest > 0) {
      const sealed = await provider.get(`${EPOCH_PREFIX}${latest}`)
      if (!openEpochRecord(info.vaultId, latest, master, sealed)) {
        wipe(master)
        throw new KeysChangedError()
      }
    }
    return Vault.#inEpoch(provider, info, master, latest)
  }

  /**
   * Refuse to write with keys a rekey replaced: a computer that opened the vault before
   * another one rekeyed it stops before it publishes (its objects would not be trusted).
   */
  async assertLatestEpoch(): Promise<void> {
    if (await this.newerEpochListed()) throw new KeysChangedError()
  }

  /** The index files of `space` the current epoch's record lists (all of them, in epoch 0: none). */
  trustedIndexes(space: string): ReadonlySet<string> {
    return this.#trust?.indexes.get(this.space(space).tag) ?? new Set()
  }

  /** Whether another computer rekeyed the vault since this process opened it. */
  async newerEpochListed(): Promise<boolean> {
    return (await latestEpoch(this.#provider)) > this.#epoch
  }

  /**
   * What `e`, met while this vault was open, means. An object that fails authentication after
   * another computer rekeyed the vault was sealed with a key this process never held: not
   * damage, but keys that are out of date (a service or a mount unlocked before the rekey).
   */
  async keysChangedOr(e: unknown): Promise<unknown> {
    if (!(e instanceof IntegrityError)) return e
    return (await this.newerEpochListed().catch(() => false)) ? new KeysChangedError() : e
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
    await this.assertLatestEpoch()
    const old = await listSlots(this.#provider)
    const opened: string[] = []
    for (const s of old)
      if (await tryOpenSlot(this.#provider, this.info, s, oldPassword).then((m) => m && (wipe(m.master), true))) opened.push(s)
    if (opened.length === 0) throw new WrongPasswordError()
    const params = kdfParams(options.kdf ?? 'moderate', randomBytes(sodium.crypto_pwhash_SALTBYTES))
    const fresh = await this.#writeSlot(newPassword, params, this.#master!, this.#epoch)
    for (const s of opened) if (s !== fresh) await this.#provider.delete(`keys/${s}`)
    // Slots of an earlier epoch that a stopped rekey left (its last step) go too: their
    // passwords open only keys that seal nothing new (check reports them as OLD SLOT).
    for (const s of old)
      if (!opened.includes(s) && ((await readSlot(this.#provider, s))?.epoch ?? 0) < this.#epoch) await this.#provider.delete(`keys/${s}`)
  }

  /**
   * Start a new key epoch (docs/FORMAT.md, "Key epochs"): a new random master key for all that
   * is written from now on, sealed in a slot for `newPassword`; the earlier keys, and what the
   * vault holds now that stays trusted, in the new epoch's record; then every other slot is
   * deleted, so no earlier password or key opens anything written after. `spaces`: every space
   * of the vault (their objects are looked at by tag). Returns the new epoch.
   */
  async rekey(
    newPassword: string,
    spaces: readonly string[],
    o: { kdf?: string; by: string; byName: string; reason: string },
  ): Promise<number> {
    return withVaultLock(this.#provider, this.#passwdLock(), async () => {
      await this.assertLatestEpoch()
      const trusted = await trustedNow(
        this.#provider,
        spaces.map((name) => this.space(name)),
        this.space(CHAIN),
        this.#trust,
      )
      const epoch = this.#epoch + 1
      const fresh = secureKey(KEY_BYTES)
      sodium.randombytes_buf(fresh)
      const record: EpochRecord = {
        format: 1,
        epoch,
        time: new Date().toISOString(),
        by: o.by,
        byName: o.byName,
        reason: o.reason,
        previous: this.#keys.map((k) => k.toString('base64')),
        trusted,
      }
      const old = await listSlots(this.#provider)
      // The slot first, then the record: a rekey stopped between leaves a slot no unlock uses
      // (its epoch has no record), and the old password still works. Then the old slots go.
      const params = kdfParams(o.kdf ?? 'moderate', randomBytes(sodium.crypto_pwhash_SALTBYTES))
      await this.#writeSlot(newPassword, params, fresh, epoch)
      await this.#provider.put(`${EPOCH_PREFIX}${epoch}`, sealEpochRecord(this.info.vaultId, fresh, record), { ifAbsent: true })
      for (const s of old) await this.#provider.delete(`keys/${s}`)
      // From now on this process seals with the new keys.
      this.#wipeSpaces()
      this.#keys.push(fresh)
      this.#epoch = epoch
      this.#trust = trustOf(record)
      return epoch
    })
  }

  async #writeSlot(password: string, params: KdfParams, master: Buffer, epoch: number): Promise<string> {
    const slotId = randomBytes(16).toString('hex')
    const kek = await deriveKek(password, params)
    try {
      const wrapped = seal(kek, BlobType.keySlot, slotAd(this.info, slotId, epoch), master)
      const slot: KeySlot = {
        format: VAULT_FORMAT,
        kdf: params,
        wrapped: Buffer.from(wrapped).toString('base64'),
        ...(epoch ? { epoch } : {}),
      }
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
      const of = (master: Uint8Array): Buffer => {
        const sk = spaceKey(master, app ? appSpace(app) : name)
        if (!app) return sk
        const home = homeStoreKey(sk)
        wipe(sk)
        return home
      }
      // Names from the first epoch's key, seals from the current one's (keys.ts).
      const all = this.#keys.map(of)
      k = spaceKeys(name, all[0]!, all[all.length - 1], all.slice(0, -1).reverse(), this.#trust)
      for (const key of all) wipe(key)
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
    if (!this.#keys[0]) throw new Error('this process holds no key to name devices')
    return deviceTag(this.#keys[0], deviceId)
  }

  /**
   * What `check` finds wrong with the key epochs: a record that does not open with the key this
   * vault holds for its epoch, or whose earlier keys differ from the ones held; and the slots of
   * earlier epochs a rekey left (stopped before deleting them: the old password still opens
   * those keys, which seal nothing new; "cloudy passwd" deletes them).
   */
  async epochProblems(): Promise<{ problems: { object: string; message: string }[]; staleSlots: string[] }> {
    const problems: { object: string; message: string }[] = []
    for (const n of await listEpochs(this.#provider)) {
      const key = `${EPOCH_PREFIX}${n}`
      const master = this.#keys[n]
      if (n > this.#epoch || !master) {
        problems.push({ object: key, message: `a key epoch after this computer's (${this.#epoch}): give the new password` })
        continue
      }
      const record = openEpochRecord(this.info.vaultId, n, master, await this.#provider.get(key))
      if (!record) problems.push({ object: key, message: 'the record of this key epoch fails authentication' })
      else if (record.previous.some((b64, i) => !Buffer.from(b64, 'base64').equals(this.#keys[i]!)))
        problems.push({ object: key, message: 'the record names other earlier keys than the later epochs do' })
    }
    const staleSlots: string[] = []
    for (const slotId of await listSlots(this.#provider)) {
      try {
        const slot = await readSlot(this.#provider, slotId)
        if (slot && (slot.epoch ?? 0) < this.#epoch) staleSlots.push(`keys/${slotId}`)
      } catch (e) {
        if (e instanceof IntegrityError) problems.push({ object: e.object, message: 'key slot is not valid JSON' })
        else throw e
      }
    }
    return { problems, staleSlots }
  }

  #wipeSpaces(): void {
    for (const k of this.#spaces.values()) {
      wipe(k.blobKey)
      wipe(k.idKey)
      for (const o of k.older) wipe(o)
    }
    this.#spaces.clear()
  }

  /** Forget every key held in memory. */
  close(): void {
    for (const k of this.#keys) wipe(k)
    this.#keys = []
    this.#wipeSpaces()
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

/** The key slot `slotId` as stored, or undefined once deleted. */
async function readSlot(provider: Provider, slotId: string): Promise<KeySlot | undefined> {
  try {
    return JSON.parse(Buffer.from(await provider.get(`keys/${slotId}`)).toString('utf8')) as KeySlot
  } catch (e) {
    if (e instanceof NotFoundError) return undefined
    if (e instanceof SyntaxError) throw new IntegrityError(`keys/${slotId}`, 'key slot is not valid JSON')
    throw e
  }
}

async function tryOpenSlot(
  provider: Provider,
  info: VaultInfo,
  slotId: string,
  password: string,
): Promise<{ master: Buffer; epoch: number } | undefined> {
  const slot = await readSlot(provider, slotId)
  if (!slot) return undefined
  const epoch = slot.epoch ?? 0
  if (!validKdfParams(slot.kdf) || typeof slot.wrapped !== 'string' || !Number.isInteger(epoch) || epoch < 0) {
    throw new IntegrityError(`keys/${slotId}`, 'key slot has invalid or unsafe KDF parameters')
  }
  const kek = await deriveKek(password, slot.kdf)
  try {
    const plain = open(kek, BlobType.keySlot, slotAd(info, slotId, epoch), Buffer.from(slot.wrapped, 'base64'))
    if (!plain || plain.length !== KEY_BYTES) return undefined
    const master = secureKey(KEY_BYTES)
    master.set(plain)
    wipe(plain)
    return { master, epoch }
  } finally {
    wipe(kek)
  }
}

/**
 * The slot `password` opens of the newest epoch up to `latest` (a slot of a later epoch belongs
 * to a rekey that stopped before writing that epoch's record: it is not used).
 */
async function findSlot(
  provider: Provider,
  info: VaultInfo,
  password: string,
  latest: number,
): Promise<{ best?: { slotId: string; master: Buffer; epoch: number }; unfinished: boolean }> {
  const slots = await listSlots(provider)
  if (slots.length === 0) throw new IntegrityError('keys/', 'the vault has no key slot: it cannot be opened by any password')
  let best: { slotId: string; master: Buffer; epoch: number } | undefined
  // A slot of an epoch with no record yet: a rekey stopped between its first two steps.
  let unfinished = false
  for (const slotId of slots) {
    const found = await tryOpenSlot(provider, info, slotId, password)
    if (!found) continue
    if (found.epoch > latest) unfinished = true
    if (found.epoch > latest || (best && best.epoch >= found.epoch)) wipe(found.master)
    else {
      if (best) wipe(best.master)
      best = { slotId, ...found }
    }
  }
  return { best, unfinished }
}

/**
 * What a rekey records as trusted (`EpochRecord.trusted`): every rewritable object of the vault
 * that opens now (with the current key, or trusted already from an earlier rekey), by the hash
 * of its sealed bytes, and every index file that does, by name.
 */
async function trustedNow(
  provider: Provider,
  spaces: readonly SpaceKeys[],
  chain: SpaceKeys,
  before: EpochTrust | undefined,
): Promise<EpochRecord['trusted']> {
  const objects: Record<string, string> = {}
  const indexes: Record<string, string[]> = {}
  const get = async (key: string) => {
    try {
      return await provider.get(key)
    } catch (e) {
      if (e instanceof NotFoundError) return undefined
      throw e
    }
  }
  const keep = async (key: string, keys: SpaceKeys, type: BlobType, ad: Uint8Array) => {
    const sealed = await get(key)
    if (sealed && openSealed(keys, type, ad, sealed, { kind: 'named', key })) objects[key] = sealedHash(sealed)
  }
  for await (const o of provider.list('devices/')) {
    const m = /^devices\/([0-9a-f]{32})(\.removed)?$/.exec(o.key)
    if (m) await keep(o.key, chain, BlobType.device, Buffer.concat([Buffer.from(m[1]!, 'hex'), Buffer.from(m[2] ?? '')]))
  }
  for await (const o of provider.list('selection/')) {
    const m = /^selection\/([0-9a-f]{32})$/.exec(o.key)
    if (m) await keep(o.key, chain, BlobType.selection, Buffer.concat([Buffer.from(m[1]!, 'hex'), Buffer.from('selection')]))
  }
  for await (const o of provider.list('clients/')) await keep(o.key, chain, BlobType.client, Buffer.from(o.key))
  await keep('moved', chain, BlobType.moved, Buffer.from('moved'))
  for (const keys of spaces) {
    const prefix = `s/${keys.tag}/`
    const named: [string, BlobType][] = [
      ['heads', BlobType.head],
      ['forgotten', BlobType.forgotten],
      ['prune', BlobType.pruneMark],
    ]
    for (const [kind, type] of named)
      for await (const o of provider.list(`${prefix}${kind}/`)) {
        const name = o.key.slice(o.key.lastIndexOf('/') + 1)
        if (/^[0-9a-f]+$/.test(name) && name.length % 2 === 0) await keep(o.key, keys, type, Buffer.from(name, 'hex'))
      }
    const names: string[] = []
    for await (const o of provider.list(`${prefix}index/`)) {
      const name = o.key.slice(o.key.lastIndexOf('/') + 1)
      if (!/^[0-9a-f]{64}$/.test(name)) continue
      if (before?.indexes.get(keys.tag)?.has(name)) names.push(name)
      else {
        const sealed = await get(o.key)
        if (sealed && openSealed(keys, BlobType.index, Buffer.from(name, 'hex'), sealed, { kind: 'current' })) names.push(name)
      }
    }
    if (names.length) indexes[keys.tag] = names.sort()
  }
  return { objects, indexes }
}
