/**
 * The interfaces the core needs from the outside world. Adapters live in src/io; filters get
 * them through FilterFactory.compile(config, ports), so the core never imports an adapter.
 */

/** Scores in [0, 1] per label, one record per input text, in input order. */
export type ClassifierScores = Readonly<Record<string, number>>

/**
 * A text classifier (toxicity, prompt injection…). Implementations batch and run off the event
 * loop; `signal` aborts a call whose verdict is no longer wanted (timeout, client gone).
 */
export interface Classifier {
  readonly name: string
  classify(texts: readonly string[], signal: AbortSignal): Promise<readonly ClassifierScores[]>
}

export type ModerationDirection = 'request' | 'response'
export type ModerationAction = 'block' | 'redact' | 'flag'

/** What moderation counts; io/metrics implements it. */
export interface ModerationMetricsPort {
  /** One per rule hit that survives its `when`: shadow hits are counted, never acted on. */
  hit(rule: string, action: ModerationAction, shadow: boolean, direction: ModerationDirection): void
  /** A dependency failed and the rule's onError policy decided (`allow` or `block`). */
  onError(rule: string, policy: 'allow' | 'block', reason: 'timeout' | 'error' | 'condition'): void
  /** The most text (UTF-16 code units) one channel held back at once, once per channel at its end. */
  holdback(codeUnits: number): void
}

export interface Ports {
  readonly classifiers?: ReadonlyMap<string, Classifier>
  readonly moderationMetrics?: ModerationMetricsPort
  /** Wall clock for time-of-day conditions; tests pin it. */
  readonly now?: () => Date
}
