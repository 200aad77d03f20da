/**
 * Path patterns of access rules. Requests are matched on their canonical path (see
 * core/http/canonical-path.ts), so patterns are canonicalized the same way at load: a rule
 * written `/a/%7euser` or `/v1//chat` means what the request path will look like.
 *
 *  - exact: `/v1/chat/completions`
 *  - prefix: `/v1/**` (also matches `/v1` itself)
 *  - glob: `*` is any run within one segment, `**` as a whole segment is any number of segments.
 * Globs run on RE2, so no pattern can make matching super-linear.
 */
import RE2 from 're2'
import { canonicalizeTarget } from './canonical-path.js'

export interface PathMatcher {
  test(path: string): boolean
  /** The pattern canonicalized (lower-cased with ignoreCase): what `test` compares with. */
  readonly canonical: string
  readonly kind: 'exact' | 'prefix' | 'glob'
}

export type CompiledPattern = { ok: true; matcher: PathMatcher } | { ok: false; message: string }

export function compilePathPattern(pattern: string, ignoreCase: boolean): CompiledPattern {
  if (pattern.includes('?')) return { ok: false, message: 'a path pattern has no query string' }
  const c = canonicalizeTarget(pattern)
  if (!c.ok) return { ok: false, message: `not a path a request can have after canonicalization (${c.reason})` }
  const canonical = ignoreCase ? c.path.toLowerCase() : c.path
  const fold = ignoreCase ? (p: string) => p.toLowerCase() : (p: string) => p
  if (!canonical.includes('*')) return { ok: true, matcher: { kind: 'exact', canonical, test: (p) => fold(p) === canonical } }
  const star = canonical.indexOf('*')
  if (canonical.endsWith('/**') && star === canonical.length - 2) {
    const base = canonical.slice(0, -3)
    const withSlash = `${base}/`
    return { ok: true, matcher: { kind: 'prefix', canonical, test: (p) => { const f = fold(p); return f === base || f.startsWith(withSlash) || (base === '' && f === '/') } } }
  }
  let source = '^'
  for (const seg of canonical.split('/').slice(1)) {
    if (seg === '**') source += '(?:/[^/]*)*'
    else if (seg.includes('**')) return { ok: false, message: '"**" must be a whole segment; use "*" within a segment' }
    else source += '/' + seg.split('*').map(escapeRegex).join('[^/]*')
  }
  const re = new RE2(source + '$', ignoreCase ? 'iu' : 'u')
  return { ok: true, matcher: { kind: 'glob', canonical, test: (p) => re.test(p) } }
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}
