import { canonicalizeTarget } from './canonical-path.js'
import { countHeader } from './hop-by-hop.js'

export type AdmittedTarget =
  | { readonly ok: true; readonly path: string; readonly query: string }
  | { readonly ok: false; readonly code: 'bad_request' | 'invalid_path'; readonly detail: string; readonly close: boolean }

/**
 * What every request must pass before a filter sees it, plain or an upgrade: an origin-form
 * target (RFC 9112 §3.2.1; an absolute-form target would let a client steer routing with a URL
 * the chatbot never sees as such), a path with one canonical form (filters authorize exactly
 * what is forwarded), and one Host (Node keeps the first; routing might read another).
 */
export function admitTarget(url: string | undefined, rawHeaders: readonly string[]): AdmittedTarget {
  if (url?.charCodeAt(0) !== 0x2f) return { ok: false, code: 'bad_request', detail: `request target not in origin-form: ${url?.slice(0, 64)}`, close: true }
  const target = canonicalizeTarget(url)
  if (!target.ok) return { ok: false, code: 'invalid_path', detail: `request target refused: ${target.reason}`, close: false }
  if (countHeader(rawHeaders, 'host') > 1) return { ok: false, code: 'bad_request', detail: 'duplicate Host header', close: true }
  return target
}
