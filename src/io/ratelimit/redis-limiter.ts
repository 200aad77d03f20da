import type { Redis } from 'ioredis'
import type { LimitDecision, LimitSpec, LimitState, RateLimitStore } from '../../core/ports.js'
import { randomUUID } from 'node:crypto'
import { REPLY_PER_SPEC, gcraCommand, type GcraCommand } from './gcra-script.js'
import { adjustCommands } from './adjust-script.js'
import { taggedKey } from '../redis/keys.js'

export interface RedisLimiterOptions {
  redis: Redis
  /** Hash tag of every bucket key, so one request's keys share a Redis Cluster slot (the script needs that). */
  keyPrefix?: string
}

/**
 * Limits shared by every replica: one script call per request checks and charges all its specs
 * atomically on Redis' clock. Errors (Redis down, the client's command timeout) reject; what they
 * mean for the request is the caller's policy (fallback-limiter.ts).
 */
export class RedisLimiter implements RateLimitStore {
  private readonly run: GcraCommand
  private readonly scripts: ReturnType<typeof adjustCommands>
  private readonly redis: Redis
  private readonly keyBase: string
  private readonly leaseBase: string

  constructor(opts: RedisLimiterOptions) {
    this.run = gcraCommand(opts.redis)
    this.scripts = adjustCommands(opts.redis)
    this.redis = opts.redis
    this.keyBase = taggedKey(opts.keyPrefix, 'rl', '')
    this.leaseBase = taggedKey(opts.keyPrefix, 'cc', '')
  }

  async adjust(spec: LimitSpec, delta: number): Promise<void> {
    if (delta === 0) return
    await this.scripts.adjust(this.keyBase + spec.key, spec.limit, spec.periodMs, delta)
  }

  async lease(key: string, max: number, ttlMs: number): Promise<{ release(): Promise<void> } | undefined> {
    const id = randomUUID()
    const set = this.leaseBase + key
    const got = await this.scripts.lease(set, id, max, ttlMs)
    if (got !== 1) return undefined
    return { release: async () => void (await this.redis.zrem(set, id)) }
  }

  async acquire(specs: readonly LimitSpec[]): Promise<LimitDecision> {
    if (specs.length === 0) return { allowed: true, states: [], mode: 'shared' }
    return decode(await this.run(specs.map((s) => this.keyBase + s.key), specs), specs)
  }
}

function decode(reply: unknown, specs: readonly LimitSpec[]): LimitDecision {
  if (!Array.isArray(reply) || reply.length !== 1 + specs.length * REPLY_PER_SPEC || !reply.every((n) => typeof n === 'number')) {
    throw new Error(`unexpected rate limit script reply for ${specs.length} specs`)
  }
  const n = reply as number[]
  const states = specs.map((spec, i): LimitState => {
    const at = 1 + i * REPLY_PER_SPEC
    return { name: spec.name, allowed: n[at] === 1, remaining: n[at + 1]!, resetMs: n[at + 2]!, retryAfterMs: n[at + 3]!, shadow: spec.shadow }
  })
  return { allowed: n[0] === 1, states, mode: 'shared' }
}
