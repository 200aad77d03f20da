/**
 * AdmissionReview v1 in, AdmissionReview v1 out, for the sidecar injector.
 *
 * Failure modes, all answered, none thrown:
 *  - a body that is not JSON, not an object, or has no `request.uid` cannot be answered as a
 *    review (the API server matches answers by uid): HTTP 400 with a JSON error;
 *  - a review with a uid but the wrong kind or version, or a CREATE whose `request.object` is
 *    not an object: `allowed: false` with a message;
 *  - anything that is not a Pod CREATE (UPDATE, another resource, a subresource) is allowed
 *    unchanged, so a broad webhook rule never blocks what the injector has no opinion on.
 */
import { planInjection } from './inject.js'
import type { SidecarSettings } from './sidecar-config.js'

export const ADMISSION_API_VERSION = 'admission.k8s.io/v1'
/** A Pod is at most ~1.5 MiB in etcd, and a real one is a few KiB; more than this is refused. */
export const MAX_REVIEW_BYTES = 1024 * 1024

export interface AdmissionResponse {
  uid: string
  allowed: boolean
  patchType?: 'JSONPatch'
  /** base64 of the JSON Patch array. */
  patch?: string
  status?: { code: number; message: string }
  warnings?: string[]
}

export interface AdmissionReviewOut {
  apiVersion: string
  kind: 'AdmissionReview'
  response: AdmissionResponse
}

/** One line per review for the log: who, what, and what was decided. */
export interface AdmissionSummary {
  uid?: string
  namespace?: string
  name?: string
  operation?: string
  decision: 'injected' | 'unchanged' | 'denied' | 'bad-request'
  reason: string
}

export type AdmissionResult =
  | { status: 200; body: AdmissionReviewOut; summary: AdmissionSummary }
  | { status: 400; body: { error: 'bad_request'; message: string }; summary: AdmissionSummary }

type Obj = Record<string, unknown>

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** The HTTP body as received (already bounded by the server). */
export function admitText(text: string, settings: SidecarSettings): AdmissionResult {
  let review: unknown
  try {
    review = JSON.parse(text)
  } catch {
    return badRequest('the body is not JSON')
  }
  return admitReview(review, settings)
}

export function admitReview(review: unknown, settings: SidecarSettings): AdmissionResult {
  if (!isObj(review)) return badRequest('expected an AdmissionReview object')
  const request = isObj(review.request) ? review.request : undefined
  const uid = request?.uid
  if (!request || typeof uid !== 'string' || uid === '') return badRequest('request.uid is missing: not an AdmissionReview request')

  const object = isObj(request.object) ? request.object : undefined
  const meta = object && isObj(object.metadata) ? object.metadata : {}
  const name = typeof meta.name === 'string' && meta.name !== '' ? meta.name : typeof meta.generateName === 'string' ? `${meta.generateName}*` : undefined
  const summary = (decision: AdmissionSummary['decision'], reason: string): AdmissionSummary => ({
    uid,
    ...(typeof request.namespace === 'string' && { namespace: request.namespace }),
    ...(name !== undefined && { name }),
    ...(typeof request.operation === 'string' && { operation: request.operation }),
    decision,
    reason,
  })
  // The API server expects the answer in the version it asked in; anything else gets v1.
  const apiVersion = typeof review.apiVersion === 'string' && review.apiVersion.startsWith('admission.k8s.io/') ? review.apiVersion : ADMISSION_API_VERSION
  const answer = (response: Omit<AdmissionResponse, 'uid'>, s: AdmissionSummary): AdmissionResult => ({
    status: 200,
    body: { apiVersion, kind: 'AdmissionReview', response: { uid, ...response } },
    summary: s,
  })
  const deny = (code: number, message: string) => answer({ allowed: false, status: { code, message } }, summary('denied', message))

  if (review.kind !== 'AdmissionReview' || review.apiVersion !== ADMISSION_API_VERSION) {
    return deny(400, `expected kind AdmissionReview and apiVersion ${ADMISSION_API_VERSION}, got ${JSON.stringify(review.kind)} ${JSON.stringify(review.apiVersion)}`)
  }
  const kind = isObj(request.kind) ? request.kind : {}
  if (kind.kind !== 'Pod' || (kind.group !== undefined && kind.group !== '') || (typeof request.subResource === 'string' && request.subResource !== '')) {
    return answer({ allowed: true }, summary('unchanged', `not a Pod: ${JSON.stringify(kind.kind)}`))
  }
  if (request.operation !== 'CREATE') return answer({ allowed: true }, summary('unchanged', `operation ${String(request.operation)}`))
  if (!object) return deny(400, 'request.object is not an object')

  const plan = planInjection(object, settings)
  switch (plan.action) {
    case 'skip':
      return answer({ allowed: true, ...(plan.warning !== undefined && { warnings: [plan.warning] }) }, summary('unchanged', plan.reason))
    case 'deny':
      return deny(422, plan.message)
    case 'inject':
      return answer(
        { allowed: true, patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(plan.patch), 'utf8').toString('base64') },
        summary('injected', `ports listen ${plan.ports.listen} upstream ${plan.ports.upstream} admin ${plan.ports.admin}, configMap ${plan.configMap}`),
      )
  }
}

export function badRequest(message: string): AdmissionResult {
  return { status: 400, body: { error: 'bad_request', message }, summary: { decision: 'bad-request', reason: message } }
}
