import type { ChaperoneError } from '../errors.js'

/**
 * The upstream as the data path sees it: io/upstream.ts is the real one (undici), and a cache
 * route stands in for it (core/cache/) by intercepting a request's exchange. Whatever answers,
 * the response then flows back through the response side of every filter.
 */
export interface ForwardRequest {
  method: string
  path: string
  /** Flat [name, value, …] list, already stripped of hop-by-hop headers. */
  headers: string[]
  body: Uint8Array | AsyncIterable<Uint8Array> | NodeJS.ReadableStream | null
}

/** Receives one exchange. Returning false from onHead/onData pauses the producer until `resume`. */
export interface ResponseSink {
  onHead(status: number, rawHeaders: string[], resume: () => void): boolean
  onData(chunk: Buffer): boolean
  onEnd(): void
  onError(err: ChaperoneError): void
}

export interface InFlight {
  /** Cancels the exchange; the sink hears nothing more after this. */
  abort(reason?: ChaperoneError): void
}

export interface Origin {
  forward(req: ForwardRequest, sink: ResponseSink): InFlight
}

/**
 * Answers one request in place of the origin, or in front of it: `next` is the real upstream,
 * for a cache miss. Set by a filter through RequestContext.interceptUpstream. Like the real
 * upstream it never calls the sink before `forward` has returned its InFlight.
 */
export type OriginInterceptor = (req: ForwardRequest, sink: ResponseSink, next: Origin) => InFlight
