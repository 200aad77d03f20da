import type { Revocation, RevocationStore, TokenIdentity } from '../../core/ports.js'
import { RevocationStoreFullError, toRevocation } from './revocation-entry.js'
import { RevocationSet } from './revocation-set.js'

/** Entries looked at per add, so expired ones go without a timer and no add pays for the whole set. */
const SWEEP_PER_ADD = 64

/** Revocations held by this replica alone: for a single replica, or for tests. */
export class MemoryRevocationStore implements RevocationStore {
  private readonly set = new RevocationSet()
  private readonly now: () => number
  private readonly maxEntries: number

  constructor(opts: { now?: () => number; maxEntries?: number } = {}) {
    this.now = opts.now ?? Date.now
    this.maxEntries = opts.maxEntries ?? 100_000
  }

  isRevoked(token: TokenIdentity): boolean {
    return this.set.isRevoked(token, this.now())
  }

  staleness(): number {
    return 0
  }

  async add(entry: Revocation): Promise<void> {
    const clean = toRevocation(entry)
    const now = this.now()
    this.set.sweep(now, SWEEP_PER_ADD)
    // A full prune only when the bound is reached: rare, and cheaper than refusing an operator.
    if (!this.set.has(clean) && this.set.size >= this.maxEntries) {
      this.set.prune(now)
      if (this.set.size >= this.maxEntries) throw new RevocationStoreFullError(this.maxEntries)
    }
    this.set.put(clean)
  }

  async remove(kind: Revocation['kind'], key: string, issuer?: string): Promise<number> {
    return this.set.delete(kind, key, issuer)
  }

  async list(): Promise<readonly Revocation[]> {
    this.set.prune(this.now())
    return this.set.list(this.now())
  }
}
