/**
 * The interfaces the core needs from the outside world. Adapters live in src/io; filters get
 * them through FilterFactory.compile(config, ports), so the core never imports an adapter.
 */

import type { JWTVerifyGetKey } from 'jose'
import type { PenaltyConfig } from './ratelimit/penalty.js'
import type { CacheMetricsPort, CacheStore } from './cache/types.js'
import type { ClassifierDecl } from './filters/moderation/classifier-schema.js'

/** Scores in [0, 1] per label, one record per input text, in input order. */
export type ClassifierScores = Readonly<Record<string, number>>

/**
 * A text classifier (toxicity, prompt injection…). Implementations batch and run off the event
 * loop; `signal` aborts a call whose verdict is no longer wanted (timeout, client gone).
 */
export interface Classifier {
  readonly name: string
  /** ISO 639-1 codes of the text it was trained on; absent: any language. */
  readonly languages?: readonly string[]
  classify(texts: readonly string[], signal: AbortSignal): Promise<readonly ClassifierScores[]>
}

/** A classifier a policy declared, built by the loader; `ready` settles once it can score. */
export interface LoadedClassifier extends Classifier {
  /** Rejects with an Error saying why the classifier cannot run (a model onnxruntime refuses). */
  ready(): Promise<void>
}

/**
 * Builds the classifiers a policy declares (spec.moderation.classifiers) while it compiles. The
 * same declaration over the same model bytes returns the same instance, so a reload keeps a
 * loaded model and a remote endpoint's breaker state. `load` throws an Error whose message says
 * what is wrong (a missing or corrupt model file); the policy then does not load.
 */
export interface ClassifierLoader {
  load(name: string, decl: ClassifierDecl): LoadedClassifier
  /** The language detector routing needs; loaded on first use (it costs memory). */
  languageDetector(): LanguageDetectorHandle
}

export interface LanguageDetectorHandle extends LanguageDetector {
  ready(): Promise<void>
}

/** Language of a window of text, with whether the detector is confident of it. */
export interface LanguageDetector {
  detect(text: string): { readonly language: string | undefined; readonly reliable: boolean }
}

/**
 * What happened to one classifier window: scored by the model, not scored because a cheaper
 * rule already blocked the text (the cascade), or routed away as a language the classifier does
 * not cover.
 */
export type ClassifierWindowOutcome = 'model' | 'cascade_blocked' | 'unsupported_language'

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
  /** One per window and classifier rule. */
  window?(rule: string, classifier: string, outcome: ClassifierWindowOutcome): void
}

export interface Ports {
  /** Classifiers given by the process (tests); policies declare theirs through `classifierLoader`. */
  readonly classifiers?: ReadonlyMap<string, Classifier>
  readonly classifierLoader?: ClassifierLoader
  /** The audit log is on: findings keep the matched (normalized) text for its keyed hash. */
  readonly auditMatches?: boolean
  readonly moderationMetrics?: ModerationMetricsPort
  /** Wall clock for time-of-day conditions and token expiry; tests pin it. */
  readonly now?: () => Date
  readonly jwks?: JwksPort
  readonly policyFiles?: PolicyFilePort
  readonly revocations?: RevocationStore
  readonly authzMetrics?: AuthzMetricsPort
  readonly rateLimits?: RateLimitStore
  readonly penalties?: PenaltyStore
  readonly rateLimitMetrics?: RateLimitMetricsPort
  /** Uniform in [0, 1): Retry-After and cache TTL jitter; tests pin it. */
  readonly random?: () => number
  /** Response cache tiers (memory, and Redis when configured); without it cache routes do nothing. */
  readonly cache?: CacheStore
  readonly cacheMetrics?: CacheMetricsPort
  /** Bytes the recordings of every cache miss in flight may hold together (core/cache/flight.ts). */
  readonly cacheFlightBytes?: number
}

/** Where the penalty box of each subject lives: this replica's memory, or Redis shared by all. */
export interface PenaltyStore {
  /** Adds `points` (finite, ≥ 0) for `key`; resolves to how long the subject is boxed from now (ms, 0 when free). */
  report(key: string, points: number, cfg: PenaltyConfig): Promise<{ boxedForMs: number }>
  boxedFor(key: string): Promise<number>
}

/** What rate limiting counts; io/metrics implements it. */
export interface RateLimitMetricsPort {
  decision(limit: string, allowed: boolean, shadow: boolean, mode: LimitDecision['mode']): void
}

/** Remote JWKS, one cache per URI for the whole process, so cached keys outlive a policy reload. */
export interface JwksPort {
  get(uri: string, options: { cooldownMs: number; maxAgeMs: number; timeoutMs: number }): { readonly getKey: JWTVerifyGetKey; keysVersion(): number }
}

