/**
 * A compiled, immutable policy. A request reads the current snapshot once, at its start, and
 * keeps it to the end, so a reload never changes the rules under a stream already running.
 */
import type { Filter } from '../chain/types.js'
import type { ConfigError } from './errors.js'

export interface SnapshotFile {
  readonly name: string
  /** sha256 of the UTF-8 content, hex. */
  readonly sha256: string
  readonly bytes: number
}

export interface PolicySnapshot {
  /** 1 for the first policy loaded by this process, +1 per successful swap. */
  readonly version: number
  /** sha256 over the sorted file names and contents (see digestFiles); equal digest, same policy. */
  readonly digest: string
  readonly loadedAt: Date
  readonly files: readonly SnapshotFile[]
  /** metadata.name of every policy document, in load order. */
  readonly policies: readonly string[]
  /** The merged spec, as validated (defaults applied), keyed by filter name. */
  readonly spec: Readonly<Record<string, unknown>>
  /** Filters in registry order; only those whose section is present. Empty means pass-through. */
  readonly chain: readonly Filter[]
  /** Some filter has a response hook or transform: decided here, once, not per request. */
  readonly responseHooks: boolean
  /** Some filter reads the request body (Filter.needsRequestBody). */
  readonly requestBody: boolean
  /** Findings that did not stop the load (Filter.warnings), as `file:path` errors. */
  readonly warnings: readonly ConfigError[]
}

/**
 * Freezes plain data (objects, arrays) all the way down. Class instances, such as compiled
 * filters holding caches or clients, are left alone: freezing them is not ours to decide.
 */
export function deepFreeze<T>(value: T): T {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return value
  const proto = Object.getPrototypeOf(value) as unknown
  if (!Array.isArray(value) && proto !== Object.prototype && proto !== null) return value
  Object.freeze(value)
  for (const v of Object.values(value)) deepFreeze(v)
  return value
}
