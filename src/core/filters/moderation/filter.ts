import { CONTINUE, refuse, type Filter, type RequestContext, type ResponseHead, type Verdict } from '../../chain/types.js'
import type { ModerationDirection, Ports } from '../../ports.js'
import { requestBodyCodec } from '../../formats/index.js'
import { moderateWhole, type Finding, type ModeratorOptions, type Step } from '../../moderation/text-moderator.js'
import { buildActivation } from '../../cel/request-activation.js'
import { conditionsHold } from './conditions.js'
import type { CompiledRules } from './compile-rules.js'
import { ResponseModeration } from './response-transform.js'
import { reportAbuse } from '../../chain/abuse.js'
import type { ModerationConfig } from './schema.js'

export const MODERATION_STATE = 'moderation'

/** What the moderation filter keeps per request; audit and cache read `findings`. */
export interface ModerationState {
  readonly active: { readonly request: Uint8Array; readonly response: Uint8Array }
  readonly findings: (Finding & { readonly direction: ModerationDirection })[]
  /** A block was reported to the abuse penalty box for this request (once per request). */
  reported?: boolean
}

/** Findings kept per request for later filters (audit); the rest are only counted. */
const MAX_FINDINGS = 256

export function createModerationFilter(config: ModerationConfig, compiled: CompiledRules, ports: Ports): Filter {
  const { policy, conditions } = compiled
  const n = policy.rules.length
  const base = { request: new Uint8Array(n), response: new Uint8Array(n) }
  policy.rules.forEach((r, i) => {
    if (r.direction !== 'response') base.request[i] = 1
    if (r.direction !== 'request') base.response[i] = 1
  })
  const hasConditions = conditions.some((c) => c !== undefined)
  const requestRules = base.request.some((x) => x === 1)
  const now = ports.now ?? (() => new Date())
  const reads = { body: compiled.conditionsReadBody, headers: compiled.conditionsReadHeaders }

  function activeFor(ctx: RequestContext): ModerationState['active'] {
    if (!hasConditions) return base
    const act = buildActivation(ctx, config.principal, now(), reads)
    const on = conditionsHold(conditions, act, config.onConditionError, (i, applied, detail) => {
      ports.moderationMetrics?.onError(policy.rules[i]!.name, applied ? 'block' : 'allow', 'condition')
      ctx.log.warn({ rule: policy.rules[i]!.name, detail }, 'moderation condition failed')
    })
    return { request: on.map((x, i) => x & base.request[i]!), response: on.map((x, i) => x & base.response[i]!) }
  }

  function options(ctx: RequestContext, state: ModerationState, direction: ModerationDirection): ModeratorOptions {
    return {
      active: state.active[direction],
      direction,
      onFinding: (f) => {
        if (state.findings.length < MAX_FINDINGS) state.findings.push({ ...f, direction })
        if (f.action === 'block' && !f.shadow && !state.reported) {
          state.reported = true
          reportAbuse(ctx.state, config.penaltyPoints)
        }
        // The log gets the rule and the span, never the text: it may be the PII just removed.
        if (f.shadow || f.action !== 'redact') ctx.log.info({ rule: f.name, action: f.action, shadow: f.shadow, label: f.label, direction, span: [f.start, f.end] }, 'moderation match')
      },
      ...(ports.moderationMetrics ? { metrics: ports.moderationMetrics } : {}),
      // The audit log keeps a keyed hash of what matched, never the text: it needs the text once.
      ...(ports.auditMatches ? { captureExcerpts: true } : {}),
    }
  }

  return {
    name: 'moderation',
    needsRequestBody: requestRules || compiled.conditionsReadBody,

    async onRequest(ctx): Promise<Verdict> {
      const state: ModerationState = { active: activeFor(ctx), findings: [] }
      ctx.state.set(MODERATION_STATE, state)
      if (!state.active.request.some((x) => x === 1) || !ctx.body) return CONTINUE
      if (ctx.body.encoding !== undefined) {
        ctx.log.info({ encoding: ctx.body.encoding }, 'request body is encoded; it cannot be moderated')
        return refuse('unsupported_encoding')
      }
      const body = ctx.body.json()
      const codec = requestBodyCodec(body, ctx.request.path)
      if (!codec) return CONTINUE
      const slots = codec.extract(body)
      if (slots.length === 0) return CONTINUE
      const opts = options(ctx, state, 'request')
      const texts: string[] = []
      let changed = false
      for (const slot of slots) {
        const r: Step = await moderateWhole(policy, opts, slot.text)
        if (r.block) return refuse('content_policy_violation')
        texts.push(r.text)
        if (r.text !== slot.text) changed = true
      }
      if (changed) ctx.body.replaceJson(codec.rebuild(body, texts))
      return CONTINUE
    },

    responseTransform(ctx, head: ResponseHead) {
      if (head.status < 200 || head.status === 204 || head.status === 304) return undefined
      const state = ctx.state.get(MODERATION_STATE) as ModerationState | undefined
      if (!state || !state.active.response.some((x) => x === 1)) return undefined
      return new ResponseModeration(policy, options(ctx, state, 'response'), config.blockMessage, ctx.request.path)
    },
  }
}
