import { principalOf } from '../../chain/principal.js'
import { CONTINUE, refuse, type Filter, type RequestContext, type ResponseHead, type Verdict } from '../../chain/types.js'
import { isObject } from '../../formats/json.js'
import type { PathMatcher } from '../../http/path-pattern.js'
import type { LimitDecision, LimitSpec, Ports } from '../../ports.js'
import { rateLimitHeaders, retryAfterSeconds } from './headers.js'
import { keyValue, storageKey } from './keys.js'
import type { LimitConfig } from './schema.js'
import { rateFor } from './tiers.js'

export const RATE_LIMIT_STATE = 'rateLimits'

export interface CompiledLimit {
  readonly config: LimitConfig
  readonly paths?: readonly PathMatcher[]
  readonly methods?: ReadonlySet<string>
}

interface State {
  readonly headers: Record<string, string> | undefined
}

export function createRateLimitFilter(limits: readonly CompiledLimit[], ports: Ports): Filter {
  const store = ports.rateLimits
  const metrics = ports.rateLimitMetrics
  const random = ports.random ?? Math.random
  const readsModel = limits.some((l) => l.config.key.includes('model'))

  function specsFor(ctx: RequestContext): LimitSpec[] {
    const p = principalOf(ctx.state)
    let model: string | undefined | null = null
    const readModel = () => {
      if (model === null) {
        const b = ctx.body?.encoding === undefined ? ctx.body?.json() : undefined
        model = isObject(b) && typeof b.model === 'string' ? b.model : undefined
      }
      return model
    }
    const specs: LimitSpec[] = []
    for (const l of limits) {
      if (l.methods && !l.methods.has(ctx.request.method)) continue
      if (l.paths && !l.paths.some((m) => m.test(ctx.request.path))) continue
      const c = l.config
      const rate = rateFor(c, p)
      specs.push({
        name: c.name,
        key: storageKey(c.name, c.key.map((part) => keyValue(part, ctx, p, readModel))),
        limit: rate.limit,
        periodMs: rate.periodMs,
        burst: c.burst ?? rate.limit,
        cost: 1,
        shadow: c.shadow,
      })
    }
    return specs
  }

  return {
    name: 'rateLimits',
    needsRequestBody: readsModel,

    async onRequest(ctx): Promise<Verdict> {
      const specs = specsFor(ctx)
      if (specs.length === 0 || !store) return CONTINUE
      let decision: LimitDecision
      try {
        decision = await store.acquire(specs)
      } catch (err) {
        // The store has its own onRedisError fallback; reaching here is a bug, and a bug in the
        // limiter must not take the chatbot down with it.
        ctx.log.error({ err }, 'rate-limit store failed outside its fallback; admitting')
        return CONTINUE
      }
      specs.forEach((s, i) => metrics?.decision(s.name, decision.states[i]?.allowed ?? true, s.shadow, decision.mode))
      const headers = rateLimitHeaders(specs, decision.states)
      ctx.state.set(RATE_LIMIT_STATE, { headers } satisfies State)
      if (decision.allowed) {
        const shadowed = decision.states.find((s) => s.shadow && !s.allowed)
        if (shadowed) ctx.log.info({ limit: shadowed.name, mode: decision.mode }, 'rate limit would refuse (shadow)')
        return CONTINUE
      }
      const failed = decision.states.find((s) => !s.allowed && !s.shadow)!
      ctx.log.info({ limit: failed.name, mode: decision.mode, retryAfterMs: failed.retryAfterMs }, 'rate limited')
      return refuse('rate_limited', { ...headers, 'retry-after': String(retryAfterSeconds(failed.retryAfterMs, random)) }, { limit: failed.name })
    },

    onResponseHead(ctx, head: ResponseHead): Verdict {
      const s = ctx.state.get(RATE_LIMIT_STATE) as State | undefined
      if (s?.headers) for (const [k, v] of Object.entries(s.headers)) head.headers[k] = v
      return CONTINUE
    },
  }
}
