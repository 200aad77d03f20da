import type { RequestContext } from '../chain/types.js'
import { principalOf } from '../chain/principal.js'
import type { CelActivation, CelPrincipal, CelRequest } from './activation.js'
import type { Condition } from './compile.js'
import { isObject, modelOf } from '../formats/json.js'

/** Where region and tier may come from besides the verified principal. */
export interface TrustedHeaders {
  readonly regionHeader?: string | undefined
  readonly tierHeader?: string | undefined
  readonly prefer: 'claim' | 'header'
}

const CLAIMS_ONLY: TrustedHeaders = { prefer: 'claim' }

/**
 * The CEL variables of a request, for any filter's conditions. Region and tier come from the
 * verified principal (authz) or from a header that a trusted hop sets; `prefer` decides when
 * both are present and disagree (default: the claim, which the caller cannot forge).
 */
export function buildActivation(ctx: RequestContext, cfg: TrustedHeaders = CLAIMS_ONLY, now: Date, reads: { body: boolean; headers: boolean }): CelActivation {
  const p = principalOf(ctx.state)
  // Node builds req.headers on first read: only conditions that look at headers pay for it.
  const headers: Record<string, string> = {}
  if (reads.headers) {
    for (const [k, v] of Object.entries(ctx.request.headers)) {
      if (v !== undefined) headers[k] = joined(v)
    }
  }
  const pick = (claim: string | undefined, header: string | undefined): string | undefined => {
    const raw = header ? ctx.request.headers[header] : undefined
    const h = raw === undefined ? undefined : joined(raw)
    return cfg.prefer === 'header' ? (h ?? claim) : (claim ?? h)
  }
  const region = pick(p?.region, cfg.regionHeader)
  const tier = pick(p?.tier, cfg.tierHeader)
  const body = reads.body ? ctx.body?.json() : undefined
  const model = modelOf(body)
  // Built field by field, sharing the principal's roles and claims: CEL only reads them, and a
  // copy of every claim on every request was most of what a condition cost.
  const principal: CelPrincipal = { roles: (p?.roles ?? NO_ROLES) as string[], claims: (p?.claims ?? NO_CLAIMS) as Record<string, unknown> }
  if (p?.subject !== undefined) principal.subject = p.subject
  if (p?.tenant !== undefined) principal.tenant = p.tenant
  if (region !== undefined) principal.region = region
  if (tier !== undefined) principal.tier = tier
  const request: CelRequest = { method: ctx.request.method, path: ctx.request.path, headers }
  if (model !== undefined) request.model = model
  if (ctx.request.host !== undefined) request.host = ctx.request.host
  if (isObject(body)) request.body = body
  return { principal, request, time: now, source: { ip: ctx.request.clientIp } }
}

const NO_ROLES: readonly string[] = Object.freeze([])
const NO_CLAIMS: Readonly<Record<string, unknown>> = Object.freeze({})

function joined(v: string | readonly string[]): string {
  return typeof v === 'string' ? v : v.join(', ')
}

/**
 * What building the activation must include for these conditions: the body (`request.body`,
 * and `request.model`, which comes from the JSON body) and the headers, each only when read.
 */
export function activationReads(conditions: Iterable<Condition | undefined>): { body: boolean; headers: boolean } {
  const reads = { body: false, headers: false }
  for (const c of conditions) {
    if (!c) continue
    const fields = c.requestFields
    reads.body ||= c.readsRequestBody || fields.has('model') || fields.has('*')
    reads.headers ||= fields.has('headers') || fields.has('*')
  }
  return reads
}
