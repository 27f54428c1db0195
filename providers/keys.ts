/** Key validation shared by every provider: keys are relative, `/`-separated, plain names. */
import { CloudyError, EXIT } from '../lib/errors.js'

const SEGMENT = /^[A-Za-z0-9._-]+$/

export function assertKey(provider: string, key: string, allowPrefix = false): void {
  const parts = key.split('/')
  if (allowPrefix && parts[parts.length - 1] === '') parts.pop()
  if (key === '' && allowPrefix) return
  if (parts.length === 0 || parts.some((p) => !SEGMENT.test(p) || p === '.' || p === '..')) {
    throw new CloudyError(
      'EKEY',
      EXIT.FAILED,
      `${provider}: invalid object key "${key}" (internal error: keys are relative paths of plain names)`,
    )
  }
}

/** Collect an async iterable body into one buffer (for providers that need it whole). */
export async function collect(body: Uint8Array | AsyncIterable<Uint8Array>): Promise<Buffer> {
  if (body instanceof Uint8Array) return Buffer.from(body)
  const parts: Uint8Array[] = []
  for await (const p of body) parts.push(p)
  return Buffer.concat(parts)
}
