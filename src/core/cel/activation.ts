/**
 * What a condition is evaluated against, and how it becomes CEL bindings. Building the
 * activation is per request, so it is plain data the caller already has; the conversion wraps
 * (never copies) it, and only for the variables the condition reads.
 */
import type { CelInput } from '@bufbuild/cel'
import { timestampFromMs } from '@bufbuild/protobuf/wkt'
import { recordMap } from './record-map.js'
import type { CelVariableName } from './variables.js'

export interface CelPrincipal {
  subject?: string
  roles: string[]
  tenant?: string
  region?: string
  tier?: string
  /** The verified token's claims as decoded from JSON. */
  claims: Record<string, unknown>
}

export interface CelRequest {
  method: string
  path: string
  /** The Host header lower-cased, without port or trailing dot; absent without one. */
  host?: string
  /** The name of the matched route, when one matched. */
  route?: string
  model?: string
  /** Lower-case header names; repeated headers joined with ", ". */
  headers: Record<string, string>
  /** The decoded JSON body, when it is a JSON object and was read. */
  body?: Record<string, unknown>
}

export interface CelActivation {
  principal: CelPrincipal
  request: CelRequest
  time: Date
  source: { ip: string }
}

export type CelBindings = Partial<Record<CelVariableName, CelInput>>

/** Bindings for exactly the variables in `used`; the others are never touched. */
export function toBindings(activation: CelActivation, used: ReadonlySet<CelVariableName>): CelBindings {
  const out: CelBindings = {}
  if (used.has('principal')) out.principal = recordMap(activation.principal as unknown as Record<string, unknown>)
  if (used.has('request')) out.request = recordMap(activation.request as unknown as Record<string, unknown>)
  if (used.has('source')) out.source = recordMap(activation.source)
  if (used.has('time')) {
    const ms = activation.time.getTime()
    if (Number.isNaN(ms)) throw new Error('time is not a valid date')
    out.time = timestampFromMs(ms)
  }
  return out
}
