// The S3-compatible test server: s3rver (npm) on 127.0.0.1, run in its own process because it
// needs Node's legacy OpenSSL provider (its listing continuation tokens use DES) and that flag
// must stay out of the test processes. Started by scripts/servers/s3.ts; prints one JSON line
// {"port": N} once listening, stops on SIGTERM.
//
// Four gaps of s3rver are filled here so the provider's real code paths are tested, as real
// S3 behaves: a PUT is atomic (see below); Signature V4 is checked (s3rver accepts any secret:
// a wrong one must be refused with SignatureDoesNotMatch); conditional writes (`If-None-Match:
// *` on PutObject and on CompleteMultipartUpload: 412 PreconditionFailed if the key exists,
// decided atomically per key, S3's behaviour since 2024); suffix ranges (`bytes=-N`).
import { createHash, createHmac } from 'node:crypto'
import { createWriteStream } from 'node:fs'
import { mkdir, rename, rm } from 'node:fs/promises'
import { dirname } from 'node:path'
import { Readable, Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import S3rver from 's3rver'

/** s3rver's one account. */
const SECRETS = new Map([['S3RVER', 'S3RVER']])

const [directory, bucket] = process.argv.slice(2)
const server = new S3rver({ address: '127.0.0.1', port: 0, directory, silent: true, configureBuckets: [{ name: bucket }] })

/** Writes of one key, one at a time: a check and the write it guards must not interleave. */
const locks = new Map()
async function serialized(key, fn) {
  const previous = locks.get(key) ?? Promise.resolve()
  let release
  const mine = new Promise((r) => (release = r))
  const chain = previous.then(() => mine)
  locks.set(key, chain)
  await previous
  try {
    return await fn()
  } finally {
    release()
    if (locks.get(key) === chain) locks.delete(key)
  }
}

function objectOf(ctx) {
  // Path style: /bucket/key...
  const path = decodeURIComponent(ctx.path)
  const slash = path.indexOf('/', 1)
  return slash < 0 ? undefined : { bucket: path.slice(1, slash), key: path.slice(slash + 1) }
}

function s3Error(ctx, status, code, message) {
  ctx.status = status
  ctx.type = 'application/xml'
  ctx.body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message></Error>`
}

/** AWS's URI encoding: everything but unreserved characters (paths are encoded by segment). */
const uriEncode = (s) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase())

/** Whether a header-signed (AWS4-HMAC-SHA256) request was signed with the account's secret. */
function signatureHolds(ctx) {
  const auth = ctx.get('authorization')
  const m =
    /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/.exec(
      auth,
    )
  if (!m) return true // other schemes: s3rver's own checks
  const [, keyId, date, region, service, signedHeaders, signature] = m
  const secret = SECRETS.get(keyId)
  if (!secret) return true // s3rver answers InvalidAccessKeyId
  const rawPath = ctx.req.url.split('?')[0]
  const path = rawPath
    .split('/')
    .map((seg) => uriEncode(decodeURIComponent(seg)))
    .join('/')
  const query = new URLSearchParams(ctx.req.url.includes('?') ? ctx.req.url.slice(ctx.req.url.indexOf('?') + 1) : '')
  const canonicalQuery = [...query]
    .map(([k, v]) => [uriEncode(k), uriEncode(v)])
    .sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&')
  const names = signedHeaders.split(';')
  const canonicalHeaders = names
    .map(
      (h) =>
        `${h}:${String(ctx.req.headers[h] ?? '')
          .trim()
          .replace(/\s+/g, ' ')}\n`,
    )
    .join('')
  const payload = ctx.get('x-amz-content-sha256') || 'UNSIGNED-PAYLOAD'
  const canonical = [ctx.method, path, canonicalQuery, canonicalHeaders, signedHeaders, payload].join('\n')
  const scope = `${date}/${region}/${service}/aws4_request`
  const toSign = ['AWS4-HMAC-SHA256', ctx.get('x-amz-date'), scope, createHash('sha256').update(canonical).digest('hex')].join('\n')
  let key = createHmac('sha256', `AWS4${secret}`).update(date).digest()
  for (const part of [region, service, 'aws4_request']) key = createHmac('sha256', key).update(part).digest()
  const ok = createHmac('sha256', key).update(toSign).digest('hex') === signature
  if (!ok && process.env.S3_DEBUG) process.stderr.write(canonical + '\n----\n')
  return ok
}

server.middleware.unshift(async (ctx, next) => {
  if (!signatureHolds(ctx)) {
    return s3Error(
      ctx,
      403,
      'SignatureDoesNotMatch',
      'The request signature we calculated does not match the signature you provided. Check your key and signing method.',
    )
  }
  const target = objectOf(ctx)
  const writes = target && (ctx.method === 'PUT' || (ctx.method === 'POST' && 'uploadId' in ctx.query))
  const isPart = ctx.method === 'PUT' && 'partNumber' in ctx.query
  if (!writes || isPart) {
    // Suffix range: the last N bytes.
    const m = /^bytes=-(\d+)$/.exec(ctx.get('range'))
    if (target && ctx.method === 'GET' && m) {
      const head = await server.store.getObject(target.bucket, target.key, undefined).catch(() => undefined)
      if (head) {
        const n = Number(m[1])
        ctx.request.headers.range = `bytes=${Math.max(0, head.size - n)}-${head.size - 1}`
        head.content?.destroy?.()
      }
    }
    return next()
  }
  return serialized(`${target.bucket}/${target.key}`, async () => {
    if (ctx.get('if-none-match') === '*' && (await server.store.existsObject(target.bucket, target.key))) {
      return s3Error(ctx, 412, 'PreconditionFailed', 'At least one of the pre-conditions you specified did not hold')
    }
    return next()
  })
})

// s3rver writes an object where readers read it: a GET during a PUT of the same key (one
// computer reading a head another is rewriting) could get half of it. S3's PUT is atomic:
// readers see the old object or the new one. So the content is written aside and renamed over.
let aside = 0
server.store.putObject = async function (object) {
  const objectPath = this.getResourcePath(object.bucket, object.key, 'object')
  await mkdir(dirname(objectPath), { recursive: true })
  const tmp = `${objectPath}.tmp-${++aside}`
  const md5 = createHash('md5')
  let size = 0
  const count = new Transform({
    transform(chunk, _encoding, done) {
      md5.update(chunk)
      size += chunk.length
      done(null, chunk)
    },
  })
  try {
    await pipeline(Buffer.isBuffer(object.content) ? Readable.from([object.content]) : object.content, count, createWriteStream(tmp))
    await rename(tmp, objectPath)
  } catch (e) {
    await rm(tmp, { force: true })
    throw e
  }
  const digest = md5.digest('hex')
  await this.putMetadata(object.bucket, object.key, object.metadata, digest)
  return { size, md5: digest }
}

const address = await server.run()
process.stdout.write(JSON.stringify({ port: address.port }) + '\n')
process.on('SIGTERM', () => server.close(() => process.exit(0)))
