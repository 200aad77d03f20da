import type { Principal } from '../../chain/principal.js'
import { PRINCIPAL_STATE } from '../../chain/principal.js'
import { noteDecision } from '../../chain/decisions.js'
import { CONTINUE, refuse, type ConfigWarning, type Filter, type RequestContext, type Verdict } from '../../chain/types.js'
import type { CelActivation } from '../../cel/index.js'
import { activationReads, buildActivation } from '../../cel/request-activation.js'
import { modelOf } from '../../formats/json.js'
import type { Ports } from '../../ports.js'
import type { Authenticator } from './authenticate.js'
import { anonymousPrincipal } from './claims.js'
import { decide, type AccessQuery } from './decide.js'
import { identityHeaderNames, setIdentityHeaders } from './identity-headers.js'
import type { RoleClosures } from './roles.js'
import type { CompiledRule } from './rules.js'
import { identitySchema, type AuthzConfig, type IdentityConfig } from './schema.js'
import { findToken, withoutParameter } from './token-source.js'

/** RFC 6750 §3: a failed token gets an error code and nothing that says why. */
const INVALID_TOKEN = { 'www-authenticate': 'Bearer error="invalid_token"' }
const NO_TOKEN = { 'www-authenticate': 'Bearer realm="chaperone"' }
const DEFAULT_RULE = '(default)'

/** A policy without `identity`: the schema's defaults (identity headers, revocation policy). */
const DEFAULT_IDENTITY: IdentityConfig = identitySchema.parse({})

export interface CompiledAuthz {
  readonly closures: RoleClosures
  readonly rules: readonly CompiledRule[]
  readonly authenticator: Authenticator | undefined
  readonly warnings: readonly ConfigWarning[]
}

