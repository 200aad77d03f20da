/**
 * Verified claims → the principal the other filters see. Nothing here caches roles beyond the
 * token: a role change in the identity provider shows in the next token, and so on the next
 * request that carries it.
 */
import type { Principal } from '../../chain/principal.js'
import { effectiveRoles, type RoleClosures } from './roles.js'
import type { ClaimsMapping } from './schema.js'

/** Most roles taken from one token; a token with more is a mistake or an attack. */
const MAX_TOKEN_ROLES = 256

/**
 * A claim by name, or by dotted path (`realm_access.roles`). A claim whose own name contains
 * dots (Auth0's `https://example.com/roles`) is found by its full name first.
 */
export function readClaim(claims: Readonly<Record<string, unknown>>, path: string): unknown {
  if (Object.prototype.hasOwnProperty.call(claims, path)) return claims[path]
  let cur: unknown = claims
  for (const part of path.split('.')) {
    if (typeof cur !== 'object' || cur === null || Array.isArray(cur) || !Object.prototype.hasOwnProperty.call(cur, part)) return undefined
    cur = (cur as Record<string, unknown>)[part]
  }
  return cur
}

/**
 * Roles exactly as written in the token: a list of strings, or one string naming one role.
 * No trimming or case folding: "Admin " is not "admin".
 */
export function tokenRoles(value: unknown): string[] {
  if (typeof value === 'string') return value === '' ? [] : [value]
  if (!Array.isArray(value)) return []
  const out: string[] = []
  for (const v of value) {
    if (typeof v === 'string' && v !== '') out.push(v)
    if (out.length >= MAX_TOKEN_ROLES) break
  }
  return out
}

function stringClaim(claims: Readonly<Record<string, unknown>>, path: string): string | undefined {
  const v = readClaim(claims, path)
  return typeof v === 'string' ? v : undefined
}

export function principalFromClaims(claims: Readonly<Record<string, unknown>>, mapping: ClaimsMapping, closures: RoleClosures): Principal {
  const subject = stringClaim(claims, mapping.subject)
  const tenant = stringClaim(claims, mapping.tenant)
  const region = stringClaim(claims, mapping.region)
  const tier = stringClaim(claims, mapping.tier)
  return Object.freeze({
    ...(subject !== undefined ? { subject } : {}),
    roles: Object.freeze(effectiveRoles(tokenRoles(readClaim(claims, mapping.roles)), closures)),
    ...(tenant !== undefined ? { tenant } : {}),
    ...(region !== undefined ? { region } : {}),
    ...(tier !== undefined ? { tier } : {}),
    claims,
  })
}

export function anonymousPrincipal(role: string | undefined, closures: RoleClosures): Principal {
  return Object.freeze({ roles: Object.freeze(role === undefined ? [] : effectiveRoles([role], closures)), claims: Object.freeze({}) })
}
