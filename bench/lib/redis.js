// @ts-check
// A redis-server for the benchmarks, on a free loopback port, with nothing persisted.
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import { freePort, startChild } from './procs.js'

/** @param {string} tmp */
export async function startRedis(tmp) {
  const port = await freePort()
  const child = startChild('redis-server', 'redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { logFile: join(tmp, 'redis.log') })
  const deadline = Date.now() + 10_000
  for (;;) {
    try {
      if (execFileSync('redis-cli', ['-p', String(port), 'ping'], { encoding: 'utf8' }).trim() === 'PONG') break
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error('redis-server did not start (is it installed? apt-get install redis-server)')
    await new Promise((r) => setTimeout(r, 50))
  }
  return { child, port, url: `redis://127.0.0.1:${port}` }
}
