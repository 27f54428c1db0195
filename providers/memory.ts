/**
 * An in-memory provider: the reference implementation of the contract, and the storage of
 * unit tests. Bytes are copied in and out so callers never alias stored data.
 */
import { AlreadyExistsError, NotFoundError } from '../lib/errors.js'
import { assertKey, collect } from './keys.js'
import type { ByteRange, ObjectInfo, Provider, PutBody, PutOptions } from './provider.js'

export function memory(name = 'memory'): Provider {
  const objects = new Map<string, { data: Buffer; mtimeMs: number }>()
  const label = `memory:${name}`
  return {
    name: label,
    local: true,
    async get(key: string, range?: ByteRange): Promise<Uint8Array> {
      assertKey(label, key)
      const o = objects.get(key)
      if (!o) throw new NotFoundError(label, key)
      if (!range) return Buffer.from(o.data)
      return Buffer.from(o.data.subarray(range.offset, range.offset + range.length))
    },
    async put(key: string, body: PutBody, options: PutOptions = {}): Promise<void> {
      assertKey(label, key)
      const data = await collect(body)
      if (options.ifAbsent && objects.has(key)) throw new AlreadyExistsError(label, key)
      objects.set(key, { data, mtimeMs: Date.now() })
    },
    async *list(prefix: string): AsyncIterable<ObjectInfo> {
      assertKey(label, prefix, true)
      // A snapshot: puts during the listing must not disturb it.
      for (const [key, o] of Array.from(objects)) if (key.startsWith(prefix)) yield { key, size: o.data.length, mtimeMs: o.mtimeMs }
    },
    async delete(key: string): Promise<void> {
      assertKey(label, key)
      objects.delete(key)
    },
    async stat(key: string): Promise<ObjectInfo | undefined> {
      assertKey(label, key)
      const o = objects.get(key)
      return o && { key, size: o.data.length, mtimeMs: o.mtimeMs }
    },
    async close(): Promise<void> {},
  }
}
