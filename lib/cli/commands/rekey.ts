/**
 * A new key epoch from the command line (`passwd --rekey`, `chain remove --rekey`): the new
 * password is read, the vault rekeyed (lib/vault/epochs.ts), and this device's record sealed
 * again with the new keys.
 */
import type { Session } from '../../session.js'
import { touchDevice } from '../../sync/chain.js'
import { allSpaces } from '../../sync/spaces.js'
import type { CliIo } from '../io.js'
import { readPassword } from '../password.js'

export interface RekeyArgs {
  kdf?: string
  newPasswordFile?: string
}

/** The new master password: never CLOUDY_PASSWORD (that is the current one). */
export function readNewPassword(io: CliIo, args: RekeyArgs): Promise<string> {
  return readPassword({
    passwordFile: args.newPasswordFile,
    env: { CLOUDY_PASSWORD: io.env.CLOUDY_NEW_PASSWORD, CLOUDY_PASSWORD_FILE: io.env.CLOUDY_NEW_PASSWORD_FILE },
    prompt: 'New master password: ',
    confirm: true,
    stdin: io.stdin,
    stderr: io.stderr as NodeJS.WriteStream,
  })
}

/** Start a new key epoch with `password`; returns the epoch. */
export async function rekey(s: Session, password: string, args: RekeyArgs, reason: string): Promise<number> {
  const epoch = await s.vault.rekey(password, await allSpaces(s.vault, s.db), {
    kdf: args.kdf,
    by: s.vault.deviceTag(s.device.id),
    byName: s.device.name,
    reason,
  })
  await touchDevice(s.vault, s.device, 'seen', s.db)
  return epoch
}

export const REKEYED =
  'the earlier password and keys (an old key slot, a removed computer) open nothing written from now on; ' +
  'the other computers ask for the new password once.'
