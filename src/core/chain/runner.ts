import { CONTINUE, type Filter, type Outcome, type RequestContext, type ResponseHead, type ResponseTransform, type Verdict } from './types.js'
import { hooksTraced, traceOnRequest, traceResponseHead, traceTransform, type RequestTrace } from '../telemetry/channels.js'

/**
 * The only place that knows the order of filters: request hooks run in chain order and stop at
 * the first verdict that is not `continue`; response hooks and completion run in reverse, the
 * way a response unwinds through nested handlers.
 *
 * Each request and response hook that runs is a trace point (core/telemetry/channels.ts) when
 * something subscribes; `trace` is the request's, the parent of the hooks' spans.
 */
export async function runRequestFilters(chain: readonly Filter[], ctx: RequestContext, trace?: RequestTrace): Promise<Verdict> {
  const traced = hooksTraced(trace)
  for (const f of chain) {
    if (!f.onRequest) continue
    const v = await (traced ? traceOnRequest(f, ctx, trace) : f.onRequest(ctx))
    if (v.kind !== 'continue') return v
  }
  return CONTINUE
}

export function runResponseHead(chain: readonly Filter[], ctx: RequestContext, head: ResponseHead, trace?: RequestTrace): Verdict {
  const traced = hooksTraced(trace)
  for (let i = chain.length - 1; i >= 0; i--) {
    const f = chain[i]!
    if (!f.onResponseHead) continue
    const v = traced ? traceResponseHead(f, ctx, head, trace) : f.onResponseHead(ctx, head)
    if (v.kind !== 'continue') return v
  }
  return CONTINUE
}

/** Transforms in the order the body flows through them: the filter nearest the upstream first. */
export function collectTransforms(chain: readonly Filter[], ctx: RequestContext, head: ResponseHead, trace?: RequestTrace): ResponseTransform[] {
  const out: ResponseTransform[] = []
  const traced = hooksTraced(trace)
  for (let i = chain.length - 1; i >= 0; i--) {
    const f = chain[i]!
    const t = f.responseTransform?.(ctx, head)
    if (t) out.push(traced ? traceTransform(f.name, t, trace) : t)
  }
  return out
}

/** Every onComplete runs, even when an earlier one throws: accounting must not be skipped. */
export function runComplete(chain: readonly Filter[], ctx: RequestContext, outcome: Outcome): void {
  for (let i = chain.length - 1; i >= 0; i--) {
    const f = chain[i]!
    if (!f.onComplete) continue
    try {
      f.onComplete(ctx, outcome)
    } catch (err) {
      ctx.log.error({ err, filter: f.name }, 'onComplete failed')
    }
  }
}

export function chainNeedsResponseHooks(chain: readonly Filter[]): boolean {
  return chain.some((f) => f.onResponseHead !== undefined || f.responseTransform !== undefined)
}
