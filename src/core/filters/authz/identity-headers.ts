/**
 * The principal as headers for the chatbot. Values come from a verified token but are still
 * attacker-shaped text: CR, LF or NUL in one refuses the request (header injection), and
 * anything outside printable ASCII is percent-encoded so Node never rejects or mangles it.
 */
import type { Principal } from '../../chain/principal.js'
import type { HeaderEdits } from '../../chain/types.js'
import type { IdentityConfig } from './schema.js'

const FORBIDDEN = /[\r\n\0]/
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
  const pairs: Array<[string | null, string | undefined]> = [
    [h.subject, p.subject],
    // A role with a comma would read as two roles: encode it.
    [h.roles, p.roles.length > 0 ? p.roles.map((r) => (r.includes(',') ? encodeURIComponent(r) : r)).join(',') : undefined],
    [h.tenant, p.tenant],
    [h.region, p.region],
    [h.tier, p.tier],
  ]
  for (const [, v] of pairs) if (v !== undefined && FORBIDDEN.test(v)) return false
  for (const [name, v] of pairs) if (name !== null && v !== undefined) edits.set(name, headerValue(v))
  return true
}
