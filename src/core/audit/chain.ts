/**
 * The chain of one writer: every record gets the next seq, the previous record's hash as `prev`,
 * and a `ts` that never goes back within a process (a clock stepped backwards repeats the last
 * time instead), so timestamps only decrease in a log when a clock moved across a restart.
 */
import { GENESIS, RECORD_VERSION, type RecordKind } from './record.js'
import { sealChained } from './serialize.js'

export interface ChainHead {
  /** Seq of the last record; 0 before the first. */
  readonly seq: number
  readonly hash: string
  /** `ts` of the last record, epoch ms; 0 before the first. */
  readonly tsMs: number
}

export const EMPTY_HEAD: ChainHead = { seq: 0, hash: GENESIS, tsMs: 0 }

export interface ChainedRecord {
  readonly line: string
  readonly head: ChainHead
}

export class Chain {
  #head: ChainHead
  /** The last ts text: a batch's records share one time, and toISOString is not free. */
  #tsText = { ms: Number.NaN, text: '' }

  constructor(
    readonly writer: string,
    head: ChainHead = EMPTY_HEAD,
  ) {
    this.#head = head
  }

  get head(): ChainHead {
    return this.#head
  }

  /** Continues from `head` (a resume from disk, or a rollback after a failed write). */
  reset(head: ChainHead): void {
    this.#head = head
  }

  /** The `ts` the next record will carry, for a checkpoint that signs it. */
  nextTsMs(nowMs: number): number {
    return Math.max(nowMs, this.#head.tsMs)
  }

  append(kind: RecordKind, fields: Readonly<Record<string, unknown>>, nowMs: number): ChainedRecord {
    const tsMs = this.nextTsMs(nowMs)
    const seq = this.#head.seq + 1
    // The chain's fields win, so a kind-specific field can never stand in for one.
    if (this.#tsText.ms !== tsMs) this.#tsText = { ms: tsMs, text: new Date(tsMs).toISOString() }
    const sealed = sealChained(fields, { v: RECORD_VERSION, kind, writer: this.writer, seq, ts: this.#tsText.text, prev: this.#head.hash })
    this.#head = { seq, hash: sealed.hash, tsMs }
    return { line: sealed.line, head: this.#head }
  }
}
