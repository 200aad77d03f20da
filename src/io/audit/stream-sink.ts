/**
 * The stdout sink: one line per record on a stream, for a log collector. The collector owns what
 * was written, so a restart cannot resume: each process begins a new chain at seq 1 with a start
 * record whose prev is 64 zeros (verify reports it as a restart). Checkpoints are still signed.
 */
import type { Writable } from 'node:stream'
import { EMPTY_HEAD } from '../../core/audit/chain.js'
import { asError, SinkWriteError, type RecordSink, type SinkOpened } from './sink.js'

export class StreamSink implements RecordSink {
  readonly kind = 'stdout' as const
  #opened = false

  constructor(private readonly stream: Writable) {
    // A closed pipe (EPIPE) must fail the write, not crash the process through an 'error' event.
    stream.on('error', () => undefined)
  }

  async open(): Promise<SinkOpened> {
    const first = !this.#opened
    this.#opened = true
    return { head: first ? EMPTY_HEAD : undefined, resumedFrom: null, torn: [] }
  }

  write(data: Buffer): Promise<void> {
    return new Promise((resolve, reject) => {
      // The callback comes once the stream took the bytes: that is the backpressure.
      this.stream.write(data, (err) => (err ? reject(new SinkWriteError(asError(err), 0)) : resolve()))
    })
  }

  async sync(): Promise<void> {}

  async close(): Promise<void> {}
}
