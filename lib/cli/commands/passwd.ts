/** `cloudy passwd`: re-wrap the master key under a new password; data is not touched. */
import { EXIT } from '../../errors.js'
import { cloudyPaths } from '../../paths.js'
import { Vault } from '../../vault/vault.js'
import { connect, requireConfig } from '../context.js'
import type { CliIo } from '../io.js'
import { readPassword } from '../password.js'

export interface PasswdArgs {
  kdf?: string
  passwordFile?: string
  newPasswordFile?: string
}

export async function passwd(io: CliIo, args: PasswdArgs): Promise<number> {
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
      // The new password never comes from CLOUDY_PASSWORD: that one is the current password.
      const fresh = await readPassword({
        passwordFile: args.newPasswordFile,
        env: { CLOUDY_PASSWORD: io.env.CLOUDY_NEW_PASSWORD, CLOUDY_PASSWORD_FILE: io.env.CLOUDY_NEW_PASSWORD_FILE },
        prompt: 'New master password: ',
        confirm: true,
        stdin: io.stdin,
        stderr,
      })
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
