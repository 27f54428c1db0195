/**
 * Amazon S3 and S3-compatible services (MinIO, Ceph, R2, Wasabi...): `s3://bucket/prefix`, with
 * `?endpoint=URL` for a service other than AWS (path-style addressing then, which every
 * compatible service understands), `?region=R`, `?path_style=false` for virtual-host style.
 *
 * Puts are atomic by S3's own rule (an object appears whole at PUT or CompleteMultipartUpload);
 * large and streamed bodies go through lib-storage's multipart Upload, whose failure aborts the
 * upload, so no part is ever visible. If-absent puts use `If-None-Match: *` (S3 conditional
 * writes, on both PutObject and CompleteMultipartUpload). The SDK's own retries are off: the
 * one retry policy (providers/retry.ts) is applied on top; here failures are only classified.
 *
 * Credentials: the [s3] table of credentials.toml, else the AWS SDK's usual chain
 * (AWS_ACCESS_KEY_ID..., ~/.aws/credentials, instance roles).
 */
import { Readable } from 'node:stream'
import { Agent } from 'node:https'
import { Agent as HttpAgent } from 'node:http'
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3'
import { Upload } from '@aws-sdk/lib-storage'
import { AlreadyExistsError, NotFoundError, ProviderError, TransientError, UsageError } from '../lib/errors.js'
import { describeProvider, urlParams, type RemoteContext } from './index.js'
import { assertKey, collect } from './keys.js'
import type { ByteRange, ListOptions, ObjectInfo, Provider, PutBody, PutOptions } from './provider.js'
import { isTransient } from './retry.js'

/** Multipart part size: large enough for few requests, small enough to keep a few in memory. */
const PART_SIZE = 32 * 1024 * 1024
/** Parts of one object uploaded at once. */
const PART_QUEUE = 4

export interface S3Location {
  bucket: string
  /** Key prefix of the vault in the bucket, without a trailing slash ('' for the bucket root). */
  prefix: string
  endpoint?: string
  region: string
  pathStyle: boolean
}

/** Parse `s3://bucket/prefix?endpoint=URL&region=R&path_style=true|false`. */
export function parseS3Url(url: string, root: string, env: NodeJS.ProcessEnv = {}): S3Location {
  const m = /^s3:\/\/([^/?]+)(\/[^?]*)?(\?.*)?$/.exec(url)
  if (!m) throw new UsageError(`--provider ${describeProvider(url)}: an S3 URL looks like s3://bucket/prefix?endpoint=URL&region=R`)
  const bucket = m[1]!
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
    throw new UsageError(`--provider ${describeProvider(url)}: "${bucket}" is not a valid bucket name (3-63 of a-z, 0-9, ".", "-")`)
  }
  const params = urlParams(url, ['endpoint', 'region', 'path_style'])
  const endpoint = params.get('endpoint')
  if (endpoint !== undefined && !/^https?:\/\/[^/]+/.test(endpoint)) {
    throw new UsageError(`--provider ${describeProvider(url)}: endpoint must be an http:// or https:// address`)
  }
  const pathStyle = params.get('path_style')
  if (pathStyle !== undefined && pathStyle !== 'true' && pathStyle !== 'false') {
    throw new UsageError(`--provider ${describeProvider(url)}: path_style is true or false`)
  }
  const prefix = [...(m[2] ?? '').split('/'), ...root.split('/')].filter((s) => s !== '').join('/')
  return {
    bucket,
    prefix,
    endpoint,
    region: params.get('region') ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? 'us-east-1',
    pathStyle: pathStyle ? pathStyle === 'true' : endpoint !== undefined,
  }
}

/** The S3 error code (`NoSuchKey`, `AccessDenied`, ...) and HTTP status of a failure. */
function codeOf(e: unknown): { code: string; status: number | undefined } {
  if (e instanceof S3ServiceException) return { code: e.name, status: e.$metadata?.httpStatusCode }
  const err = e as { name?: string; code?: string; Code?: string; $metadata?: { httpStatusCode?: number } }
  // A socket's failure (no S3 answer at all) says what it is in `code` (ECONNREFUSED...).
  const name = err?.name && err.name !== 'Error' ? err.name : undefined
  return { code: err?.Code ?? name ?? err?.code ?? '', status: err?.$metadata?.httpStatusCode }
}

