/**
 * The bucket a request falls in for one limit. Key parts come from the verified principal and
 * the canonical request, never from a raw client header; values are hashed into the storage key,
 * so a long or hostile value (a subject, a model name) cannot make keys of any size.
 */
import { hash } from 'node:crypto'
import type { Principal } from '../../chain/principal.js'
import type { RequestContext } from '../../chain/types.js'
import { routeLabel } from '../../http/route-label.js'
import type { KeyPart } from './schema.js'

export function keyValue(part: KeyPart, ctx: RequestContext, p: Principal | undefined, model: () => string | undefined): string {
  switch (part) {
    case 'subject':
      // Anonymous callers are limited by address, not lumped into one bucket.
      return p?.subject !== undefined ? `s:${p.subject}` : `ip:${ctx.request.clientIp}`
    case 'tenant':
      return p?.tenant ?? '-'
    case 'ip':
      return ctx.request.clientIp
    case 'role':
      return p && p.roles.length > 0 ? [...p.roles].sort().join(',') : '-'
    case 'route': {
      const label = routeLabel(ctx.request.path)
      return label === 'other' ? ctx.request.path : label
    }
    case 'model':
      return model() ?? '-'
    case 'global':
      return '*'
  }
}

/** `<limit>:<digest of the parts>`: stable per bucket, bounded in size. */
export function storageKey(limit: string, values: readonly string[]): string {
  return `${limit}:${hash('sha256', values.join('\u0000'), 'base64url').slice(0, 22)}`
}
