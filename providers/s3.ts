// Placeholder while the s3 provider is being written (issue 4); replaced by the real module.
import { UsageError } from '../lib/errors.js'
import type { RemoteContext } from './index.js'
import type { Provider } from './provider.js'

export function openS3(url: string, _context: RemoteContext): Promise<Provider> {
  return Promise.reject(new UsageError(`--provider ${url}: the s3 provider is not available in this build yet`))
}
