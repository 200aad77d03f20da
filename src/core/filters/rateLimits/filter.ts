import { ABUSE_REPORTER_STATE, type AbuseReporter } from '../../chain/abuse.js'
import { noteDecision } from '../../chain/decisions.js'
import { principalOf } from '../../chain/principal.js'
import { CONTINUE, refuse, type Filter, type Outcome, type RequestContext, type ResponseHead, type Verdict } from '../../chain/types.js'
import { modelOf } from '../../formats/json.js'
import type { PathMatcher } from '../../http/path-pattern.js'
import type { LimitDecision, LimitSpec, Ports } from '../../ports.js'
import type { PenaltyConfig } from '../../ratelimit/penalty.js'
import { estimateRequest } from '../../tokens/estimate.js'
import { requestUsageInStream } from '../../tokens/include-usage.js'
import { rateLimitHeaders, retryAfterSeconds } from './headers.js'
import { keyValue, storageKey } from './keys.js'
import type { LimitConfig } from './schema.js'
import { rateFor } from './tiers.js'
import { TokenMeter } from './token-meter.js'

export const RATE_LIMIT_STATE = 'rateLimits'

export interface CompiledLimit {
  readonly config: LimitConfig
  readonly paths?: readonly PathMatcher[]
  readonly methods?: ReadonlySet<string>
  /** A penalty limit's box, in the store's units. */
  readonly penalty?: PenaltyConfig
}

/** A token reservation, reconciled when the response ends. */
interface Reservation {
  readonly specs: readonly LimitSpec[]
  readonly reserved: number
  readonly promptTokens: number
  readonly stripUsageChunk: boolean
  readonly cutAfterOutput: number | undefined
  meter?: TokenMeter
  /** The chatbot answered with an error status: nothing was generated. */
  failed?: boolean
}

interface State {
  readonly headers: Record<string, string> | undefined
  readonly leases: ReadonlyArray<{ release(): Promise<void> }>
  readonly tokens: Reservation | undefined
}

/** A lease outlives a lost release (a crashed replica) by at most this. */
const LEASE_TTL_MS = 10 * 60_000
const CUT_MESSAGE = 'This response was stopped: the token budget is used up.'

