import { Redis } from 'ioredis'
import type { LogPort } from '../../core/chain/types.js'
import { traceCommands } from './trace-commands.js'

export type RedisLog = Pick<LogPort, 'info' | 'warn' | 'error'>

export interface ConnectRedisOptions {
  /** Names the connection in logs and in Redis' CLIENT LIST. */
  name: string
  log: RedisLog
  connectTimeoutMs?: number
  commandTimeoutMs?: number
}

const MAX_BACKOFF_MS = 2000

/** Where the client connects, for logs: the URL without credentials. */
function target(url: string): string {
  try {
    const u = new URL(url)
    return `${u.protocol}//${u.host}${u.pathname === '/' ? '' : u.pathname}`
  } catch {
    return '(unparsable url)'
  }
}

/**
 * An ioredis client tuned for a sidecar on the request path: commands fail fast while Redis is
 * away (no offline queue, one retry, a command timeout) instead of piling up behind a dead socket,
 * and reconnection backs off to at most 2 s but never gives up, so Redis coming back is noticed.
 * Keys are the callers' own (no keyPrefix): the client is shared by every Redis feature.
 */
export function connectRedis(url: string, opts: ConnectRedisOptions): Redis {
  const where = { redis: opts.name, target: target(url) }
  const redis = new Redis(url, {
    lazyConnect: false,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    retryStrategy: (times) => Math.min(MAX_BACKOFF_MS, 50 * 2 ** Math.min(times, 6)),
    commandTimeout: opts.commandTimeoutMs ?? 500,
    connectTimeout: opts.connectTimeoutMs ?? 2000,
    // CLIENT SETNAME refuses spaces and the like, and a refusal would fail every connect.
    connectionName: opts.name.replace(/[^\w.-]/g, '-'),
  })
  traceCommands(redis, opts.name, url)

  // Logged on state changes only: a retry every 2 s during an outage would otherwise flood the log.
  let up = false
  let downSince: number | undefined
  let errorLogged = false
  redis.on('ready', () => {
    opts.log.info({ ...where, ...(downSince !== undefined && { downForMs: Date.now() - downSince }) }, 'redis connected')
    up = true
    downSince = undefined
    errorLogged = false
  })
  redis.on('error', (err: Error & { code?: string }) => {
    if (errorLogged) return
    errorLogged = true
    // Node's AggregateError (every address refused) has an empty message; its code says it all.
    opts.log.warn({ ...where, err: err.message || err.code || String(err) }, 'redis unreachable; retrying')
  })
  // 'reconnecting', not 'close': a deliberate quit() closes too, and is no outage.
  redis.on('reconnecting', () => {
    if (!up) return
    up = false
    downSince = Date.now()
    opts.log.warn(where, 'redis connection lost; reconnecting')
  })
  redis.on('end', () => opts.log.info(where, 'redis connection closed'))
  return redis
}
