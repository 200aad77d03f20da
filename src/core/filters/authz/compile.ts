/** `spec.identity`, `spec.roles`, `spec.access` → what the filter runs. Once per snapshot. */
import { createLocalJWKSet, type JSONWebKeySet } from 'jose'
import { ConfigCompileError, ConfigCompileErrors } from '../../config/errors.js'
import type { Ports } from '../../ports.js'
import { Authenticator } from './authenticate.js'
import type { CompiledAuthz } from './filter.js'
import { lintAuthz } from './lint.js'
import { expandRoles } from './roles.js'
import { compileAccessRules } from './rules.js'
import type { AuthzConfig, IssuerConfig, JwtConfig } from './schema.js'
import type { IssuerVerifier } from './verify.js'

/** RFC 7518 §3.2: an HMAC key at least as long as the hash output. */
const HMAC_MIN_BYTES: Record<string, number> = { HS256: 32, HS384: 48, HS512: 64 }

export function compileAuthz(config: AuthzConfig, ports: Ports): CompiledAuthz {
  const closures = expandRoles(config.roles ?? {})
  const errors: ConfigCompileError[] = []
  const anon = config.identity?.anonymous?.role
  if (anon !== undefined && !closures.has(anon)) errors.push(new ConfigCompileError(['identity', 'anonymous', 'role'], `unknown role ${JSON.stringify(anon)}: declare it under spec.roles`))
  let rules: CompiledAuthz['rules'] = []
  try {
    rules = compileAccessRules(config.access ?? [], closures)
  } catch (e) {
    if (e instanceof ConfigCompileErrors) errors.push(...e.errors)
    else throw e
  }
  const jwt = config.identity?.jwt
  const issuers = new Map<string, IssuerVerifier>()
  jwt?.issuers.forEach((i, index) => {
    const at = (...p: (string | number)[]) => ['identity', 'jwt', 'issuers', index, ...p]
    if (issuers.has(i.issuer)) return errors.push(new ConfigCompileError(at('issuer'), `issuer ${JSON.stringify(i.issuer)} is listed twice`))
    try {
      issuers.set(i.issuer, verifierFor(i, jwt, ports))
    } catch (e) {
      errors.push(e instanceof ConfigCompileError ? new ConfigCompileError(at(...e.path), e.message) : new ConfigCompileError(at(), String(e)))
    }
  })
  if (errors.length > 0) throw new ConfigCompileErrors(errors)
  return { closures, rules, authenticator: jwt ? new Authenticator(jwt, issuers, closures) : undefined, warnings: lintAuthz(rules, closures) }
}

function verifierFor(i: IssuerConfig, jwt: JwtConfig, ports: Ports): IssuerVerifier {
  return {
    issuer: i.issuer,
    audiences: i.audiences,
    algorithms: i.algorithms,
    ...keyFor(i, ports),
    ...(i.typ !== undefined ? { typ: i.typ } : {}),
    ...(i.requiredClaims ? { requiredClaims: i.requiredClaims } : {}),
    claims: { ...jwt.claims, ...i.claims },
  }
}

function keyFor(i: IssuerConfig, ports: Ports): Pick<IssuerVerifier, 'key' | 'keysVersion'> {
  if (i.jwksUri !== undefined) {
    if (!ports.jwks) throw new ConfigCompileError(['jwksUri'], 'remote JWKS are not available in this process')
    const set = ports.jwks.get(i.jwksUri, { cooldownMs: i.jwks.cooldownSeconds * 1000, maxAgeMs: i.jwks.maxAgeSeconds * 1000, timeoutMs: i.jwks.timeoutMs })
    return { key: set.getKey, keysVersion: () => set.keysVersion() }
  }
  const file = (i.jwksFile ?? i.hmacSecretFile)!
  const field = i.jwksFile !== undefined ? 'jwksFile' : 'hmacSecretFile'
  if (!ports.policyFiles) throw new ConfigCompileError([field], 'policy files cannot be read in this process')
  let bytes: Uint8Array
  try {
    bytes = ports.policyFiles.read(file)
  } catch (e) {
    throw new ConfigCompileError([field], (e as Error).message)
  }
  if (i.hmacSecretFile !== undefined) {
    // Secrets written with `echo` or an editor end in a newline that is not part of the key.
    let end = bytes.length
    if (end > 0 && bytes[end - 1] === 0x0a) end--
    if (end > 0 && bytes[end - 1] === 0x0d) end--
    const secret = bytes.slice(0, end)
    const need = Math.max(...i.algorithms.map((a) => HMAC_MIN_BYTES[a] ?? 0))
    if (secret.length < need) throw new ConfigCompileError([field], `the secret has ${secret.length} bytes; ${i.algorithms.join(', ')} needs at least ${need}`)
    return { key: secret }
  }
  let set: JSONWebKeySet
  try {
    set = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)) as JSONWebKeySet
    return { key: createLocalJWKSet(set) }
  } catch (e) {
    throw new ConfigCompileError([field], `not a JWKS: ${(e as Error).message}`)
  }
}
