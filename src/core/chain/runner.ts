import { CONTINUE, type Filter, type Outcome, type RequestContext, type ResponseHead, type ResponseTransform, type Verdict } from './types.js'

/**
 * The only place that knows the order of filters: request hooks run in chain order and stop at
 * the first verdict that is not `continue`; response hooks and completion run in reverse, the
 * way a response unwinds through nested handlers.
 */
export async function runRequestFilters(chain: readonly Filter[], ctx: RequestContext): Promise<Verdict> {
  for (const f of chain) {
    if (!f.onRequest) continue
    const v = await f.onRequest(ctx)
    if (v.kind !== 'continue') return v
  }
  return CONTINUE
}

export function runResponseHead(chain: readonly Filter[], ctx: RequestContext, head: ResponseHead): Verdict {
  for (let i = chain.length - 1; i >= 0; i--) {
    const f = chain[i]!
    if (!f.onResponseHead) continue
    const v = f.onResponseHead(ctx, head)
    if (v.kind !== 'continue') return v
  }
  return CONTINUE
}

/** Transforms in the order the body flows through them: the filter nearest the upstream first. */
export function collectTransforms(chain: readonly Filter[], ctx: RequestContext, head: ResponseHead): ResponseTransform[] {
  const out: ResponseTransform[] = []
  for (let i = chain.length - 1; i >= 0; i--) {
    const t = chain[i]!.responseTransform?.(ctx, head)
    if (t) out.push(t)
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
