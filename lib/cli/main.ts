/**
 * The `cloudy` command line. `main(argv, io)` parses, runs one command and returns its exit
 * code (docs/ARCHITECTURE.md, "The command line"): it never calls `process.exit`, so tests
 * drive it in process.
 */
import yargs, { type Argv } from 'yargs'
import { CloudyError, EXIT, MissingError, NotFoundError } from '../errors.js'
import { cloudyPaths } from '../paths.js'
import { ownFilesProblem, type OwnFolders } from '../state/own-file-errors.js'
// Commands are imported when run: a command loads only the modules it uses (start-up time is
// most of a no-change run).
import { COMPLETE_FLAG, completionScript, SHELLS } from './completion.js'
import { defaultIo, type CliIo } from './io.js'
import { packageVersion } from './version.js'

const passwordOption = {
  'password-file': { type: 'string', describe: 'read the master password from the first line of this file' },
} as const

function withJson<T>(y: Argv<T>) {
  return y.options({ ...passwordOption, json: { type: 'boolean', describe: 'print one JSON document on stdout' } })
}

/** restic's --keep-* options (lib/sync/retention.ts): counts take `unlimited`, so all are strings here. */
function withKeep<T>(y: Argv<T>) {
  const count = (what: string) => ({
    type: 'string' as const,
    describe: `keep the newest commit of each of the last N ${what} (or unlimited)`,
  })
  return y.options({
    'keep-last': { type: 'string', describe: 'keep the newest N commits (or unlimited)' },
    'keep-hourly': count('hours'),
    'keep-daily': count('days'),
    'keep-weekly': count('weeks'),
    'keep-monthly': count('months'),
    'keep-yearly': count('years'),
    'keep-within': { type: 'string', describe: 'keep every commit less than this much older than the newest (e.g. 1y6m, 30d, 12h)' },
  })
}

/** prune's options (also `forget --prune`'s). */
function withPrune<T>(y: Argv<T>) {
  return y.options({
    'max-unused': { type: 'string', describe: 'unused data to leave in packs rather than copy them: 5% (the default), 100M, or unlimited' },
    grace: {
      type: 'string',
      describe: 'how long a mark stands before what it names is deleted (default 10m): an up-sync under way sees it first',
    },
    wait: { type: 'boolean', default: true, describe: 'wait for the grace period and delete (--no-wait: the next prune deletes)' },
    reencrypt: {
      type: 'boolean',
      describe:
        'after a rekey: seal anew with the new keys what the earlier ones seal (copying it out of its packs), so they open none of it',
    },
  })
}

/** prune's options as given. */
function pruneArgs(a: { 'max-unused'?: string; grace?: string; wait?: boolean; reencrypt?: boolean }) {
  return { maxUnused: a['max-unused'], grace: a.grace, wait: a.wait, reencrypt: a.reencrypt }
}

/** The --keep-* options given, as the words of a policy (lib/sync/retention.ts parses them). */
function keepArgs(a: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {}
  for (const rule of ['last', 'hourly', 'daily', 'weekly', 'monthly', 'yearly', 'within'])
    if (a[`keep-${rule}`] !== undefined) out[rule] = String(a[`keep-${rule}`])
  return out
}

