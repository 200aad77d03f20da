import type { Command, Redis } from 'ioredis'
import { redisTraces, type RedisTrace } from '../../core/telemetry/channels.js'

/**
 * Publishes every command `redis` sends on the Redis trace channel, named by connection.
 * ioredis has a trace channel of its own, but a subscriber to it makes ioredis turn every
 * argument of every EVAL into a string, cache entries included; this one never reads them.
 */
export function traceCommands(redis: Redis, connection: string, url: string): void {
  const where = serverOf(url)
  const database = redis.options.db ?? 0
  const send = redis.sendCommand.bind(redis)
  // A command goes through sendCommand again when it is resent after a reconnect: one span.
  const seen = new WeakSet<Command>()
  redis.sendCommand = (command: Command, stream?: Parameters<Redis['sendCommand']>[1]) => {
    if (!redisTraces.hasSubscribers || seen.has(command)) return send(command, stream)
    seen.add(command)
    const msg: RedisTrace = { command: command.name.toUpperCase(), connection, serverAddress: where.address, serverPort: where.port, database }
    redisTraces.start.publish(msg)
    command.promise.then(
      () => redisTraces.asyncEnd.publish(msg),
      (err: unknown) => {
        msg.error = err
        redisTraces.error.publish(msg)
        redisTraces.asyncEnd.publish(msg)
      },
    )
    return send(command, stream)
  }
}

function serverOf(url: string): { address: string; port: number } {
  try {
    const u = new URL(url)
    return { address: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port || 6379) }
  } catch {
    return { address: '', port: 0 }
  }
}
