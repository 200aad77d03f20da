/** What `audit verify` reports: per writer, the first problem found and any warnings. */

/**
 * edited: a record's bytes no longer match its hash, or a record was rewritten with a new hash
 * (the next one no longer links to it); deleted: seq gap; reordered: seq goes back; inserted:
 * a record that does not belong to the chain; truncated: records missing at the end, against a
 * checkpoint; torn: an incomplete last line no recovery record acknowledges; forked: the chain
 * differs from a checkpoint's head, or a checkpoint's signature fails.
 */
export type Classification = 'edited' | 'deleted' | 'reordered' | 'inserted' | 'truncated' | 'torn' | 'forked'

/**
 * torn: a torn tail that a later recovery record acknowledges; partial: the first file given
 * starts after seq 1; restart: a new chain from seq 1 (the stdout sink, or lost state);
 * clock: ts went back; unverifiable: a checkpoint older than the first record given.
 */
export type WarningKind = 'torn' | 'partial' | 'restart' | 'clock' | 'unverifiable'

export interface Position {
  readonly file: string
  /** 1-based line number. */
  readonly line: number
  readonly seq?: number
}

export interface Finding extends Position {
  readonly writer: string
  readonly classification: Classification
  readonly message: string
}

export interface Warning extends Position {
  readonly writer: string
  readonly kind: WarningKind
  readonly message: string
}

export interface WriterReport {
  readonly writer: string
  readonly records: number
  readonly firstSeq: number | null
  readonly lastSeq: number | null
  readonly checkpoints: { readonly inLog: number; readonly verified: number; readonly external: number; readonly externalMatched: number }
  readonly problem: Finding | null
  readonly warnings: readonly Warning[]
}

export interface VerifyReport {
  readonly ok: boolean
  readonly strict: boolean
  /** False when no public key was given: checkpoint signatures were not checked. */
  readonly signaturesChecked: boolean
  readonly writers: readonly WriterReport[]
  /** The first problem of each writer, then problems of the checkpoint copies themselves. */
  readonly problems: readonly Finding[]
  readonly warnings: readonly Warning[]
}
