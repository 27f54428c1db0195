/**
 * `cloudy passwd`: re-wrap the master key under a new password; data is not touched. With
 * `--rekey`, a new key epoch: a new master key for everything written from now on.
 */
import { EXIT } from '../../errors.js'
import { cloudyPaths } from '../../paths.js'
import { Vault } from '../../vault/vault.js'
import { connect, openSession, requireConfig } from '../context.js'
import { readNewPassword, rekey, REKEYED } from './rekey.js'
import type { CliIo } from '../io.js'
import { readPassword } from '../password.js'

export interface PasswdArgs {
  kdf?: string
  passwordFile?: string
  newPasswordFile?: string
  rekey?: boolean
}

export async function passwd(io: CliIo, args: PasswdArgs): Promise<number> {
  if (args.rekey) {
    const s = await openSession(io, args)
    try {
      const epoch = await rekey(s, await readNewPassword(io, args), args, 'passwd')
      io.stdout.write(`Master password changed and the vault rekeyed (key epoch ${epoch}): ${REKEYED}\n`)
      return EXIT.OK
    } finally {
      await s.close()
    }
  }
  const paths = cloudyPaths(io.env)
  const config = await requireConfig(paths)
  const provider = await connect(io, paths, config.vault.provider!, config.vault.root)
  try {
    const stderr = io.stderr as NodeJS.WriteStream
    const old = await readPassword({
      passwordFile: args.passwordFile,
      env: io.env,
      prompt: 'Current master password: ',
      stdin: io.stdin,
      stderr,
    })
    const vault = await Vault.unlock(provider, old)
    try {
      const fresh = await readNewPassword(io, args)
      await vault.changePassword(old, fresh, { kdf: args.kdf })
    } finally {
      vault.close()
    }
    io.stdout.write('Master password changed; the old one no longer opens the vault.\n')
    return EXIT.OK
  } finally {
    await provider.close()
  }
}
