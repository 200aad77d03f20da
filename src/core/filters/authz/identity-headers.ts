/**
 * The principal as headers for the chatbot. Values come from a verified token but are still
 * attacker-shaped text: CR, LF, NUL or a lone surrogate in one refuses the request, and
 * anything outside printable ASCII is percent-encoded so Node never rejects or mangles it.
 */
import type { Principal } from '../../chain/principal.js'
import type { HeaderEdits } from '../../chain/types.js'
import type { IdentityConfig } from './schema.js'

// A lone surrogate (a JSON `\ud800` escape) is no text at all: encodeURIComponent would throw on it.
const FORBIDDEN = /[\r\n\0]|\p{Cs}/u
const PRINTABLE = /^[\x20-\x7e]*$/

function headerValue(v: string): string {
  return PRINTABLE.test(v) ? v : encodeURIComponent(v)
}

/** Every configured identity header name, to strip from what the client sent. */
export function identityHeaderNames(h: IdentityConfig['headers']): string[] {
  return [h.subject, h.roles, h.tenant, h.region, h.tier].filter((n): n is string => n !== null)
}

/** Sets the headers; false when a value must be refused. */
export function setIdentityHeaders(edits: HeaderEdits, h: IdentityConfig['headers'], p: Principal): boolean {
  if (p.roles.some((r) => FORBIDDEN.test(r))) return false
  const pairs: Array<[string | null, string | undefined]> = [
    [h.subject, p.subject],
    // Each role on its own: a comma in one would read as two roles, and encoding the joined list
    // (for one non-ASCII role) would turn every separator into %2C.
    [h.roles, p.roles.length > 0 ? p.roles.map((r) => (r.includes(',') || !PRINTABLE.test(r) ? encodeURIComponent(r) : r)).join(',') : undefined],
    [h.tenant, p.tenant],
    [h.region, p.region],
    [h.tier, p.tier],
  ]
  for (const [, v] of pairs) if (v !== undefined && FORBIDDEN.test(v)) return false
  for (const [name, v] of pairs) if (name !== null && v !== undefined) edits.set(name, headerValue(v))
  return true
}
