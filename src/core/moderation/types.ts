/**
 * Contracts between the moderation parts: the incremental normalizer produces views, scanners
 * read views and report hits plus how much of the view they still need held, and the hold-back
 * stream (holdback.ts) turns that into released, redacted original text.
 *
 * Offsets are absolute UTF-16 code-unit offsets from the start of one text channel (one choice's
 * content, one tool call's arguments…), in the original text or in a normalized view.
 */

/**
 * - `literal`: NFKC, default-ignorable code points removed. Case and digits kept. PII detectors
 *   and regex rules read this view: a checksum or `[0-9]{6}` must see the digits as written.
 * - `folded`: the literal view plus case fold, diacritics stripped, TR39 confusable skeleton,
 *   leetspeak and spaced-out letters joined. Keyword rules and classifiers read this view.
 */
export type ViewName = 'literal' | 'folded'

/** Normalized text that grows as the stream does; each code unit maps back to the original. */
export interface TextView {
  /** Absolute normalized length so far (everything below it is final). */
  readonly length: number
  /** Lowest absolute offset still stored; trim() raises it. */
  readonly base: number
  /** UTF-16 code unit at absolute offset i, base ≤ i < length. */
  charCodeAt(i: number): number
  /** Normalized text in [from, to), base ≤ from ≤ to ≤ length. */
  slice(from: number, to?: number): string
  /** Original offset of the first original code unit that produced normalized unit i. */
  origStart(i: number): number
  /** Original offset just past the last original code unit that produced normalized unit i. */
  origEnd(i: number): number
  /** Drops storage below absolute offset `to` (memory bound); offsets stay absolute. */
  trim(to: number): void
}

export interface IncrementalNormalizer {
  /** Appends original text; the views grow by what became final. */
  push(text: string): void
  /** No more text: everything pending becomes final. */
  end(): void
  readonly literal: TextView
  readonly folded: TextView
  /**
   * Original offset of the first original code unit not yet final in both views (a base letter
   * that a combining mark may still follow, a separator between spaced-out letters…). Original
   * text from here on must be held whatever the scanners say.
   */
  readonly pending: number
}

/** A match in one view: [start, end) in absolute normalized offsets; `id` is scanner-local. */
export interface Hit {
  id: number
  start: number
  end: number
}

/**
 * One stream's state of a compiled matcher. `scan` reads what its view gained since the last
 * call and appends the hits that are final; `final` is true once the view will not grow again
 * (the stream ended), so nothing may stay pending after that call.
 */
export interface StreamScanner {
  scan(view: TextView, final: boolean, hits: Hit[]): void
  /**
   * The earliest normalized offset whose verdict is still open: text from here on could still
   * become (part of) a hit. view.length when nothing needs holding.
   */
  holdFrom(): number
}

/** Compiled once per policy snapshot; scanner() makes the per-stream state. */
export interface CompiledMatcher {
  readonly view: ViewName
  scanner(): StreamScanner
}
