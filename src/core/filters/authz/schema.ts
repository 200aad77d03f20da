import { z } from 'zod'

/** JWS algorithms Chaperone verifies. `none` is not one of them, in any casing. */
export const ASYMMETRIC_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'] as const
export const HMAC_ALGORITHMS = ['HS256', 'HS384', 'HS512'] as const

const ROLE_NAME = /^[A-Za-z0-9][A-Za-z0-9._:/-]*$/
const roleName = z.string().min(1).max(128).regex(ROLE_NAME, 'letters, digits, ".", "_", ":", "/" and "-", starting with a letter or digit')
/** Headers whose meaning a claim value must never decide: framing, routing, credentials, Chaperone's own. */
const RESERVED_HEADERS = new Set(['host', 'content-length', 'content-type', 'content-encoding', 'transfer-encoding', 'connection', 'keep-alive', 'upgrade', 'te', 'trailer', 'expect', 'authorization', 'proxy-authorization', 'cookie', 'x-request-id', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'forwarded'])
const headerName = z
  .string()
  .regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, 'an HTTP header name')
  .toLowerCase()
  .refine((n) => !RESERVED_HEADERS.has(n), 'a header that frames, routes or authenticates the request cannot carry identity')
const claimPath = z.string().min(1).max(256).describe('A claim name, or a dotted path into the token (realm_access.roles); a claim whose own name contains dots is found first.')

const claimsMapping = z
  .strictObject({
    subject: claimPath.default('sub'),
    roles: claimPath.default('roles'),
    tenant: claimPath.default('tenant'),
    region: claimPath.default('region'),
    tier: claimPath.default('tier'),
  })
  .describe('Where the principal comes from in the token.')

const jwks = z
  .strictObject({
    cooldownSeconds: z.number().min(0).max(3600).default(30).describe('Least time between two fetches caused by unknown key ids (a flood of forged kids costs one fetch per cooldown).'),
    maxAgeSeconds: z.number().min(1).max(86400).default(600).describe('Keys are refetched after this long; a removed key stops verifying then. While the endpoint is down the cached keys keep working.'),
    timeoutMs: z.number().int().min(1).max(60000).default(2000).describe('Bound on one fetch of the JWKS.'),
  })
  .describe('Caching of a remote JWKS (jwksUri).')

const issuer = z
  .strictObject({
    issuer: z.string().min(1).describe('The exact `iss` of the tokens this entry verifies.'),
    audiences: z.array(z.string().min(1)).min(1).describe('Accepted `aud` values; a token must name at least one.'),
    algorithms: z.array(z.enum([...ASYMMETRIC_ALGORITHMS, ...HMAC_ALGORITHMS])).min(1).describe('Explicit allowlist of JWS algorithms.'),
    jwksUri: z.url({ protocol: /^https?$/ }).optional().describe('A remote JWKS, cached (see `jwks`).'),
    jwksFile: z.string().min(1).optional().describe('A JWKS file (e.g. in the mounted ConfigMap or a Secret), relative to the config directory; reloaded with the policy.'),
    hmacSecretFile: z.string().min(1).optional().describe('A file holding the shared HS256/384/512 secret (one trailing newline is ignored); at least as many bytes as the hash.'),
    jwks: jwks.prefault({}),
    typ: z.string().min(1).optional().describe('Required JOSE header `typ`, e.g. "at+jwt" (RFC 9068) to refuse ID tokens; compared case-insensitively, "application/" optional.'),
    requiredClaims: z.record(z.string().min(1), z.union([z.string(), z.array(z.string()).min(1)])).optional().describe('Claims that must have one of these values, e.g. {token_use: access} (Cognito) or {typ: Bearer} (Keycloak) to refuse ID and refresh tokens.'),
    claims: claimsMapping.partial().optional().describe('Overrides of `jwt.claims` for this issuer.'),
  })
  .superRefine((i, ctx) => {
    const sources = [i.jwksUri && 'jwksUri', i.jwksFile && 'jwksFile', i.hmacSecretFile && 'hmacSecretFile'].filter(Boolean)
    if (sources.length !== 1) ctx.addIssue({ code: 'custom', message: `exactly one of jwksUri, jwksFile, hmacSecretFile (found ${sources.length === 0 ? 'none' : sources.join(', ')})` })
    const hmac = i.algorithms.filter((a) => (HMAC_ALGORITHMS as readonly string[]).includes(a))
    // A shared secret and a public key must never verify the same algorithm family: that mix is
    // what lets an attacker sign HS256 with a published RSA key.
    if (i.hmacSecretFile && hmac.length !== i.algorithms.length) ctx.addIssue({ code: 'custom', path: ['algorithms'], message: 'hmacSecretFile verifies HS256/HS384/HS512 only' })
    if (!i.hmacSecretFile && hmac.length > 0) ctx.addIssue({ code: 'custom', path: ['algorithms'], message: `${hmac.join(', ')} needs hmacSecretFile; a JWKS verifies asymmetric algorithms only` })
  })

