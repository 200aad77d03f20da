/**
 * Holds the live policy snapshot. Readers call current() once per request; a reload replaces
 * the whole snapshot with one reference assignment, so a reader sees either the old policy or
 * the new one, never a mix, and needs no lock.
 */
import { formatConfigError, type ConfigError } from './errors.js'
import type { PolicySnapshot } from './snapshot.js'

export interface ConfigFailure {
  readonly at: Date
  readonly errors: readonly ConfigError[]
  /** Each error rendered as `file:path: message`. */
  readonly messages: readonly string[]
}

export class SnapshotStore {
  #current: PolicySnapshot | undefined
  #lastError: ConfigFailure | undefined
  #lastAttemptAt: Date | undefined

  /** undefined until the first policy has loaded: the server answers not_ready meanwhile. */
  current(): PolicySnapshot | undefined {
    return this.#current
  }

  swap(snapshot: PolicySnapshot): void {
    this.#current = snapshot
  }

  /** The failure of the latest load attempt; cleared once the files on disk are good again. */
  get lastError(): ConfigFailure | undefined {
    return this.#lastError
  }

  get lastAttemptAt(): Date | undefined {
    return this.#lastAttemptAt
  }

  recordAttempt(at: Date): void {
    this.#lastAttemptAt = at
  }

  recordFailure(errors: readonly ConfigError[], at: Date): void {
    this.#lastError = Object.freeze({
      at,
      errors: Object.freeze([...errors]),
      messages: Object.freeze(errors.map(formatConfigError)),
    })
  }

  clearFailure(): void {
    this.#lastError = undefined
  }
}
