/**
 * An S3-compatible server for tests and the bench: s3rver on 127.0.0.1, in a child process with
 * its own temp folder (see s3rver-child.js for why a child, and what it adds to s3rver).
 *
 * Run on its own (`node dist/scripts/servers/s3.js`) it prints the provider URL and the
 * credentials.toml table, and runs until Ctrl-C.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import type { TestServer } from './test-server.js'

/** s3rver's fixed credentials. */
export const S3RVER_KEY = { access_key_id: 'S3RVER', secret_access_key: 'S3RVER' }

export interface S3Server extends TestServer {
  /** http://127.0.0.1:PORT */
  endpoint: string
  bucket: string
  child: ChildProcess
}

/** scripts/servers/, from the TypeScript source or from dist/scripts/servers/. */
function childScript(): string {
  const here = dirname(fileURLToPath(import.meta.url))
  const inSource = here.includes(`${join('dist', 'scripts')}`) ? resolve(here, '..', '..', '..', 'scripts', 'servers') : here
  return join(inSource, 's3rver-child.js')
}

export async function startS3Server(options: { bucket?: string } = {}): Promise<S3Server> {
  const dir = mkdtempSync(join(tmpdir(), 's3rver-'))
  const bucket = options.bucket ?? 'cloudy-test'
  const child = spawn(process.execPath, ['--openssl-legacy-provider', childScript(), dir, bucket], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const exited = new Promise<void>((r) => child.once('exit', () => r()))
  let port: number
  try {
    port = await new Promise<number>((resolvePort, reject) => {
      const lines = createInterface({ input: child.stdout! })
      lines.once('line', (line) => resolvePort((JSON.parse(line) as { port: number }).port))
      child.once('exit', (code) => reject(new Error(`the S3 test server exited (${code}) before listening`)))
      setTimeout(() => reject(new Error('the S3 test server did not start within 20 s')), 20_000).unref()
    })
  } catch (e) {
    child.kill('SIGKILL')
    rmSync(dir, { recursive: true, force: true })
    throw e
  }
  const endpoint = `http://127.0.0.1:${port}`
  let n = 0
  return {
    endpoint,
    bucket,
    child,
    newUrl: () =>
      `s3://${bucket}/t${process.pid}-${++n}-${Math.random().toString(36).slice(2, 8)}?endpoint=${encodeURIComponent(endpoint)}`,
    credentials: { s3: { ...S3RVER_KEY } },
    env: {},
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM')
        const timer = setTimeout(() => child.kill('SIGKILL'), 5_000)
        await exited
        clearTimeout(timer)
      }
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const server = await startS3Server()
  process.stdout.write(
    `S3 test server at ${server.endpoint}, bucket ${server.bucket}\n` +
      `provider URL: ${server.newUrl()}\n\ncredentials.toml:\n[s3]\naccess_key_id = "S3RVER"\nsecret_access_key = "S3RVER"\n\nCtrl-C stops it.\n`,
  )
  const stop = () => void server.stop().then(() => process.exit(0))
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
}