export function createRateLimitFilter(limits: readonly CompiledLimit[], ports: Ports): Filter {
  const store = ports.rateLimits
  const metrics = ports.rateLimitMetrics
  const random = ports.random ?? Math.random
  const needsBody = limits.some((l) => l.config.key.includes('model') || l.config.tokens !== undefined)
  let boxDown = false

  function applicable(ctx: RequestContext): CompiledLimit[] {
    return limits.filter((l) => (!l.methods || l.methods.has(ctx.request.method)) && (!l.paths || l.paths.some((m) => m.test(ctx.request.path))))
  }

  function release(leases: ReadonlyArray<{ release(): Promise<void> }>, ctx: RequestContext): void {
    for (const l of leases) l.release().catch((err: unknown) => ctx.log.warn({ err }, 'concurrency lease release failed; it expires on its own'))
  }

  return {
    name: 'rateLimits',
    needsRequestBody: needsBody,

    async onRequest(ctx): Promise<Verdict> {
      const apply = applicable(ctx)
      if (apply.length === 0 || !store) return CONTINUE
      const p = principalOf(ctx.state)
      // json() is undefined for an encoded or non-JSON body.
      const body = needsBody ? ctx.body?.json() : undefined
      const model = () => modelOf(body)
      const keyOf = (c: LimitConfig) => storageKey(c.name, c.key.map((part) => keyValue(part, ctx, p, model)))

      // A boxed caller is refused before anything is charged; the box is checked once per request.
      const penalties = ports.penalties ? apply.filter((l) => l.penalty !== undefined) : []
      if (penalties.length > 0) {
        const box = ports.penalties!
        const keys = penalties.map((l) => keyOf(l.config))
        let boxed: number[] = []
        try {
          boxed = await Promise.all(keys.map((k) => box.boxedFor(k)))
          boxDown = false
        } catch (err) {
          // Once per outage, not per request; the box is not enforced while its store is away.
          if (!boxDown) ctx.log.warn({ err }, 'penalty box unavailable; not enforced until it answers again')
          boxDown = true
        }
        const i = boxed.findIndex((ms, j) => ms > 0 && !penalties[j]!.config.shadow)
        if (i !== -1) {
          metrics?.decision(penalties[i]!.config.name, false, false, 'shared')
          ctx.log.info({ limit: penalties[i]!.config.name, boxedForMs: boxed[i] }, 'refused: abuse penalty')
          noteDecision(ctx.state, { filter: 'ratelimit', action: 'refuse', rule: penalties[i]!.config.name, shadow: false, reason: 'penalty' })
          return refuse('abuse_penalty', { 'retry-after': String(retryAfterSeconds(boxed[i]!, random)) }, { limit: penalties[i]!.config.name })
        }
        ctx.state.set(ABUSE_REPORTER_STATE, ((points: number) => {
          penalties.forEach((l, j) => {
            box.report(keys[j]!, points, l.penalty!).then(
              (r) => r.boxedForMs > 0 && ctx.log.warn({ limit: l.config.name, boxedForMs: r.boxedForMs }, 'abuse penalty: boxed'),
              (err: unknown) => ctx.log.warn({ err, limit: l.config.name }, 'abuse report failed'),
            )
          })
        }) satisfies AbuseReporter)
      }

      // Concurrency first: a request refused for it must not have spent any rate or tokens.
      const leases: { release(): Promise<void> }[] = []
      for (const l of apply) {
        const max = l.config.concurrency
        if (max === undefined || !store.lease) continue
        const lease = await store.lease(keyOf(l.config), max, LEASE_TTL_MS)
        metrics?.decision(l.config.name, lease !== undefined, l.config.shadow, 'shared')
        if (lease) leases.push(lease)
        else noteDecision(ctx.state, { filter: 'ratelimit', action: 'refuse', rule: l.config.name, shadow: l.config.shadow, reason: 'concurrency' })
        if (!lease && !l.config.shadow) {
          release(leases, ctx)
          ctx.log.info({ limit: l.config.name, max }, 'concurrency limit reached')
          return refuse('rate_limited', { 'retry-after': String(retryAfterSeconds(1000, random)) }, { limit: l.config.name })
        }
      }

      // Tokenizing the prompt is the costly part: only when a token budget applies to this request.
      const budgets = apply.filter((l) => l.config.tokens !== undefined)
      const estimate = budgets.length > 0 ? estimateRequest(body, ctx.request.path, { defaultMaxTokens: Math.max(...budgets.map((l) => l.config.defaultMaxTokens)) }) : undefined
      const specs: LimitSpec[] = []
      const tokenSpecs: LimitSpec[] = []
      for (const l of apply) {
        const c = l.config
        if (c.concurrency !== undefined || c.penalty !== undefined) continue
        // A token budget prices a request by its text: a body that is not an LLM request costs nothing.
        if (c.tokens !== undefined && !estimate) continue
        const rate = rateFor(c, p)
        const spec: LimitSpec = { name: c.name, key: keyOf(c), limit: rate.limit, periodMs: rate.periodMs, burst: c.burst ?? rate.limit, cost: c.tokens !== undefined ? estimate!.total : 1, shadow: c.shadow }
        specs.push(spec)
        if (c.tokens !== undefined) tokenSpecs.push(spec)
      }
      let decision: LimitDecision | undefined
      if (specs.length > 0) {
        try {
          decision = await store.acquire(specs)
        } catch (err) {
          // The store has its own onRedisError fallback; reaching here is a bug, and a bug in the
          // limiter must not take the chatbot down with it.
          ctx.log.error({ err }, 'rate-limit store failed outside its fallback; admitting')
        }
      }
      if (decision) {
        specs.forEach((s, i) => {
          const allowed = decision.states[i]?.allowed ?? true
          metrics?.decision(s.name, allowed, s.shadow, decision.mode)
          if (!allowed) noteDecision(ctx.state, { filter: 'ratelimit', action: 'refuse', rule: s.name, shadow: s.shadow, reason: tokenSpecs.includes(s) ? 'tokens' : 'requests' })
        })
      }
      const headers = decision ? rateLimitHeaders(specs, decision.states) : undefined
      if (decision && !decision.allowed) {
        release(leases, ctx)
        const failed = decision.states.find((s) => !s.allowed && !s.shadow)!
        ctx.log.info({ limit: failed.name, mode: decision.mode, retryAfterMs: failed.retryAfterMs }, 'rate limited')
        return refuse('rate_limited', { ...headers, 'retry-after': String(retryAfterSeconds(failed.retryAfterMs, random)) }, { limit: failed.name })
      }
      const shadowed = decision?.states.find((s) => s.shadow && !s.allowed)
      if (shadowed) ctx.log.info({ limit: shadowed.name, mode: decision!.mode }, 'rate limit would refuse (shadow)')

      let tokens: Reservation | undefined
      if (tokenSpecs.length > 0 && estimate) {
        const wanted = requestUsageInStream(body, ctx.request.path)
        if (wanted.added) ctx.body?.replaceJson(wanted.body)
        const cutting = budgets.some((l) => l.config.cutStream)
        // What the budgets had left after this reservation, at the tightest of them.
        const left = Math.min(...tokenSpecs.map((s) => decision?.states[specs.indexOf(s)]?.remaining ?? Infinity))
        tokens = {
          specs: tokenSpecs,
          reserved: estimate.total,
          promptTokens: estimate.promptTokens,
          stripUsageChunk: wanted.added,
          cutAfterOutput: cutting && Number.isFinite(left) ? estimate.maxTokens + left : undefined,
        }
      }
      ctx.state.set(RATE_LIMIT_STATE, { headers, leases, tokens } satisfies State)
      return CONTINUE
    },

    onResponseHead(ctx, head: ResponseHead): Verdict {
      const s = ctx.state.get(RATE_LIMIT_STATE) as State | undefined
      if (s?.headers) for (const [k, v] of Object.entries(s.headers)) head.headers[k] = v
      return CONTINUE
    },

    responseTransform(ctx, head: ResponseHead) {
      const t = (ctx.state.get(RATE_LIMIT_STATE) as State | undefined)?.tokens
      if (!t) return undefined
      if (head.status >= 400) {
        t.failed = true
        return undefined
      }
      t.meter = new TokenMeter({ stripUsageChunk: t.stripUsageChunk, cutAfterOutput: t.cutAfterOutput, path: ctx.request.path, cutMessage: CUT_MESSAGE })
      return t.meter
    },

    onComplete(ctx, outcome: Outcome) {
      const s = ctx.state.get(RATE_LIMIT_STATE) as State | undefined
      if (!s) return
      release(s.leases, ctx)
      const t = s.tokens
      if (!t || !store?.adjust) return
      // Never answered by the chatbot (refused later in the chain, upstream down): give it all
      // back. Otherwise charge what was used, reported or counted; an abort is charged for what
      // was streamed before it.
      const m = t.meter?.measured()
      // A client gone before the answer's head still had its prompt read: that much is charged.
      const used = t.failed ? 0 : m ? (m.input ?? t.promptTokens) + m.output : outcome.kind === 'completed' ? t.reserved : outcome.kind === 'aborted' ? t.promptTokens : 0
      const delta = used - t.reserved
      if (delta === 0) return
      for (const spec of t.specs) store.adjust(spec, delta).catch((err: unknown) => ctx.log.warn({ err, limit: spec.name }, 'token reconciliation failed'))
    },
  }
}