export async function main(argv: readonly string[], io: CliIo = defaultIo()): Promise<number> {
  let run: (() => Promise<number>) | undefined
  // yargs may fail twice for one mistake ("Did you mean status?", then "Unknown argument:
  // stauts"): both are said, the suggestion last.
  const usageErrors: string[] = []
  let output = ''
  /** `add` or `remove`: one change of the chain's selection, each way. */
  const changeCommand = (verb: 'add' | 'remove', describe: string, exclude: string, secret: string) => ({
    command: `${verb} <targets..>`,
    describe,
    builder: (y: Argv) =>
      withJson(y)
        .positional('targets', {
          type: 'string',
          array: true,
          demandOption: true,
          describe: 'a path under HOME, an application id or a category',
        })
        .options({ exclude: { type: 'boolean', describe: exclude }, secret: { type: 'boolean', describe: secret } }),
    handler: (a: { targets: string[]; exclude?: boolean; secret?: boolean; 'password-file'?: string; json?: boolean }) => {
      run = async () =>
        (await import('./commands/selection.js')).change(
          io,
          { targets: a.targets, exclude: a.exclude, secret: a.secret, passwordFile: a['password-file'], json: a.json },
          verb === 'add',
        )
    },
  })
  const parser = yargs([...argv])
    .scriptName('cloudy')
    .usage('$0 <command>\n\nEnd-to-end encrypted sync of your settings and application data.')
    .env(false)
    .strict()
    .exitProcess(false)
    .wrap(Math.min(100, process.stdout.columns ?? 100))
    .fail((msg, err) => {
      // A .check() that returns a message passes it as the "error" too: a usage error like the others.
      if (err && typeof err !== 'string') throw err
      if (msg.startsWith('Did you mean')) usageErrors.push(msg)
      else usageErrors.unshift(msg)
    })
    .recommendCommands()
    .command(
      'init',
      'create a vault on a storage account and make this computer its first device',
      (y) =>
        withJson(y).options({
          provider: {
            type: 'string',
            describe:
              'where the vault lives: /abs/path, local:/abs/path, s3://bucket/prefix?endpoint=URL&region=R, sftp://user@host:port/path, dropbox:/path, gdrive:/path (default: a local folder)',
          },
          root: { type: 'string', describe: 'folder of the vault inside the storage account', default: 'Cloudy' },
          kdf: { choices: ['interactive', 'moderate', 'sensitive'] as const, default: 'moderate', describe: 'Argon2id cost' },
          name: { type: 'string', describe: "this computer's name in the chain (default: the host name)" },
          collect: {
            type: 'string',
            array: true,
            choices: ['settings', 'apps', 'system', 'inventory'],
            describe: 'the categories the chain collects from the start (default: all; "cloudy add CATEGORY" later)',
          },
          'auto-apps': {
            type: 'boolean',
            default: true,
            describe:
              'add the catalog applications found on each computer to what the chain collects (--no-auto-apps: choose them with "cloudy add")',
          },
        }),
      (a) => {
        run = async () =>
          (await import('./commands/init.js')).init(io, {
            autoApps: a['auto-apps'],
            collect: a.collect,
            provider: a.provider,
            root: a.root,
            kdf: a.kdf,
            name: a.name,
            passwordFile: a['password-file'],
            json: a.json,
          })
      },
    )
    .command(
      'setup',
      'the first run: where the vault lives, the master password, what to collect, the first up-sync and the service (asks on a terminal; flags for scripts)',
      (y) =>
        y.options({
          ...passwordOption,
          provider: { type: 'string', describe: 'where the vault lives (as init takes it; default: a local folder)' },
          root: { type: 'string', describe: 'folder of the vault inside the storage account', default: 'Cloudy' },
          name: { type: 'string', describe: "this computer's name in the chain (default: the host name)" },
          kdf: { choices: ['interactive', 'moderate', 'sensitive'] as const, default: 'moderate', describe: 'Argon2id cost' },
          collect: {
            type: 'string',
            array: true,
            choices: ['settings', 'apps', 'system', 'inventory'],
            describe: 'the categories the chain collects (default: ask, or all)',
          },
          add: { type: 'string', array: true, describe: 'files and folders to collect from the start (default: ask, or none)' },
          'auto-apps': { type: 'boolean', describe: 'add the catalog applications found on each computer (default: ask, or yes)' },
          service: { type: 'boolean', describe: 'start the service at each login (default: ask, or no)' },
          force: { type: 'boolean', describe: 'take a master password the strength estimate calls too guessable' },
        }),
      (a) => {
        run = async () =>
          (await import('./commands/setup.js')).setup(io, {
            provider: a.provider,
            root: a.root,
            name: a.name,
            kdf: a.kdf,
            collect: a.collect,
            add: a.add,
            autoApps: a['auto-apps'],
            service: a.service,
            force: a.force,
            passwordFile: a['password-file'],
          })
      },
    )
    .command(
      'join',
      "add this computer (and OS user) to an existing vault's chain",
      (y) =>
        withJson(y)
          .options({
            provider: { type: 'string', describe: 'where the vault lives (as given to init)' },
            root: { type: 'string', describe: 'folder of the vault inside the storage account', default: 'Cloudy' },
            name: { type: 'string', describe: "this computer's name in the chain (default: the host name)" },
            again: {
              type: 'boolean',
              describe: 'come back to the chain this computer was removed from, as a new device (where files differ, both are kept)',
            },
          })
          .check((a) => a.again || !!a.provider || 'say where the vault lives: --provider URL (as given to init)'),
      (a) => {
        run = async () =>
          (await import('./commands/join.js')).join(io, {
            again: a.again,
            provider: a.provider,
            root: a.root,
            name: a.name,
            passwordFile: a['password-file'],
            json: a.json,
          })
      },
    )
    .command('chain', 'the computers of the synchronization chain', (y) =>
      y
        .command(
          'list',
          'every device: name, OS user, last up-sync, last seen',
          (yy) => withJson(yy),
          (a) => {
            run = async () => (await import('./commands/chain.js')).chainList(io, { passwordFile: a['password-file'], json: a.json })
          },
        )
        .command(
          'remove <device>',
          'take a device out of the chain (by name or tag): what it up-syncs from then on is ignored',
          (yy) =>
            withJson(yy)
              .positional('device', { type: 'string', demandOption: true })
              .options({
                yes: { type: 'boolean', describe: 'do not ask on a terminal before removing' },
                rekey: {
                  type: 'boolean',
                  describe: 'also change the password and start a new key epoch: the removed computer opens nothing written after',
                },
                'new-password-file': { type: 'string', describe: 'with --rekey: read the new password from this file' },
                kdf: {
                  choices: ['interactive', 'moderate', 'sensitive'] as const,
                  default: 'moderate',
                  describe: 'with --rekey: Argon2id cost of the new slot',
                },
              }),
          (a) => {
            run = async () =>
              (await import('./commands/chain.js')).chainRemove(io, {
                device: a.device,
                yes: a.yes,
                rekey: a.rekey,
                newPasswordFile: a['new-password-file'],
                kdf: a.kdf,
                passwordFile: a['password-file'],
                json: a.json,
              })
          },
        )
        .demandCommand(1, 'say "chain list" or "chain remove DEVICE"'),
    )
    .command(
      'mount <dir>',
      'show the vault as a folder until Ctrl-C; apps/<id>/ takes writes, up-synced a few seconds after the last one',
      (y) =>
        y
          .options(passwordOption)
          .positional('dir', { type: 'string', demandOption: true })
          .options({
            app: { type: 'string', describe: "mount one application's folder alone, holding only its key" },
            'upsync-after': { type: 'number', describe: 'seconds after the last change before up-syncing', default: 3 },
            poll: { type: 'number', describe: "seconds between looks for other computers' up-syncs", default: 10 },
            'cache-mb': { type: 'number', describe: 'decrypted data kept in memory, in MiB', default: 64 },
            'disk-cache-mb': { type: 'number', describe: 'encrypted data kept on disk per space, in MiB (remote vaults)', default: 1024 },
            background: { type: 'boolean', describe: 'let the running service hold the mount ("cloudy unmount DIR" ends it)' },
          }),
      (a) => {
        run = async () =>
          (await import('./commands/mount.js')).mount(io, {
            dir: a.dir,
            app: a.app,
            passwordFile: a['password-file'],
            upsyncAfter: a['upsync-after'],
            poll: a.poll,
            cacheMb: a['cache-mb'],
            diskCacheMb: a['disk-cache-mb'],
            background: a.background,
          })
      },
    )
    .command(
      'unmount <dir>',
      'end a Cloudy mount (the service\'s, or a "cloudy mount" process\'s): what it holds is published first',
      (y) => y.positional('dir', { type: 'string', demandOption: true }),
      (a) => {
        run = async () => (await import('./commands/mount.js')).unmount(io, { dir: a.dir })
      },
    )
    .command('provider', "this computer's access to the storage account", (y) =>
      y
        .command(
          'login <kind>',
          'connect this computer to a Dropbox or Google Drive account (OAuth in the browser; tokens go to credentials.toml)',
          (yy) =>
            yy.positional('kind', { choices: ['dropbox', 'gdrive'] as const, demandOption: true }).options({
              'app-key': { type: 'string', describe: "Dropbox: the app key of your Dropbox app (default: Cloudy's)" },
              'client-id': { type: 'string', describe: 'Google Drive: the OAuth client id of your Google Cloud project' },
              'client-secret': { type: 'string', describe: "Google Drive: that client's secret (installed-app clients have one)" },
              browser: {
                type: 'boolean',
                default: true,
                describe:
                  '--no-browser: print the address to open on another device, and take the code (or the address it ends on) pasted back',
              },
            }),
          (a) => {
            run = async () =>
              (await import('./commands/provider-login.js')).providerLogin(io, {
                kind: a.kind,
                noBrowser: !a.browser,
                options: { 'app-key': a['app-key'], 'client-id': a['client-id'], 'client-secret': a['client-secret'] },
              })
          },
        )
        .command(
          'key <kind>',
          "the Dropbox app key or Google client the chain's vault is reached with, to log in with on another computer",
          (yy) => withJson(yy).positional('kind', { choices: ['dropbox', 'gdrive'] as const, demandOption: true }),
          (a) => {
            run = async () =>
              (await import('./commands/provider-login.js')).providerKey(io, {
                kind: a.kind,
                passwordFile: a['password-file'],
                json: a.json,
              })
          },
        )
        .demandCommand(1, 'say "provider login dropbox|gdrive" or "provider key dropbox|gdrive"'),
    )
    .command(
      'status',
      'per space: last up-sync, local changes not yet sent, incoming changes, conflicts',
      (y) => withJson(y).options({ verbose: { alias: 'v', type: 'boolean', describe: 'list the files behind the counts' } }),
      (a) => {
        run = async () =>
          (await import('./commands/status.js')).status(io, { verbose: a.verbose, passwordFile: a['password-file'], json: a.json })
      },
    )
    .command(
      'diff [path]',
      "what differs between this computer's files and the chain's: a unified diff for text, sizes and times for the rest (exit 1 when something differs)",
      (y) => withJson(y).positional('path', { type: 'string', describe: 'a local path or a plan name (settings/…); default: everything' }),
      (a) => {
        run = async () => (await import('./commands/diff.js')).diff(io, { path: a.path, passwordFile: a['password-file'], json: a.json })
      },
    )
    .command(
      'history [path]',
      'list the commits, or the versions of one file or folder',
      (y) => withJson(y).positional('path', { type: 'string', describe: 'a plan name (settings/…) or a local path' }),
      (a) => {
        run = async () =>
          (await import('./commands/history.js')).history(io, { path: a.path, passwordFile: a['password-file'], json: a.json })
      },
    )
    .command(
      'restore <path>',
      'bring a file or folder back as it was at a time (a local unsynced version is kept beside it)',
      (y) =>
        withJson(y)
          .positional('path', { type: 'string', demandOption: true, describe: 'a plan name (settings/…) or a local path' })
          .options({ at: { type: 'string', demandOption: true, describe: 'a time (2026-11-24T18:00:00Z, 2026-11-24) or a commit id' } }),
      (a) => {
        run = async () =>
          (await import('./commands/history.js')).restore(io, { at: a.at, path: a.path, passwordFile: a['password-file'], json: a.json })
      },
    )
    .command(
      'passwd',
      'change the master password (the old one stops working); --rekey: new keys for all written from now on',
      (y) =>
        y.options({
          ...passwordOption,
          'new-password-file': { type: 'string', describe: 'read the new password from this file' },
          kdf: {
            choices: ['interactive', 'moderate', 'sensitive'] as const,
            default: 'moderate',
            describe: 'Argon2id cost of the new slot',
          },
          rekey: {
            type: 'boolean',
            describe: 'start a new key epoch: a new master key for all written from now on (an old key slot or key opens nothing new)',
          },
        }),
      (a) => {
        run = async () =>
          (await import('./commands/passwd.js')).passwd(io, {
            rekey: a.rekey,
            kdf: a.kdf,
            passwordFile: a['password-file'],
            newPasswordFile: a['new-password-file'],
          })
      },
    )
    .command(
      'check',
      'verify the vault; exit 7 naming any damaged object',
      (y) => withJson(y).options({ 'read-data': { type: 'boolean', describe: 'read and authenticate every byte of every pack' } }),
      (a) => {
        run = async () =>
          (await import('./commands/check.js')).check(io, { readData: a['read-data'], passwordFile: a['password-file'], json: a.json })
      },
    )
    .command(
      'selection',
      'what the whole chain collects: categories, applications, paths, what is left out',
      (y) => withJson(y),
      (a) => {
        run = async () => (await import('./commands/selection.js')).showSelection(io, { passwordFile: a['password-file'], json: a.json })
      },
    )
    .command(
      'schedule [category] [when]',
      'when the service up-syncs a category, for the whole chain: on-change, manual, hourly, daily, weekly, "every 30m" or a cron expression',
      (y) =>
        withJson(y)
          .positional('category', { type: 'string', describe: 'settings, apps, system or inventory; none: show every schedule' })
          .positional('when', { type: 'string', describe: 'the new schedule; none: show this one' }),
      (a) => {
        run = async () =>
          (await import('./commands/selection.js')).schedule(io, {
            category: a.category,
            when: a.when,
            passwordFile: a['password-file'],
            json: a.json,
          })
      },
    )
    .command(
      'retention [scope]',
      "which commits forget keeps, for the whole chain, per category or application (restic's --keep-* rules)",
      (y) =>
        withKeep(withJson(y))
          .positional('scope', { type: 'string', describe: 'settings, apps, system, inventory or app:<id>; none: show every policy' })
          .options({ inherit: { type: 'boolean', describe: "drop this scope's own policy: it follows its category's, or the default" } }),
      (a) => {
        run = async () =>
          (await import('./commands/selection.js')).retention(io, {
            scope: a.scope,
            keep: keepArgs(a),
            inherit: a.inherit,
            passwordFile: a['password-file'],
            json: a.json,
          })
      },
    )
    .command(
      'forget',
      'let go of the commits the retention policies do not keep (nothing is deleted until prune)',
      (y) =>
        withPrune(withKeep(withJson(y))).options({
          'dry-run': { alias: 'n', type: 'boolean', describe: 'say what would be forgotten, change nothing' },
          prune: { type: 'boolean', describe: 'run prune afterwards' },
        }),
      (a) => {
        run = async () =>
          (await import('./commands/prune.js')).forgetCommand(io, {
            keep: keepArgs(a),
            dryRun: a['dry-run'],
            prune: a.prune,
            ...pruneArgs(a),
            passwordFile: a['password-file'],
            json: a.json,
          })
      },
    )
    .command(
      'prune',
      'delete the data no kept commit uses, copying what is still used out of mostly unused packs; other computers go on syncing',
      (y) =>
        withPrune(withJson(y)).options({
          'dry-run': { alias: 'n', type: 'boolean', describe: 'say what would be deleted, change nothing' },
        }),
      (a) => {
        run = async () =>
          (await import('./commands/prune.js')).pruneCommand(io, {
            dryRun: a['dry-run'],
            ...pruneArgs(a),
            passwordFile: a['password-file'],
            json: a.json,
          })
      },
    )
    .command(
      changeCommand(
        'add',
        'collect a path, a catalog application or a category on every computer of the chain',
        'the targets are patterns (*.log, ~/path) to leave out',
        'carry these secret stores (private keys, tokens) after all',
      ),
    )
    .command(
      changeCommand(
        'remove',
        'stop collecting a path, an application or a category, on every computer (nothing is deleted)',
        'the targets are patterns to stop leaving out',
        'hold these secret stores back again',
      ),
    )
    .command('apps', "the catalog's applications", (y) =>
      y
        .command(
          'list',
          'the applications found here: whether each is collected, what and how much',
          (yy) => withJson(yy).options({ all: { type: 'boolean', describe: 'every application of the catalog' } }),
          (a) => {
            run = async () =>
              (await import('./commands/apps.js')).appsList(io, { all: a.all, passwordFile: a['password-file'], json: a.json })
          },
        )
        .command(
          'install [ids..]',
          'install what other computers of the chain have and this one lacks (as an administrator; else prints the commands)',
          (yy) =>
            withJson(yy)
              .positional('ids', { type: 'string', array: true, describe: 'applications (hello, debian:hello); default: all missing here' })
              .options({ yes: { type: 'boolean', describe: 'do not ask before installing' } }),
          (a) => {
            run = async () =>
              (await import('./commands/apps.js')).appsInstall(io, {
                ids: a.ids,
                yes: a.yes,
                passwordFile: a['password-file'],
                json: a.json,
              })
          },
        )
        .demandCommand(1, 'say "apps list" or "apps install"'),
    )
    .command('vault', 'the vault as a whole', (y) =>
      y
        .command(
          'move',
          'copy the vault to another place, check the copy, and switch every computer of the chain to it (each follows at its next sync)',
          (yy) =>
            withJson(yy).options({
              to: {
                type: 'string',
                demandOption: true,
                describe: 'the new place, as init takes it (a folder, s3://…, sftp://…, dropbox:/…, gdrive:/…)',
              },
              root: { type: 'string', describe: 'folder of the vault inside the new storage account (default: the current one)' },
            }),
          (a) => {
            run = async () =>
              (await import('./commands/vault.js')).vaultMove(io, {
                to: a.to,
                root: a.root,
                passwordFile: a['password-file'],
                json: a.json,
              })
          },
        )
        .demandCommand(1, 'say "vault move --to URL"'),
    )
    .command('service', 'start the Cloudy service at login (a systemd user unit)', (y) =>
      y
        .command(
          'install',
          'write and enable a systemd user unit that runs "cloudy daemon" at login',
          (yy) =>
            yy.options({
              'password-command': {
                type: 'string',
                describe: 'a command that prints the master password (a keyring), so the service unlocks at start',
              },
            }),
          (a) => {
            run = async () => (await import('./commands/service.js')).serviceInstall(io, { passwordCommand: a['password-command'] })
          },
        )
        .command(
          'uninstall',
          'stop, disable and remove that unit',
          (yy) => yy,
          () => {
            run = async () => (await import('./commands/service.js')).serviceUninstall(io)
          },
        )
        .demandCommand(1, 'say "service install" or "service uninstall"'),
    )
    .command(
      'daemon',
      "run the Cloudy service here: it holds the unlocked vault and follows the chain's changes as they come",
      (y) =>
        y.options({
          ...passwordOption,
          poll: {
            type: 'number',
            describe:
              "longest wait between full looks at every space's heads, in seconds (default 300); between them the service follows the chain's pulse",
          },
        }),
      (a) => {
        run = async () => (await import('./commands/service.js')).daemon(io, { passwordFile: a['password-file'], poll: a.poll })
      },
    )
    .command(
      'unlock',
      'give the running service the master password: commands then use it and do not ask',
      (y) => y.options(passwordOption),
      (a) => {
        run = async () => (await import('./commands/service.js')).unlock(io, { passwordFile: a['password-file'] })
      },
    )
    .command(
      'lock',
      'make the running service forget the keys: commands ask for the password again',
      (y) => y,
      () => {
        run = async () => (await import('./commands/service.js')).lock(io)
      },
    )
    .command('sync', "send changes up or bring the chain's changes down", (y) =>
      y
        .command(
          'up',
          'send what changed here to the vault',
          (yy) =>
            withJson(yy).options({
              only: { type: 'string', array: true, describe: 'only these spaces' },
              verbose: { alias: 'v', type: 'boolean', describe: 'list the files sent: new, changed, deleted' },
            }),
          (a) => {
            run = async () =>
              (await import('./commands/sync-up.js')).syncUp(io, {
                only: a.only,
                verbose: a.verbose,
                passwordFile: a['password-file'],
                json: a.json,
              })
          },
        )
        .command(
          'down',
          "apply the chain's changes here. On a terminal it shows them and asks; without one (or with --json) and without --yes it applies only new files and new versions of files not changed here, and changes nothing when an item would delete or conflict (exit 2)",
          (yy) =>
            withJson(yy).options({
              preview: { type: 'boolean', describe: 'show what would change, change nothing' },
              only: { type: 'string', array: true, describe: 'only these items (as the plan names them) or folders' },
              yes: { type: 'boolean', describe: 'do not ask before applying' },
              force: {
                type: 'boolean',
                describe: 'apply the items of applications that are running too (they may overwrite them when they exit)',
              },
            }),
          (a) => {
            run = async () =>
              (await import('./commands/sync-down.js')).syncDown(io, {
                preview: a.preview,
                only: a.only,
                yes: a.yes,
                force: a.force,
                passwordFile: a['password-file'],
                json: a.json,
              })
          },
        )
        .demandCommand(1, 'say "sync up" or "sync down"'),
    )
    .command(
      'completion <shell>',
      'print a completion script: cloudy completion bash >> ~/.bashrc (zsh: >> ~/.zshrc; fish: > ~/.config/fish/completions/cloudy.fish)',
      (y) => y.positional('shell', { choices: SHELLS, demandOption: true }),
      (a) => {
        run = async () => {
          io.stdout.write(completionScript(a.shell))
          return EXIT.OK
        }
      },
    )
    .demandCommand(1, 'name a command')
    .help()
    .version('version', "print Cloudy's version", packageVersion())
  // The completion scripts ask for the words typed so far; yargs prints one candidate per line.
  if (argv[0] === COMPLETE_FLAG) {
    await parser.parseAsync([...argv])
    return EXIT.OK
  }
  try {
    await parser.parseAsync([...argv], {}, (_err, _argv, out) => {
      output = out
    })
  } catch (e) {
    return report(io, e)
  }
  if (usageErrors.length) {
    io.stderr.write(`cloudy: ${usageErrors.join('. ')}\nRun "cloudy --help" for usage.\n`)
    return EXIT.USAGE
  }
  if (output) io.stdout.write(output + '\n')
  if (!run) return EXIT.OK
  try {
    return await run()
  } catch (e) {
    return report(io, e)
  }
}

/**
 * A known condition met below the layer that names it: an object a provider did not find though
 * the vault refers to it (a pack its index lists, a commit a head names) is damage to the vault.
 */
function named(e: unknown): unknown {
  if (!(e instanceof NotFoundError)) return e
  const what = /^s\/[^/]+\/packs\//.test(e.key)
    ? 'this pack is missing, though an index file lists blobs in it'
    : 'missing, though the vault refers to it'
  return new MissingError(e.key, what, { cause: e })
}

/** Where Cloudy's own files are, for naming what went wrong with them (none when HOME is unusable). */
function ownFolders(env: NodeJS.ProcessEnv): OwnFolders {
  try {
    return cloudyPaths(env)
  } catch {
    return { stateDb: '' }
  }
}

function report(io: CliIo, err: unknown): number {
  const e = ownFilesProblem(err, ownFolders(io.env)) ?? named(err)
  if (e instanceof CloudyError) {
    io.stderr.write(`cloudy: ${e.message}\n`)
    if (io.env.CLOUDY_DEBUG) io.stderr.write(`${e.stack}\n`)
    return e.exitCode
  }
  io.stderr.write(`cloudy: unexpected error: ${(e as Error)?.stack ?? String(e)}\n`)
  return EXIT.FAILED
}
