/** Where records go: the file sink (resumable) or a stream such as stdout (not resumable). */
import type { ChainHead } from '../../core/audit/chain.js'
import type { TornRegion } from '../../core/audit/record.js'

export interface SinkOpened {
  /** Where the chain stands in the sink; undefined when the sink cannot tell (keep yours). */
  readonly head: ChainHead | undefined
  readonly resumedFrom: { readonly file: string; readonly seq: number } | null
  /** Bytes after the last good record, left in place; each gets a recovery record. */
  readonly torn: readonly TornRegion[]
}

export interface RecordSink {
  readonly kind: 'file' | 'stdout'
  /** Opens (again, after a failure) and says where the chain continues. */
  open(): Promise<SinkOpened>
  /** Writes whole lines; `lineEnds` are the byte offsets in `data` just past each newline. */
  write(data: Buffer, lineEnds: readonly number[]): Promise<void>
  sync(): Promise<void>
  close(): Promise<void>
}

/** A write that failed after `bytesWritten` bytes of the batch reached the sink. */
export class SinkWriteError extends Error {
  constructor(
    override readonly cause: Error,
    readonly bytesWritten: number,
  ) {
    super(cause.message)
    this.name = 'SinkWriteError'
  }
}

export const asError = (err: unknown): Error => (err instanceof Error ? err : new Error(String(err)))
