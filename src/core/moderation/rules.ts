import type { Classifier, LanguageDetector, ModerationAction } from '../ports.js'
import type { CompiledMatcher } from './types.js'

/** A rule as the engine runs it: compiled once per policy snapshot. */
export interface ModerationRule {
  readonly name: string
  readonly direction: 'request' | 'response' | 'both'
  readonly action: ModerationAction
  readonly shadow: boolean
  /** The text that replaces a redacted span; `label` is a PII type for PII rules. */
  readonly mask: (original: string, label: string | undefined) => string
  readonly classifier?: ClassifierRule
}

export interface ClassifierRule {
  readonly classifier: Classifier
  /** A label at or above its threshold makes the window a hit. */
  readonly thresholds: Readonly<Record<string, number>>
  readonly mode: 'inline' | 'async'
  readonly timeoutMs: number
  readonly onError: 'allow' | 'block'
  /** Languages the classifier covers; absent: any. */
  readonly languages?: ReadonlySet<string>
  /** Where windows in another language go; absent parts mean flag-only. */
  readonly otherLanguages?: OtherLanguagesRule
}

export interface OtherLanguagesRule {
  /** Keyword lists over the folded window. */
  readonly keywords?: CompiledMatcher
  readonly classifier?: {
    readonly classifier: Classifier
    readonly thresholds: Readonly<Record<string, number>>
    readonly languages?: ReadonlySet<string>
  }
}

/** Which rules a matcher's hit ids stand for: one id can serve several rules. */
export interface RuleRef {
  readonly rule: number
  readonly label?: string
}

export interface MatcherBinding {
  readonly matcher: CompiledMatcher
  /** refs[hit.id] */
  readonly refs: readonly (readonly RuleRef[])[]
}

export interface CompiledModeration {
  readonly rules: readonly ModerationRule[]
  readonly matchers: readonly MatcherBinding[]
  readonly decodeBase64: boolean
  /** Longest window a classifier sees, in folded code units; a sentence end closes it earlier. */
  readonly classifierWindow: number
  /** Present when a classifier rule covers only some languages. */
  readonly languageDetector?: LanguageDetector
}

/** The strictest action wins when rules overlap: block, then redact, then flag. */
export const ACTION_RANK: Readonly<Record<ModerationAction, number>> = { block: 3, redact: 2, flag: 1 }