function retryAfter(e: unknown): number | undefined {
  const header = (e as { $response?: { headers?: Record<string, string> } }).$response?.headers?.['retry-after']
  if (!header) return undefined
  const s = Number(header)
  if (Number.isFinite(s)) return s * 1000
  const at = Date.parse(header)
  return Number.isFinite(at) ? Math.max(0, at - Date.now()) : undefined
}

const AUTH = new Set([
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'AccessDenied',
  'ExpiredToken',
  'InvalidToken',
  'TokenRefreshRequired',
  'CredentialsProviderError',
])
const QUOTA = new Set(['QuotaExceeded', 'XMinioStorageFull', 'InsufficientStorage', 'StorageFull', 'ServiceQuotaExceeded'])
const TRANSIENT = new Set([
  'SlowDown',
  'ServiceUnavailable',
  'InternalError',
  'RequestTimeout',
  'RequestTimeTooSkewed',
  'TooManyRequests',
  'ThrottlingException',
  'OperationAborted',
  'ConditionalRequestConflict',
  'TimeoutError',
])

/**
 * A response body read into one buffer of the announced length (packs are tens of MiB: no list
 * of pieces to join afterwards, no second copy); a body of another length is a broken transfer.
 */
async function readBody(name: string, body: AsyncIterable<Uint8Array>, length: number | undefined): Promise<Uint8Array> {
  if (length === undefined) return collect(body)
  const out = Buffer.allocUnsafe(length)
  let at = 0
  for await (const piece of body) {
    if (at + piece.length > length) throw new TransientError(name, `the response ran past its announced ${length} bytes`)
    out.set(piece, at)
    at += piece.length
  }
  if (at !== length) throw new TransientError(name, `the response ended after ${at} of ${length} bytes`)
  return out
}

export function openS3(url: string, context: RemoteContext): Promise<Provider> {
  return Promise.resolve(s3(parseS3Url(url, context.root, context.env), context))
}

