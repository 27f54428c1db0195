/** `cloudy provider login dropbox|gdrive`: OAuth in the browser, tokens into credentials.toml. */
import { CredentialStore } from '../../credentials.js'
import { EXIT } from '../../errors.js'
import { cloudyPaths } from '../../paths.js'
import type { CliIo } from '../io.js'

export async function providerLogin(
  io: CliIo,
  args: { kind: 'dropbox' | 'gdrive'; options: Record<string, string | undefined> },
): Promise<number> {
  const paths = cloudyPaths(io.env)
  const context = {
    credentials: new CredentialStore(paths.credentialsFile),
    env: io.env,
    say: (text: string) => void io.stderr.write(text.endsWith('\n') ? text : text + '\n'),
    options: args.options,
  }
  if (args.kind === 'dropbox') await (await import('../../../providers/dropbox.js')).loginDropbox(context)
  else await (await import('../../../providers/gdrive.js')).loginGdrive(context)
  io.stdout.write(`Connected to ${args.kind === 'dropbox' ? 'Dropbox' : 'Google Drive'}; the tokens are in ${paths.credentialsFile}.\n`)
  return EXIT.OK
}
