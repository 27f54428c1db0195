/**
 * `cloudy setup`: the first run in one command. On a terminal it asks, in order: where the
 * vault lives (and tests the connection), the master password (typed twice, with a strength
 * estimate that refuses the weakest unless --force), what the chain collects, then creates the
 * vault, sends the first up-sync with the key it already holds (no third password prompt) and
 * offers to start the service at login. Every answer is also a flag, for scripts.
 */
import { hostname, userInfo } from 'node:os'
import { join } from 'node:path'
import { describeProvider } from '../../../providers/index.js'
import { CATEGORIES, type Category } from '../../catalog/entry.js'
import { loadCatalog } from '../../catalog/catalog.js'
import { Detector } from '../../catalog/detect.js'
import { CloudyError, EXIT, UsageError } from '../../errors.js'
import { cloudyPaths } from '../../paths.js'
import { syncUpAll } from '../../sync/up-all.js'
import { countChanges } from '../../sync/tree-changes.js'
import { VAULT_FILE } from '../../vault/vault.js'
import { connect, openSession } from '../context.js'
import { printWarnings, type CliIo } from '../io.js'
import { readPassword } from '../password.js'
import { progressFor } from '../progress.js'
import { MIN_SCORE, passwordStrength } from '../strength.js'
import { TerminalInput } from '../terminal-input.js'
import { createVault, defaultProvider, refuseIfSetUp } from './init.js'
import { homePath } from './selection.js'
import { serviceInstall } from './service.js'

export interface SetupArgs {
  provider?: string
  root?: string
  name?: string
  kdf?: string
  collect?: string[]
  /** Files and folders to collect from the start (as `cloudy add` takes them). */
  add?: string[]
  autoApps?: boolean
  /** Install the service (true), or not (false); undefined: ask on a terminal, else not. */
  service?: boolean
  /** Take a password the estimate calls too guessable. */
  force?: boolean
  passwordFile?: string
}

const CATEGORY_QUESTIONS: Record<Category, string> = {
  settings: 'your settings: the files and folders you name with "cloudy add"',
  apps: "applications' settings and data",
  system: "this computer's settings (/etc and the like; collected only where you are an administrator)",
  inventory: 'the list of installed applications (so that "cloudy apps install" can bring them to another computer)',
}

/** A new master password on a terminal: asked until one is strong enough (or --force) and typed the same twice. */
async function newPasswordOnTerminal(io: CliIo, input: TerminalInput, force: boolean, words: string[]): Promise<string> {
  for (;;) {
    const first = await input.line('New master password: ', { secret: true })
    if (!first) continue
    const s = passwordStrength(first, words)
    io.stderr.write(`Strength: ${s.summary}\n`)
    if (s.score < MIN_SCORE && !force) {
      io.stderr.write('Too easy to guess: this password would open your vault to anyone who tries common ones. Choose another.\n')
      continue
    }
    if ((await input.line('Repeat it: ', { secret: true })) === first) return first
    io.stderr.write('The two differ; once more.\n')
  }
}

/** A new master password from a file, a command or the environment (a script): checked the same way. */
async function newPasswordGiven(io: CliIo, args: SetupArgs, words: string[]): Promise<string> {
  const password = await readPassword({ passwordFile: args.passwordFile, env: io.env, prompt: '' })
  const s = passwordStrength(password, words)
  if (s.score < MIN_SCORE && !args.force)
    throw new UsageError(`the master password is too easy to guess (${s.summary}); choose another, or add --force to keep it`)
  return password
}

/** The catalog's applications found here, for the question about applications. */
function appsFoundHere(io: CliIo, configDir: string, home: string): string[] {
  try {
    const detector = new Detector({ home, env: io.env })
    return loadCatalog(join(configDir, 'catalog'))
      .entries.filter((e) => detector.signs(e).length > 0)
      .map((e) => e.id)
  } catch {
    // A broken catalog of the user's is said by the commands that use it; setup goes on.
    return []
  }
}