export async function s3(loc: S3Location, context: Pick<RemoteContext, 'credentials'>): Promise<Provider> {
  const where = `s3://${loc.bucket}${loc.prefix ? '/' + loc.prefix : ''}`
  const name = loc.endpoint ? `${where} at ${loc.endpoint}` : where
  const table = await context.credentials.section('s3')
  if (table && (!table.access_key_id || !table.secret_access_key)) {
    throw new ProviderError(name, `credentials.toml [s3] needs both access_key_id and secret_access_key (${context.credentials.file})`, {
      kind: 'auth',
    })
  }
  // The SDK warns on every run under Node 20 about its releases from 2027: a note for Cloudy's
  // developers (package.json pins the SDK), not for its users.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'
  const keepAlive = { keepAlive: true, maxSockets: 32 }
  const client = new S3Client({
    region: loc.region,
    endpoint: loc.endpoint,
    forcePathStyle: loc.pathStyle,
    credentials: table
      ? { accessKeyId: table.access_key_id!, secretAccessKey: table.secret_access_key!, sessionToken: table.session_token }
      : undefined,
    // One retry layer: providers/retry.ts.
    maxAttempts: 1,
    // A bucket in another region than the one given is followed there (AWS answers 301).
    followRegionRedirects: true,
    // Checksums only where S3 requires them: streamed puts with the newer default checksum
    // framing are stored framed by some compatible servers (docs/ARCHITECTURE.md, "Notes from
    // testing").
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    requestHandler: { httpAgent: new HttpAgent(keepAlive), httpsAgent: new Agent(keepAlive), connectionTimeout: 15_000 },
  })
  // Packs are sealed blob by blob and checked on every read: a SHA-256 of each upload for its
  // signature only costs CPU (over HTTPS the SDK already skips it; over plain HTTP it would not).
  client.middlewareStack.add(
    (next) => async (args) => {
      const request = args.request as { headers?: Record<string, string>; body?: unknown }
      if (request.headers && request.body instanceof Uint8Array && request.body.length >= 64 * 1024) {
        request.headers['x-amz-content-sha256'] = 'UNSIGNED-PAYLOAD'
      }
      return next(args)
    },
    { step: 'build', name: 'cloudyUnsignedPayload' },
  )
  const full = (key: string) => (loc.prefix ? `${loc.prefix}/${key}` : key)

  /** What went wrong, as the rest of Cloudy understands it. */
  const failure = (e: unknown, key?: string): unknown => {
    if (e instanceof ProviderError || e instanceof TransientError || e instanceof AlreadyExistsError || e instanceof NotFoundError) return e
    const { code, status } = codeOf(e)
    if (code === 'NoSuchBucket') {
      return new ProviderError(
        name,
        `the bucket "${loc.bucket}" does not exist${loc.endpoint ? ` on ${loc.endpoint}` : ''}: create it (for AWS: aws s3 mb s3://${loc.bucket}) or fix the bucket name in the provider URL`,
        { cause: e, kind: 'missing' },
      )
    }
    if (code === 'NoSuchKey' || code === 'NotFound' || status === 404) return key ? new NotFoundError(name, key) : e
    if (code === 'ENOTFOUND' || code === 'EAI_NONAME') {
      return new ProviderError(
        name,
        `the storage service's host name does not resolve: fix the address (${loc.endpoint ? 'the endpoint option' : 'the bucket or region'} of the provider URL)`,
        { cause: e, kind: 'unreachable' },
      )
    }
    if (
      code === 'PermanentRedirect' ||
      code === 'AuthorizationHeaderMalformed' ||
      code === 'IllegalLocationConstraintException' ||
      status === 301
    ) {
      return new ProviderError(
        name,
        `the bucket "${loc.bucket}" is in another region than ${loc.region}: add ?region=<its region> to the provider URL (aws s3api get-bucket-location --bucket ${loc.bucket})`,
        { cause: e, kind: 'refused' },
      )
    }
    if (AUTH.has(code) || status === 403 || status === 401) {
      return new ProviderError(
        name,
        `the storage service refused the credentials (${code && code !== 'Unknown' ? code : `HTTP ${status}`}): check access_key_id and secret_access_key in the [s3] table of credentials.toml (or your AWS profile) and that they may use this bucket`,
        { cause: e, kind: 'auth' },
      )
    }
    if (QUOTA.has(code) || status === 507) {
      return new ProviderError(name, `the storage account is full (${code || status}): free space or raise the quota, then run again`, {
        cause: e,
        kind: 'quota',
      })
    }
    if (
      TRANSIENT.has(code) ||
      status === 429 ||
      (status !== undefined && status >= 500) ||
      isTransient(e) ||
      (e as Error)?.name === 'TimeoutError'
    ) {
      return new TransientError(name, code || (status ? `HTTP ${status}` : (e as Error).message), { cause: e, retryAfterMs: retryAfter(e) })
    }
    const msg = (e as Error)?.message ?? String(e)
    // No answer at all: a wrong endpoint or the network.
    if (/ECONNREFUSED|EAI_AGAIN|socket hang up|ECONNRESET/.test(msg)) return new TransientError(name, msg, { cause: e })
    return new ProviderError(name, `request refused: ${code || msg}`, { cause: e, kind: 'refused' })
  }

  // A first look at the bucket: a wrong name or key is said now, before any work, not after the
  // first pack. (Transient failures here are retried by the policy like any other request.)
  let checked: Promise<void> | undefined
  const ready = () =>
    (checked ??= client.send(new HeadBucketCommand({ Bucket: loc.bucket })).then(
      () => undefined,
      (e: unknown) => {
        checked = undefined
        const { status } = codeOf(e)
        // HEAD has no body: 404 is the bucket, 403 the credentials.
        if (status === 404) throw failure(Object.assign(e as object, { name: 'NoSuchBucket' }))
        throw failure(e)
      },
    ))

  const provider: Provider = {
    name,
    parallelism: 4,

    async get(key: string, range?: ByteRange): Promise<Uint8Array> {
      assertKey(name, key)
      if (range && range.length === 0) {
        if (!(await provider.stat(key))) throw new NotFoundError(name, key)
        return new Uint8Array(0)
      }
      try {
        await ready()
        const res = await client.send(
          new GetObjectCommand({
            Bucket: loc.bucket,
            Key: full(key),
            Range: range ? `bytes=${range.offset}-${range.offset + range.length - 1}` : undefined,
          }),
        )
        return await readBody(name, res.Body as AsyncIterable<Uint8Array>, res.ContentLength)
      } catch (e) {
        // A range starting at or past the end: nothing there, if the object is.
        if (range && (codeOf(e).code === 'InvalidRange' || codeOf(e).status === 416)) {
          if (await provider.stat(key)) return new Uint8Array(0)
          throw new NotFoundError(name, key)
        }
        throw failure(e, key)
      }
    },

    async put(key: string, body: PutBody, opts: PutOptions = {}): Promise<void> {
      assertKey(name, key)
      await ready()
      // A failure of the body's own source is the caller's, reported as it is.
      let sourceFailure: { error: unknown } | undefined
      const guarded = async function* (parts: AsyncIterable<Uint8Array>) {
        try {
          yield* parts
        } catch (e) {
          sourceFailure = { error: e }
          throw e
        }
      }
      const upload = new Upload({
        client,
        params: {
          Bucket: loc.bucket,
          Key: full(key),
          Body: body instanceof Uint8Array ? body : Readable.from(guarded(body), { objectMode: false }),
          IfNoneMatch: opts.ifAbsent ? '*' : undefined,
        },
        partSize: PART_SIZE,
        queueSize: PART_QUEUE,
        leavePartsOnError: false,
      })
      try {
        await upload.done()
      } catch (e) {
        if (sourceFailure) throw sourceFailure.error
        const { code, status } = codeOf(e)
        if (opts.ifAbsent && (code === 'PreconditionFailed' || status === 412)) throw new AlreadyExistsError(name, key)
        throw failure(e, key)
      }
    },

    async *list(prefix: string, options?: ListOptions): AsyncIterable<ObjectInfo> {
      assertKey(name, prefix, true)
      await ready()
      const base = loc.prefix ? `${loc.prefix}/` : ''
      // The continuation token of a page is where a broken listing picks up again.
      let token: string | undefined = options?.resume || undefined
      do {
        let page
        try {
          page = await client.send(new ListObjectsV2Command({ Bucket: loc.bucket, Prefix: base + prefix, ContinuationToken: token }))
        } catch (e) {
          throw failure(e)
        }
        for (const o of page.Contents ?? []) {
          if (!o.Key?.startsWith(base)) continue
          yield { key: o.Key.slice(base.length), size: o.Size ?? 0, mtimeMs: o.LastModified?.getTime(), resume: token ?? '' }
        }
        token = page.IsTruncated ? page.NextContinuationToken : undefined
      } while (token)
    },

    async delete(key: string): Promise<void> {
      assertKey(name, key)
      try {
        await ready()
        await client.send(new DeleteObjectCommand({ Bucket: loc.bucket, Key: full(key) }))
      } catch (e) {
        const f = failure(e, key)
        if (!(f instanceof NotFoundError)) throw f
      }
    },

    async stat(key: string): Promise<ObjectInfo | undefined> {
      assertKey(name, key)
      try {
        await ready()
        const h = await client.send(new HeadObjectCommand({ Bucket: loc.bucket, Key: full(key) }))
        return { key, size: h.ContentLength ?? 0, mtimeMs: h.LastModified?.getTime() }
      } catch (e) {
        const f = failure(e, key)
        if (f instanceof NotFoundError) return undefined
        throw f
      }
    },

    async close(): Promise<void> {
      client.destroy()
    },
  }
  return provider
}