export const identitySchema = z
  .strictObject({
    jwt: z
      .strictObject({
        issuers: z.array(issuer).min(1),
        clockSkewSeconds: z.number().int().min(0).max(600).default(30).describe('Tolerance on exp, nbf and iat.'),
        claims: claimsMapping.prefault({}),
        queryParameter: z.string().min(1).max(64).optional().describe('Also accept the token from this query parameter (off unless set; tokens in URLs end up in logs).'),
        maxTokenBytes: z.number().int().min(256).max(65536).default(8192).describe('A longer token is refused before any decoding.'),
        cacheEntries: z.number().int().min(0).max(1_000_000).default(10000).describe('Verified tokens kept (by SHA-256 of the token, until exp) so a repeated token costs no signature check; 0 turns the cache off.'),
        forwardToken: z.boolean().default(true).describe('Send the Authorization header on to the chatbot.'),
      })
      .optional(),
    anonymous: z
      .strictObject({ role: roleName.describe('The role of requests without a token.') })
      .optional()
      .describe('Without it, a request without a token is 401 wherever access rules apply.'),
    headers: z
      .strictObject({
        subject: headerName.nullable().default('x-chaperone-subject'),
        roles: headerName.nullable().default('x-chaperone-roles'),
        tenant: headerName.nullable().default('x-chaperone-tenant'),
        region: headerName.nullable().default('x-chaperone-region'),
        tier: headerName.nullable().default('x-chaperone-tier'),
      })
      .prefault({})
      .describe('Identity headers sent to the chatbot (null: not sent). The same headers from the client are always removed.'),
    revocation: z
      .strictObject({
        maxStaleSeconds: z.number().min(0.1).max(3600).default(5).describe('How old the local copy of the shared revocation list may get (Redis unreachable) before onStale applies.'),
        onStale: z.enum(['allow', 'deny']).default('allow').describe('allow: keep checking against the last copy; deny: refuse tokens with 503 until it is fresh. Counted in chaperone_authz_dependency_errors_total.'),
      })
      .prefault({}),
  })
  .describe('Who is calling: JWT verification and the principal it yields.')

const role = z
  .strictObject({
    inherits: z.array(roleName).default([]).describe('Roles whose permissions this role also has; a cycle is a load error.'),
    description: z.string().max(500).optional(),
  })
  .nullable()
  .transform((r) => r ?? { inherits: [] as string[] })

const pathPattern = z
  .string()
  .min(1)
  .max(1024)
  .refine((p) => p.startsWith('/'), 'a path starts with "/"')
  .describe('Exact (/v1/chat/completions), prefix (/v1/**) or glob (/v1/*/completions: * is one segment, ** any number).')

const subjects = z
  .strictObject({
    roles: z.array(roleName).min(1).optional().describe('Roles (with everything they inherit) this applies to.'),
    authenticated: z.literal(true).optional().describe('Any caller with a verified token.'),
    anyone: z.literal(true).optional().describe('Every caller, anonymous included.'),
  })
  .refine((s) => [s.roles, s.authenticated, s.anyone].filter((x) => x !== undefined).length === 1, 'exactly one of roles, authenticated, anyone')

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const

export const accessRuleSchema = z
  .strictObject({
    name: z.string().min(1).max(128).regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'letters, digits, ".", "_" and "-"'),
    match: z
      .strictObject({
        paths: z.array(pathPattern).min(1).optional().describe('Canonical paths (see path canonicalization); any path when absent.'),
        methods: z.array(z.string().toUpperCase().pipe(z.enum(METHODS))).min(1).optional(),
        hosts: z
          .array(z.string().min(1).max(253).regex(/^(\*\.)?[A-Za-z0-9.-]+\.?$|^\[[0-9A-Fa-f:.]+\]$/, 'a host name, "*.example.com", or a bracketed IPv6 literal'))
          .min(1)
          .optional()
          .describe('The Host header, compared case-insensitively and without port or trailing dot; "*.example.com" matches any name under it. A request without Host does not match.'),
        models: z.array(z.string().min(1).max(256)).min(1).optional().describe('The `model` of a JSON body; "*" at the end matches a prefix (gpt-4*). A request without one does not match.'),
        ignoreCase: z.boolean().default(false).describe('Compare paths case-insensitively (for a chatbot whose router ignores case).'),
      })
      .prefault({}),
    allow: subjects.optional(),
    deny: subjects.optional(),
    when: z.string().min(1).max(4096).optional().describe('CEL condition over principal, request, time and source; the rule applies only when true.'),
    onError: z.enum(['apply', 'skip']).optional().describe('A `when` that fails to evaluate: apply the rule or skip it. Default: a deny applies (fail closed), an allow is skipped.'),
    mode: z.enum(['enforce', 'audit']).default('enforce').describe('audit: evaluate, log and count what the rule would change; never deny.'),
  })
  .refine((r) => (r.allow === undefined) !== (r.deny === undefined), 'exactly one of allow, deny')

export const authzSchema = z.strictObject({
  identity: identitySchema.optional(),
  roles: z.record(roleName, role).optional().describe('Roles and their inheritance (a DAG).'),
  access: z.array(accessRuleSchema).optional().describe('Access rules: default deny once there is one; a matching deny beats any allow.'),
})

export type AuthzConfig = z.output<typeof authzSchema>
export type IdentityConfig = NonNullable<AuthzConfig['identity']>
export type JwtConfig = NonNullable<IdentityConfig['jwt']>
export type IssuerConfig = JwtConfig['issuers'][number]
export type ClaimsMapping = z.output<typeof claimsMapping>
export type AccessRuleConfig = z.output<typeof accessRuleSchema>
export type Subjects = z.output<typeof subjects>
