/**
 * The response side of a token budget: measures what the response used (the usage it reports,
 * or the tokens of the text it streamed), strips the usage chunk Chaperone asked for on the
 * client's behalf, and, with `cutStream`, ends a stream once its output passes what the budget
 * had left when the request was admitted.
 */
import type { ResponseTransform, ResponseUnit } from '../../chain/types.js'
import { createStreamCodec } from '../../formats/index.js'
import type { StreamCodec } from '../../formats/types.js'
import { isUsageOnlyChunk } from '../../tokens/include-usage.js'
import { StreamUsage, usageFromBody } from '../../tokens/usage.js'

export interface MeterOptions {
  /** Chaperone added stream_options.include_usage: the client never asked for that chunk. */
  readonly stripUsageChunk: boolean
  /** Output tokens after which the stream is cut; undefined: never cut. */
  readonly cutAfterOutput: number | undefined
  readonly path: string
  readonly cutMessage: string
}

export interface Measured {
  readonly input: number | undefined
  readonly output: number
}

export class TokenMeter implements ResponseTransform {
  readonly #o: MeterOptions
  readonly #stream = new StreamUsage()
  readonly #codec: StreamCodec | undefined
  #json: Measured | undefined
  #cut = false

  constructor(o: MeterOptions) {
    this.#o = o
    // Only a stream that may be cut needs its format known, for the format's own final events.
    this.#codec = o.cutAfterOutput !== undefined ? createStreamCodec({ path: o.path }) : undefined
  }

  transform(unit: ResponseUnit, emit: (u: ResponseUnit) => void): void {
    if (this.#cut) return
    if (unit.kind === 'json') {
      const u = usageFromBody(unit.body)
      if (u) this.#json = u
      return emit(unit)
    }
    if (unit.kind !== 'sse') return emit(unit)
    this.#stream.push(unit.event)
    this.#codec?.extract(unit.event)
    if (this.#o.stripUsageChunk && isUsageOnlyChunk(unit.event)) return
    emit(unit)
    const limit = this.#o.cutAfterOutput
    if (limit !== undefined && this.#stream.result().output > limit) {
      this.#cut = true
      for (const ev of this.#codec!.endEvents(this.#o.cutMessage, { retraction: false })) emit({ kind: 'sse', event: ev })
      emit({ kind: 'end', reason: 'token budget exhausted' })
    }
  }

  flush(): void {}

  /** What the response used so far: reported usage when there was one, else the counted output. */
  measured(): Measured {
    if (this.#json) return this.#json
    const r = this.#stream.result()
    return { input: r.input, output: r.output }
  }
}
