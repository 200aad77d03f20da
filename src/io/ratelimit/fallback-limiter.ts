import { randomUUID } from 'node:crypto'
import { hostname } from 'node:os'
import type { Redis } from 'ioredis'
import type { LimitDecision, LimitSpec, RateLimitStore } from '../../core/ports.js'
import type { RedisLog } from '../redis/connect.js'
import { MemoryLimiter } from './memory-limiter.js'
import { globEscape, taggedKey } from '../redis/keys.js'

export type LimiterMode = LimitDecision['mode']
export type OnRedisError = 'local' | 'allow' | 'deny'

export interface FallbackLimiterOptions {
  /** The Redis limiter (redis-limiter.ts): every decision while Redis answers. */
  shared: RateLimitStore
  /** For the replica heartbeats of `replicas: 'auto'`. */
  redis: Redis
  /** The hash tag the heartbeat keys live under, as the shared limiter's buckets do. */
  keyPrefix?: string
  onRedisError: OnRedisError
  /** How many replicas share the limits, for `local`: a number, or 'auto' (counted through heartbeats). */
  replicas: number | 'auto'
  replicaId?: string
  heartbeatMs?: number
  /** While degraded, at most one request per probeMs tries Redis. */
  probeMs?: number
  /** Bound of the local fallback's buckets. */
  maxKeys?: number
  log: RedisLog
  onMode?: (mode: LimiterMode) => void
  /** Monotonic ms: probes and time per mode. */
  clock?: () => number
}

/** A heartbeat key outlives this many missed beats before its replica stops counting. */
const HEARTBEATS_PER_TTL = 3
const SCAN_COUNT = 100
/** What `deny` tells clients: Redis may well be back by then. */
const DENY_RETRY_AFTER_MS = 1000


/**
 * Shared limits while Redis answers; the onRedisError policy while it does not. The first failure
 * switches mode; from then on at most one request per probeMs tries Redis (the others are answered
 * at once, instead of each paying the command timeout against a dead server), and the first probe
 * that succeeds switches back. Each switch is logged once.
 *
 * `local` keeps the global limit roughly whole: each replica enforces limit / replicas on its own.
 * With `replicas: 'auto'`, every replica keeps a heartbeat key alive while Redis is up and counts
 * the others' on each beat; an outage freezes the last count.
 */
export class FallbackLimiter implements RateLimitStore {
  private readonly shared: RateLimitStore
  private readonly local: MemoryLimiter
  private readonly redis: Redis
  private readonly onRedisError: OnRedisError
  private readonly probeMs: number
  private readonly heartbeatMs: number
  private readonly heartbeatKey: string
  private readonly heartbeatPattern: string
  private readonly log: RedisLog
  private readonly onMode: ((mode: LimiterMode) => void) | undefined
  private readonly clock: () => number
  private mode: LimiterMode = 'shared'
  private modeSince: number
  private readonly secondsIn: Record<LimiterMode, number> = { shared: 0, local: 0, allow: 0, deny: 0 }
  private nextProbeAt = 0
  private replicas: number
  private readonly heartbeats: boolean
  private beating: Promise<void> | undefined
  private timer: NodeJS.Timeout | undefined
  private closed = false

  constructor(opts: FallbackLimiterOptions) {
    this.shared = opts.shared
    this.redis = opts.redis
    this.onRedisError = opts.onRedisError
    this.probeMs = opts.probeMs ?? 1000
    this.heartbeatMs = opts.heartbeatMs ?? 5000
    this.log = opts.log
    this.onMode = opts.onMode
    this.clock = opts.clock ?? (() => performance.now())
    this.modeSince = this.clock()
    const tag = taggedKey(opts.keyPrefix, 'replicas', '')
    this.heartbeatKey = tag + (opts.replicaId ?? `${hostname()}-${randomUUID().slice(0, 8)}`)
    this.heartbeatPattern = `${globEscape(tag)}*`
    this.heartbeats = opts.replicas === 'auto'
    // 'auto' before any count (Redis down since boot): this replica alone, the lenient guess.
    this.replicas = opts.replicas === 'auto' ? 1 : Math.max(1, Math.floor(opts.replicas))
    this.local = new MemoryLimiter({ maxKeys: opts.maxKeys, share: () => this.replicas })
    if (this.heartbeats) this.beat()
  }

  async acquire(specs: readonly LimitSpec[]): Promise<LimitDecision> {
    const shared = await this.viaShared(() => this.shared.acquire(specs))
    return shared ? shared.value : this.fallback(specs)
  }

  /** Shared while Redis answers, else the local buckets (so a fallback counts reconciled tokens too). */
  async adjust(spec: LimitSpec, delta: number): Promise<void> {
    if (this.mode === 'shared' && this.shared.adjust) {
      try {
        return await this.shared.adjust(spec, delta)
      } catch (err) {
        this.degrade(err)
      }
    }
    if (this.mode === 'local' || this.mode === 'shared') await this.local.adjust(spec, delta)
  }

