// Placeholder while the gdrive provider is being written (issue 4); replaced by the real module.
import { UsageError } from '../lib/errors.js'
import type { RemoteContext } from './index.js'
import type { Provider } from './provider.js'
import type { LoginContext } from './oauth.js'

export function openGdrive(url: string, _context: RemoteContext): Promise<Provider> {
  return Promise.reject(new UsageError(`--provider ${url}: the gdrive provider is not available in this build yet`))
}

export function loginGdrive(_context: LoginContext): Promise<void> {
  return Promise.reject(new UsageError('the gdrive provider is not available in this build yet'))
}