export function createAuthzFilter(config: AuthzConfig, compiled: CompiledAuthz, ports: Ports): Filter {
  const identity = config.identity ?? DEFAULT_IDENTITY
  const { rules, authenticator } = compiled
  const enforceRules = rules.some((r) => r.mode === 'enforce')
  const auditRules = rules.some((r) => r.mode === 'audit')
  // With no rule enforcing, nothing may be refused (all-audit rule sets, identity alone is the
  // exception below: a present but invalid token is still refused when no rule is in audit).
  const refuses = enforceRules || !auditRules
  const stripNames = identityHeaderNames(identity.headers)
  // Who a request without a (usable) token is: the anonymous role, or no role at all.
  const guest = anonymousPrincipal(identity.anonymous?.role, compiled.closures)
  const unauthenticated = (hadToken: boolean) => ({ principal: guest, authenticated: false, hadToken })
  const now = ports.now ?? (() => new Date())
  // Token expiry needs only a number: no Date per request unless a condition reads `time`.
  const clock = ports.now ? () => ports.now!().getTime() : Date.now
  const metrics = ports.authzMetrics
  const revocations = ports.revocations
  const maxStaleMs = identity.revocation.maxStaleSeconds * 1000
  const conditionsRead = activationReads(rules.map((r) => r.when))

  function tokenRefused(ctx: RequestContext, reason: string): Verdict | undefined {
    metrics?.tokenRejected(reason)
    ctx.log.info({ reason }, 'token refused')
    noteDecision(ctx.state, { filter: 'authz', action: 'deny', rule: '(token)', shadow: !refuses, reason })
    return refuses ? refuse('unauthorized', INVALID_TOKEN) : undefined
  }

  async function authenticate(ctx: RequestContext): Promise<{ principal: Principal; authenticated: boolean; hadToken: boolean } | Verdict> {
    const jwt = identity.jwt
    const found = findToken(ctx.request, jwt?.queryParameter)
    if (found.kind === 'duplicate') {
      ctx.log.info({}, 'more than one bearer token')
      return refuse('bad_request')
    }
    if (found.kind === 'malformed') return tokenRefused(ctx, 'malformed_header') ?? unauthenticated(true)
    if (found.kind === 'none' || !authenticator) return unauthenticated(false)
    // A token in the URL would otherwise reach the chatbot (and its access log) in the clear.
    if (found.fromQuery && jwt && !jwt.forwardToken) ctx.setUpstreamQuery?.(withoutParameter(ctx.request.query, jwt.queryParameter!))
    const nowMs = clock()
    const r = await authenticator.authenticate(found.token, nowMs)
    if (!r.ok) return tokenRefused(ctx, r.reason) ?? unauthenticated(true)
    if (revocations) {
      if (revocations.staleness() > maxStaleMs) {
        metrics?.dependencyError('revocation', identity.revocation.onStale)
        if (identity.revocation.onStale === 'deny') {
          ctx.log.warn({ stalenessMs: revocations.staleness() }, 'revocation list is stale; refusing tokens (onStale: deny)')
          return refuse('dependency_unavailable')
        }
      }
      if (revocations.isRevoked(r.value.identity)) return tokenRefused(ctx, 'revoked') ?? unauthenticated(true)
    }
    return { principal: r.value.principal, authenticated: true, hadToken: true }
  }

  return {
    name: 'authz',
    warnings: compiled.warnings,
    needsRequestBody: conditionsRead.body || rules.some((r) => r.models !== undefined),

    async onRequest(ctx): Promise<Verdict> {
      // Whatever happens next, the client never speaks for Chaperone's identity headers.
      for (const n of stripNames) ctx.upstreamHeaders.remove(n)
      if (identity.jwt && !identity.jwt.forwardToken) ctx.upstreamHeaders.remove('authorization')

      const who = await authenticate(ctx)
      if ('kind' in who) return who
      ctx.state.set(PRINCIPAL_STATE, who.principal)

      if (rules.length > 0) {
        let activation: CelActivation | undefined
        const q: AccessQuery = {
          method: ctx.request.method,
          path: ctx.request.path,
          host: ctx.request.host,
          // json() is undefined for an encoded or non-JSON body.
          model: () => modelOf(ctx.body?.json()),
          roles: who.principal.roles,
          authenticated: who.authenticated,
          condition: (c) => c.evaluate((activation ??= buildActivation(ctx, undefined, now(), conditionsRead))),
        }
        const onConditionError = (rule: CompiledRule, error: string) => {
          metrics?.dependencyError('condition', rule.applyOnError === (rule.effect === 'deny') ? 'deny' : 'allow')
          ctx.log.warn({ rule: rule.name, detail: error }, 'access condition failed')
        }
        const enforced = enforceRules ? decide(rules, q, 'enforce', onConditionError) : { allow: true, rule: undefined }
        if (auditRules) {
          // Enforced rules reported their condition failures above; audit rules report theirs here.
          const audited = decide(rules, q, 'all', (rule, error) => rule.mode === 'audit' && onConditionError(rule, error))
          const rule = audited.rule?.name ?? DEFAULT_RULE
          metrics?.decision(rule, audited.allow, 'audit')
          if (!audited.allow) noteDecision(ctx.state, { filter: 'authz', action: 'deny', rule, shadow: true })
          if (audited.allow !== enforced.allow) ctx.log.info({ rule, wouldAllow: audited.allow, allowed: enforced.allow }, 'authz audit: with the audit rules enforced, the decision would differ')
        }
        if (enforceRules) metrics?.decision(enforced.rule?.name ?? DEFAULT_RULE, enforced.allow, 'enforce')
        if (!enforced.allow) {
          ctx.log.info({ rule: enforced.rule?.name ?? DEFAULT_RULE, subject: who.principal.subject }, 'access denied')
          noteDecision(ctx.state, { filter: 'authz', action: 'deny', rule: enforced.rule?.name ?? DEFAULT_RULE, shadow: false, ...(who.hadToken ? {} : { reason: 'no_token' }) })
          // Without a token the answer is "authenticate", not "forbidden".
          return who.hadToken ? refuse('forbidden') : refuse('unauthorized', NO_TOKEN)
        }
      }
      if (!setIdentityHeaders(ctx.upstreamHeaders, identity.headers, who.principal)) {
        metrics?.tokenRejected('header_injection')
        ctx.log.warn({}, 'a claim for an identity header holds CR, LF or NUL')
        return refuse('unauthorized', INVALID_TOKEN)
      }
      return CONTINUE
    },
  }
}
