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
// `%` is encoded too, so the chatbot can always percent-decode a value: raw text never has one.
const PRINTABLE = /^[\x20-\x24\x26-\x7e]*$/

function headerValue(v: string): string {
  return PRINTABLE.test(v) ? v : encodeURIComponent(v)
}

/** Every configured identity header name, to strip from what the client sent. */
export function identityHeaderNames(h: IdentityConfig['headers']): string[] {
  return [h.subject, h.roles, h.tenant, h.region, h.tier].filter((n): n is string => n !== null)
}

/** Sets the headers; false when a value must be refused. */
export function setIdentityHeaders(edits: HeaderEdits, h: IdentityConfig['headers'], p: Principal): boolean {
  const single: Array<[string | null, string | undefined]> = [
    [h.subject, p.subject],
    [h.tenant, p.tenant],
    [h.region, p.region],
    [h.tier, p.tier],
  ]
  for (const [, v] of single) if (v !== undefined && FORBIDDEN.test(v)) return false
  if (p.roles.some((r) => FORBIDDEN.test(r))) return false
  for (const [name, v] of single) if (name !== null && v !== undefined) edits.set(name, headerValue(v))
  // Each role encoded on its own, so a comma in one never reads as two roles and the separators
  // stay commas whatever one role holds.
  if (h.roles !== null && p.roles.length > 0) edits.set(h.roles, p.roles.map((r) => (r.includes(',') ? encodeURIComponent(r) : headerValue(r))).join(','))
  return true
}