/** What authz counts; io/metrics implements it. */
export interface AuthzMetricsPort {
  /** The rule that decided (`(default)` for default deny); `audit` counts what audit rules would change. */
  decision(rule: string, allow: boolean, mode: 'enforce' | 'audit'): void
  /** A token refused, by reason (a jose error code, `revoked`, `malformed`…). */
  tokenRejected(reason: string): void
  /** A dependency failed and its onError/onStale policy decided. */
  dependencyError(dependency: 'revocation' | 'condition', policy: 'allow' | 'deny'): void
}

/**
 * A revoked token (by `jti`, until the token's own expiry) or a subject's sessions (every token
 * issued before `revokedBefore`: "log this user out everywhere"). Times are epoch seconds.
 * `issuer` narrows an entry to one issuer, for multi-tenant setups where subjects may collide.
 */
export type Revocation =
  | { readonly kind: 'jti'; readonly jti: string; readonly expiresAt: number; readonly issuer?: string; readonly reason?: string; readonly createdAt: number }
  | {
      readonly kind: 'subject'
      readonly subject: string
      readonly revokedBefore: number
      /** When the entry may be forgotten: after every token it covers has expired. */
      readonly expiresAt: number
      readonly issuer?: string
      readonly reason?: string
      readonly createdAt: number
    }

/** What a revocation check needs of a verified token. */
export interface TokenIdentity {
  readonly issuer: string
  readonly subject?: string
  readonly jti?: string
  /** `iat`, epoch seconds; a subject revocation covers a token without one. */
  readonly issuedAt?: number
}

/**
 * Revocations shared by every replica (Redis) or local to one (memory). Checks are synchronous
 * against a local view kept in step with the shared store, so a check never waits on the network.
 */
export interface RevocationStore {
  isRevoked(token: TokenIdentity): boolean
  /** Milliseconds since the local view was last known to match the shared store; 0 when it is authoritative. */
  staleness(): number
  /** Durable once the promise resolves; visible on every replica within the store's sync period. */
  add(entry: Revocation): Promise<void>
  /** Removes entries matching kind and key (jti, or subject with issuer); resolves to how many went. */
  remove(kind: Revocation['kind'], key: string, issuer?: string): Promise<number>
  /** Entries not yet expired. */
  list(): Promise<readonly Revocation[]>
}

/**
 * Files a policy names (`jwksFile`, `hmacSecretFile`), read while the policy compiles. A relative
 * path is resolved against the config directory; a change to a file read here reloads the policy.
 * `read` throws an Error whose message says why (missing, too large).
 */
export interface PolicyFilePort {
  /** At most `maxBytes` (1 MiB by default: a JWKS or a secret is small; a model is not). */
  read(path: string, maxBytes?: number): Uint8Array
}

/**
 * One limit to check for one request: GCRA (a token bucket with no fixed window) over `key`.
 * `limit` units per `periodMs` flow back continuously; at most `burst` units can be taken at once.
 */
export interface LimitSpec {
  /** The policy limit's name: in the 429, the headers and metrics. */
  readonly name: string
  /** The storage key, unique per limit and key parts (built by the filter, never from raw input). */
  readonly key: string
  readonly limit: number
  readonly periodMs: number
  readonly burst: number
  /** Units this request takes: 1 for a request, the estimated tokens for a token budget. */
  readonly cost: number
  /** Evaluated and charged when it passes, never refuses. */
  readonly shadow: boolean
}

export interface LimitState {
  readonly name: string
  /** Whether this limit alone would admit the request. */
  readonly allowed: boolean
  /** Units still available right after this decision. */
  readonly remaining: number
  /** Until the limit is back to its full burst, ms. */
  readonly resetMs: number
  /** When refused: until the cost fits again, ms (0 when allowed). */
  readonly retryAfterMs: number
  readonly shadow: boolean
}

export interface LimitDecision {
  /** Every enforced (non-shadow) limit passed, and they were all charged together. */
  readonly allowed: boolean
  /** One per spec, same order. */
  readonly states: readonly LimitState[]
  /**
   * Where it was decided: `shared` (Redis), `local` (the per-replica fallback while Redis is
   * down), or `allow`/`deny` (the onRedisError policy, nothing checked).
   */
  readonly mode: 'shared' | 'local' | 'allow' | 'deny'
}

export interface RateLimitStore {
  /** Checks every spec and, when every enforced one passes, charges all that pass, atomically. */
  acquire(specs: readonly LimitSpec[]): Promise<LimitDecision>
  /**
   * Charges `delta` more units to an acquired spec (a negative delta gives units back): token
   * reservations reconciled with the actual usage. Never refuses; best effort while Redis is down.
   */
  adjust?(spec: LimitSpec, delta: number): Promise<void>
  /**
   * One of at most `max` concurrent holders of `key`; `ttlMs` frees a holder that never released
   * (a crashed replica). Resolves to a release function, or undefined when all `max` are taken.
   */
  lease?(key: string, max: number, ttlMs: number): Promise<{ release(): Promise<void> } | undefined>
}
