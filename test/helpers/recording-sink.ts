import type { ResponseSink } from '../../src/core/chain/origin.js'

export type SinkEvent = readonly ['head', number, string[]] | readonly ['data', string] | readonly ['end'] | readonly ['error', string]

export interface Recorder {
  readonly events: SinkEvent[]
  /** What onData answers: false asks the producer to pause. */
  accept: boolean
  readonly sink: ResponseSink
  /** Resumes the producer; `accept` is what the next onData answers. */
  resume(accept?: boolean): void
  data(): string[]
  kinds(): string[]
}

/** A ResponseSink (a port, faked in unit tests of its producers) that records what it hears. */
export function recorder(hooks: { onData?: (chunk: string) => void; headOk?: boolean } = {}): Recorder {
  const events: SinkEvent[] = []
  let resume: (() => void) | undefined
  const r: Recorder = {
    events,
    accept: true,
    sink: {
      onHead(status, headers, res) {
        events.push(['head', status, headers])
        resume = res
        return hooks.headOk ?? true
      },
      onData(chunk) {
        events.push(['data', chunk.toString()])
        hooks.onData?.(chunk.toString())
        return r.accept
      },
      onEnd() {
        events.push(['end'])
      },
      onError(err) {
        events.push(['error', err.message])
      },
    },
    resume(accept = true) {
      r.accept = accept
      resume!()
    },
    data: () => events.filter((e) => e[0] === 'data').map((e) => e[1] as string),
    kinds: () => events.map((e) => e[0]),
  }
  return r
}