  /** A concurrency slot: shared while Redis answers; when it fails, the onRedisError policy. */
  async lease(key: string, max: number, ttlMs: number): Promise<{ release(): Promise<void> } | undefined> {
    const lease = this.shared.lease?.bind(this.shared)
    // A lease probes too: a policy with only concurrency limits must also find its way back.
    const shared = lease ? await this.viaShared(() => lease(key, max, ttlMs)) : undefined
    if (shared) return shared.value
    if (this.onRedisError === 'allow') return { release: async () => {} }
    if (this.onRedisError === 'deny') return undefined
    return this.local.lease(key, max, ttlMs)
  }

  /** Redis answers (as far as the last check knows): other Redis features can skip it when not. */
  get redisHealthy(): boolean {
    return this.mode === 'shared'
  }

  /** Replicas the `local` fallback divides limits by. */
  replicaCount(): number {
    return this.replicas
  }

  /** Seconds spent in each mode since construction, the current stretch included. */
  modeSeconds(): Record<LimiterMode, number> {
    const out = { ...this.secondsIn }
    out[this.mode] += (this.clock() - this.modeSince) / 1000
    return out
  }

  /** Stops the heartbeats and deletes this replica's key, best effort. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    clearTimeout(this.timer)
    if (!this.heartbeats) return
    // A beat in flight would set the key again after the delete.
    await this.beating
    await this.redis.del(this.heartbeatKey).catch(() => undefined)
  }

  /**
   * `op` on Redis while shared, or as the one probe per probeMs while not (its success switches
   * back); undefined when the onRedisError policy must decide instead.
   */
  private async viaShared<T>(op: () => Promise<T>): Promise<{ value: T } | undefined> {
    const probe = this.mode !== 'shared'
    if (probe) {
      const now = this.clock()
      if (now < this.nextProbeAt) return undefined
      this.nextProbeAt = now + this.probeMs
    }
    try {
      const value = await op()
      if (probe) this.recover()
      return { value }
    } catch (err) {
      if (!probe) this.degrade(err)
      return undefined
    }
  }

  private degrade(err: unknown): void {
    // Requests in flight when Redis went away fail too: only the first one switches.
    if (this.mode !== 'shared') return
    this.nextProbeAt = this.clock() + this.probeMs
    this.switchTo(this.onRedisError)
    this.log.warn(
      { err: err instanceof Error ? err.message : String(err), mode: this.onRedisError, replicas: this.replicas, probeMs: this.probeMs },
      `rate limits: redis unavailable; deciding by onRedisError (${this.onRedisError})`,
    )
  }

  private recover(): void {
    if (this.mode === 'shared') return
    const downForMs = Math.round(this.clock() - this.modeSince)
    this.switchTo('shared')
    this.log.info({ downForMs }, 'rate limits: redis answers again; limits are shared')
  }

  private switchTo(mode: LimiterMode): void {
    const now = this.clock()
    this.secondsIn[this.mode] += (now - this.modeSince) / 1000
    this.modeSince = now
    this.mode = mode
    this.onMode?.(mode)
  }

  private fallback(specs: readonly LimitSpec[]): Promise<LimitDecision> | LimitDecision {
    switch (this.mode) {
      case 'allow':
        return {
          allowed: true,
          states: specs.map((s) => ({ name: s.name, allowed: true, remaining: s.burst, resetMs: 0, retryAfterMs: 0, shadow: s.shadow })),
          mode: 'allow',
        }
      case 'deny':
        return {
          // Shadow limits never refuse, not even here.
          allowed: specs.every((s) => s.shadow),
          states: specs.map((s) => ({ name: s.name, allowed: false, remaining: 0, resetMs: 0, retryAfterMs: DENY_RETRY_AFTER_MS, shadow: s.shadow })),
          mode: 'deny',
        }
      default:
        return this.local.acquire(specs)
    }
  }

  private beat(): void {
    this.beating = this.beatOnce().finally(() => {
      this.beating = undefined
      if (this.closed) return
      this.timer = setTimeout(() => this.beat(), this.heartbeatMs)
      this.timer.unref()
    })
  }

  private async beatOnce(): Promise<void> {
    // During an outage the count seen before it stands: nothing new can be learnt.
    if (this.mode !== 'shared') return
    try {
      await this.redis.set(this.heartbeatKey, '1', 'PX', HEARTBEATS_PER_TTL * this.heartbeatMs)
      this.replicas = Math.max(1, await this.countReplicas())
    } catch {
      // The request path notices outages; a missed beat only keeps the last count.
    }
  }

  private async countReplicas(): Promise<number> {
    // A Set: SCAN may return a key twice while the keyspace is rehashed.
    const seen = new Set<string>()
    let cursor = '0'
    do {
      const [next, keys] = await this.redis.scan(cursor, 'MATCH', this.heartbeatPattern, 'COUNT', SCAN_COUNT)
      cursor = next
      for (const k of keys) seen.add(k)
    } while (cursor !== '0')
    return seen.size
  }
}
