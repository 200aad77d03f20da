import { RemoteKeySet, type FetchOutcome, type RemoteKeySetDeps, type RemoteKeySetOptions, type RemoteKeySetStatus } from './remote-key-set.js'

export interface JwksRegistryDeps extends Omit<RemoteKeySetDeps, 'onFetch'> {
  /** Per-URI, so a metric can say which endpoint is failing. */
  onFetch?: (uri: string, outcome: FetchOutcome) => void
}

/**
 * One RemoteKeySet per URI for the whole process: a policy reload builds new verifiers, and
 * they must find the keys already fetched instead of starting cold (or, with the endpoint down,
 * with nothing at all).
 */
export class JwksRegistry {
  readonly #sets = new Map<string, RemoteKeySet>()
  readonly #deps: JwksRegistryDeps

  constructor(deps: JwksRegistryDeps) {
    this.#deps = deps
  }

  /** The set for `uri`, created on first use; later calls apply their (possibly reloaded) options. */
  get(uri: string, options: RemoteKeySetOptions): RemoteKeySet {
    const href = new URL(uri).href
    const existing = this.#sets.get(href)
    if (existing !== undefined) {
      existing.setOptions(options)
      return existing
    }
    const { onFetch, ...deps } = this.#deps
    const set = new RemoteKeySet(href, options, { ...deps, onFetch: onFetch && ((outcome) => onFetch(href, outcome)) })
    this.#sets.set(href, set)
    return set
  }

  status(): RemoteKeySetStatus[] {
    return [...this.#sets.values()].map((s) => s.status())
  }

  async prefetchAll(): Promise<void> {
    await Promise.all([...this.#sets.values()].map((s) => s.prefetch()))
  }
}
