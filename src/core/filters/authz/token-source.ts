/**
 * Where the bearer token comes from: the Authorization header only, unless the policy names a
 * query parameter. Two Authorization headers are refused outright: Node keeps the first, a
 * chatbot behind us might read the last, and nobody can say which one was authorized.
 */
import type { RequestInfo } from '../../chain/types.js'
import { countHeader, rawHeaderValue } from '../../http/hop-by-hop.js'

export type TokenSource = { kind: 'none' } | { kind: 'token'; token: string; fromQuery: boolean } | { kind: 'duplicate' } | { kind: 'malformed' }

/** RFC 6750 b64token after "Bearer" and one or more spaces. */
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i

export function findToken(request: RequestInfo, queryParameter: string | undefined): TokenSource {
  const value = rawHeaderValue(request.rawHeaders, 'authorization')
  if (value !== undefined) {
    if (countHeader(request.rawHeaders, 'authorization') > 1) return { kind: 'duplicate' }
    const m = BEARER.exec(value)
    if (m) return { kind: 'token', token: m[1]!, fromQuery: false }
    // Another scheme (Basic, Digest) may be the chatbot's own business; "Bearer" with junk is not.
    return /^bearer(\s|$)/i.test(value) ? { kind: 'malformed' } : { kind: 'none' }
  }
  if (queryParameter !== undefined && request.query.length > 1) {
    const params = new URLSearchParams(request.query.slice(1))
    const all = params.getAll(queryParameter)
    if (all.length > 1) return { kind: 'duplicate' }
    if (all.length === 1) return all[0] ? { kind: 'token', token: all[0], fromQuery: true } : { kind: 'malformed' }
  }
  return { kind: 'none' }
}

/** The query without `name`, every other parameter kept byte for byte ('' when none is left). */
export function withoutParameter(query: string, name: string): string {
  const kept = query
    .slice(1)
    .split('&')
    .filter((pair) => {
      const eq = pair.indexOf('=')
      const raw = (eq === -1 ? pair : pair.slice(0, eq)).replace(/\+/g, ' ')
      try {
        return decodeURIComponent(raw) !== name
      } catch {
        return true
      }
    })
  return kept.length === 0 ? '' : `?${kept.join('&')}`
}