export async function setup(io: CliIo, args: SetupArgs): Promise<number> {
  const paths = cloudyPaths(io.env)
  const existing = await refuseIfSetUp(paths)
  // Bad flags are said before anything is asked or made.
  let include = (args.add ?? []).map((p) => homePath(p, paths.home))
  const input = io.stdin.isTTY ? new TerminalInput(io.stdin, io.stderr) : undefined
  const say = (line: string) => io.stderr.write(line + '\n')
  try {
    const fallback = defaultProvider(io.env, paths.home)
    const url =
      args.provider ??
      (input
        ? (
            await input.line(
              `Where should the vault live? A folder, or s3://bucket/prefix, sftp://user@host/path, dropbox:/path, gdrive:/path\n[${describeProvider(fallback)}] `,
            )
          ).trim() || fallback
        : fallback)
    const root = args.root ?? 'Cloudy'
    say(`Connecting to ${describeProvider(url)}...`)
    const provider = await connect(io, paths, url, root, true)
    try {
      if (await provider.stat(VAULT_FILE))
        throw new CloudyError(
          'EVAULTEXISTS',
          EXIT.USAGE,
          `a Cloudy vault is already there: add this computer to it with "cloudy join --provider ${url}"`,
        )
      say('Connected: the storage answers and holds no vault yet.')

      const words = [userInfo().username, hostname(), 'cloudy']
      const password = input ? await newPasswordOnTerminal(io, input, !!args.force, words) : await newPasswordGiven(io, args, words)

      let collect = args.collect
      let autoApps = args.autoApps
      if (input && !collect) {
        const found = appsFoundHere(io, paths.configDir, paths.home)
        say('What should every computer of the chain collect? ("cloudy add" and "cloudy remove" change it later.)')
        collect = []
        for (const c of CATEGORIES) {
          const extra =
            c === 'apps' && found.length
              ? ` (${found.length} found here: ${found.slice(0, 6).join(', ')}${found.length > 6 ? ', …' : ''})`
              : ''
          if (await input.yes(`  ${CATEGORY_QUESTIONS[c]}${extra}?`, true)) collect.push(c)
        }
        if (autoApps === undefined && collect.includes('apps'))
          autoApps = await input.yes('  add the applications found on each computer by themselves?', true)
      }
      if (input && !args.add && (collect ?? CATEGORIES).includes('settings'))
        for (;;) {
          const typed = (await input.line('  files and folders to collect now, e.g. ~/.bashrc ~/.config/git (Enter: none): ')).trim()
          try {
            include = typed ? typed.split(/\s+/).map((p) => homePath(p, paths.home)) : []
            break
          } catch (e) {
            if (!(e instanceof UsageError)) throw e
            say(e.message)
          }
        }

      const { vault, config } = await createVault(paths, existing, provider, password, {
        url,
        root,
        kdf: args.kdf,
        name: args.name,
        autoApps,
        collect,
        include,
      })
      const key = { vaultId: vault.info.vaultId, key: vault.masterKeyCopy() }
      vault.close()
      say(`Created vault ${key.vaultId} at ${describeProvider(url)} (folder ${root}); this computer is "${config.device.name}".`)

      // The first up-sync, with the key this process holds: the password is not asked again.
      const s = await openSession(io, args, { exclusive: true, masterKey: key })
      let warnings
      try {
        const up = await syncUpAll(s, { progress: progressFor(io, false) })
        warnings = up.warnings
        for (const r of up.spaces) {
          const n = countChanges(r.files)
          io.stdout.write(`${r.space}: ${r.commit ? `sent ${n.added} ${n.added === 1 ? 'file' : 'files'}` : 'nothing to send yet'}\n`)
        }
      } finally {
        key.key.fill(0)
        await s.close()
      }
      printWarnings(io, warnings)

      const service =
        args.service ?? (input ? await input.yes('Start the Cloudy service at each login, to follow the chain in real time?', true) : false)
      input?.close()
      if (service) await serviceInstall(io, {})
      io.stdout.write(
        'Set up. "cloudy status" shows where things stand; on another computer, "cloudy join --provider ' +
          url +
          '" adds it to the chain.\n',
      )
      return warnings.length ? EXIT.PARTIAL : EXIT.OK
    } finally {
      await provider.close()
    }
  } finally {
    input?.close()
  }
}
