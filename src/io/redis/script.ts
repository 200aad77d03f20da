import type { Redis } from 'ioredis'

export type ScriptRun = (...args: (string | number)[]) => Promise<unknown>

/**
 * A Lua script as a command of `redis`: ioredis sends EVALSHA and falls back to EVAL when the
 * server lacks it (first use on a connection, a restarted or flushed Redis). Defined once per
 * client, however many stores share the connection. Without `numberOfKeys` the caller passes
 * the key count as the first argument.
 */
export function redisScript(redis: Redis, name: string, lua: string, numberOfKeys?: number): ScriptRun {
  if (!Object.hasOwn(redis, name)) redis.defineCommand(name, numberOfKeys === undefined ? { lua } : { lua, numberOfKeys })
  return (redis as unknown as Record<string, ScriptRun>)[name]!.bind(redis)
}
