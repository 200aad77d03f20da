import type { ErrorCode } from '../errors.js'
import type { SseEvent } from '../sse/types.js'
import type { OriginInterceptor } from './origin.js'

/** What a filter sees of the incoming request. Header names are lower-case. */
export interface RequestInfo {
  readonly method: string
  /** The request target as forwarded: the canonical path and the query as received. */
  readonly url: string
  /** The canonical path (core/http/canonical-path.ts): what rules match and what is forwarded. */
  readonly path: string
  /** '' or '?…', as received. */
  readonly query: string
  /** The Host header lower-cased, without port or trailing dot (hosts are case-insensitive); absent without one. */
  readonly host?: string
  readonly headers: Readonly<Record<string, string | string[] | undefined>>
  /** Names and values as received, alternating; duplicates Node merges or drops stay visible here. */
  readonly rawHeaders: readonly string[]
  readonly remoteAddress: string
  /** The client's address: the peer, or the trusted X-Forwarded-For hop (core/http/client-ip.ts). */
  readonly clientIp: string
  readonly protocol: 'http' | 'https'
}

/** Minimal logging port so that core code never imports the logger implementation. */
export interface LogPort {
  debug(obj: object, msg?: string): void
  info(obj: object, msg?: string): void
  warn(obj: object, msg?: string): void
  error(obj: object, msg?: string): void
}

/**
 * The request body, read whole (within the body limit) before the request filters run, but only
 * when a filter of the snapshot's chain asked for it (Filter.needsRequestBody); otherwise bodies
 * stream through untouched.
 */
export interface RequestBody {
  readonly bytes: Uint8Array
  /** Content-Type, lower-cased, parameters dropped; '' when absent. */
  readonly contentType: string
  /** Content-Encoding other than identity: the bytes are not readable as text. */
  readonly encoding: string | undefined
  /** The body parsed as JSON, once; undefined when it is not JSON or not readable. */
  json(): unknown
  /** Replaces what is sent upstream; Content-Length follows. */
  replaceJson(value: unknown): void
  /** The bytes to send upstream: the original ones unless replaceJson() was called. */
  readonly outgoing: Uint8Array
}

export interface RequestContext {
  readonly id: string
  /** The policy snapshot read once when the request started; it is used to the request's end. */
  readonly snapshot: { readonly version: number; readonly digest: string }
  readonly request: RequestInfo
  readonly log: LogPort
  /** Per-request state owned by filters, keyed by filter name. */
  readonly state: Map<string, unknown>
  /** Present when the chain needs the body and the request has one. */
  readonly body?: RequestBody
  /** Changes to the headers sent upstream (identity headers), applied when the request is forwarded. */
  readonly upstreamHeaders: HeaderEdits
  /** Replaces the query string sent upstream ('' or '?…'); the canonical path never changes. */
  setUpstreamQuery?(query: string): void
  /**
   * Puts `interceptor` between this request and the upstream (a cache route): it may answer
   * itself or call the real upstream. Either way the response flows back through every filter.
   */
  interceptUpstream?(interceptor: OriginInterceptor): void
}

/** Lower-case names. `set` replaces every copy the client sent; `remove` drops them. */
export interface HeaderEdits {
  set(name: string, value: string): void
  remove(name: string): void
}

export interface LocalReply {
  status: number
  headers: Record<string, string>
  body: string | Uint8Array
}

export type Verdict =
  | { readonly kind: 'continue' }
  | {
      readonly kind: 'error'
      readonly code: ErrorCode
      readonly headers?: Record<string, string>
      /** Extra fields of the error object the client sees (the limit a 429 names); never a detail of why. */
      readonly fields?: Readonly<Record<string, string | number>>
    }
  | { readonly kind: 'reply'; readonly reply: LocalReply }

export const CONTINUE: Verdict = Object.freeze({ kind: 'continue' })
export const refuse = (code: ErrorCode, headers?: Record<string, string>, fields?: Readonly<Record<string, string | number>>): Verdict => ({
  kind: 'error',
  code,
  ...(headers ? { headers } : {}),
  ...(fields ? { fields } : {}),
})
export const reply = (r: LocalReply): Verdict => ({ kind: 'reply', reply: r })

export interface ResponseHead {
  status: number
  /** Lower-case names; a filter may edit them before they are sent. */
  headers: Record<string, string | string[]>
}

/** A unit of response body as the filters see it: one SSE event, or a whole JSON body. */
export type ResponseUnit =
  | { readonly kind: 'sse'; readonly event: SseEvent }
  | { readonly kind: 'json'; readonly body: unknown }
  /**
   * Ends the response here: later stages still see the units emitted before it, then the body
   * is closed and the upstream request aborted (a moderation block). Nothing after it is sent.
   */
  | { readonly kind: 'end'; readonly reason: string }

/**
 * A per-request, object-mode transform of the response body. It may hold units back (to
 * moderate across events) and may be async (a classifier); emit() order is output order.
 */
export interface ResponseTransform {
  transform(unit: ResponseUnit, emit: (u: ResponseUnit) => void): void | Promise<void>
  flush(emit: (u: ResponseUnit) => void): void | Promise<void>
}

export type Outcome =
  | { readonly kind: 'completed'; readonly status: number }
  | { readonly kind: 'refused'; readonly status: number; readonly code: string }
  | { readonly kind: 'failed'; readonly status: number; readonly code: ErrorCode }
  | { readonly kind: 'aborted'; readonly status: number }

export interface Filter {
  readonly name: string
  /**
   * Findings of its compile that do not stop a load (a rule that can never match): `chaperone
   * validate` and reloads report them. Paths are relative to the section (to `spec` with `sections`).
   */
  readonly warnings?: readonly ConfigWarning[]
  /** The request filters need the body (see RequestBody); decided at compile time. */
  readonly needsRequestBody?: boolean
  /**
   * What compile could not finish synchronously (a model to load): the snapshot is swapped in
   * only once it settles. It rejects with a ConfigCompileError(s) pointing at the key at fault,
   * and the last good snapshot then stays.
   */
  ready?(): Promise<void>
  onRequest?(ctx: RequestContext): Promise<Verdict> | Verdict
  onResponseHead?(ctx: RequestContext, head: ResponseHead): Verdict
  responseTransform?(ctx: RequestContext, head: ResponseHead): ResponseTransform | undefined
  onComplete?(ctx: RequestContext, outcome: Outcome): void
}

/**
 * A filter factory owns one top-level key of a policy's `spec`. `compile` runs once per policy
 * snapshot, so automata, regexes and role graphs are built there and never per request.
 */
export interface FilterFactory<C = unknown, P = unknown> {
  readonly name: string
  /** A zod schema for this filter's `spec.<name>` section (or for its `sections`, see there). */
  readonly schema: import('zod').ZodType<C>
  /**
   * Top-level `spec` keys this factory owns together when one is not enough (authz reads
   * `identity`, `roles` and `access`): `schema` is then an object with exactly these keys, and
   * `compile` receives them in one value. Without it the factory owns `spec.<name>`.
   */
  readonly sections?: readonly string[]
  compile(config: C, ports: P): Filter
}

export interface ConfigWarning {
  readonly path: readonly (string | number)[]
  readonly message: string
}
