/** Clients of a test's own redis-server, and what the TTL audits read. */
import { once } from 'node:events'
import type { Redis } from 'ioredis'
import { connectRedis } from '../../src/io/redis/connect.js'
import { captureLog } from './capture-log.js'

type Teardown = { teardown(fn: () => unknown): void }

/** A ready client (connectRedis has no offline queue: commands before `ready` would fail). */
export async function redisClient(t: Teardown, url: string, name: string, commandTimeoutMs?: number): Promise<Redis> {
  const redis = connectRedis(url, { name, log: captureLog(), ...(commandTimeoutMs !== undefined && { commandTimeoutMs }) })
  t.teardown(() => redis.disconnect())
  if (redis.status !== 'ready') await once(redis, 'ready')
  return redis
}

/** Every key, by SCAN. */
export async function allKeys(redis: Redis): Promise<string[]> {
  const keys: string[] = []
  let cursor = '0'
  do {
    const [next, batch] = await redis.scan(cursor, 'COUNT', 1000)
    cursor = next
    keys.push(...batch)
  } while (cursor !== '0')
  return keys
}
