/**
 * A slow Redis: Chaperone's redis.url points at a TCP proxy in front of a real redis-server that
 * holds every chunk for a while. With the delay far above rateLimits.commandTimeoutMs, requests
 * must not wait for Redis: the check times out, the local fallback decides, and the time spent
 * there shows in the metrics; when the delay goes away, a probe switches back to shared limits.
 */
import t from 'tap'
import { startStack, type Stack } from '../helpers/chaperone.js'
import { startRedisServer } from '../helpers/redis-server.js'
import { startTcpDelayProxy } from '../helpers/tcp-delay-proxy.js'

const COMMAND_TIMEOUT_MS = 20
const DELAY_MS = 200

const POLICY = `apiVersion: chaperone.dev/v1
kind: Policy
metadata: { name: rl-slow-redis }
spec:
  rateLimits:
    - name: global
      key: [global]
      rate: 100000/minute
      match: { paths: [/v1/models] }
    - name: in-flight
      key: [global]
      concurrency: 1000
      match: { paths: [/echo/leases/**] }
`

async function metricsText(stack: Stack): Promise<string> {
  return (await fetch(`${stack.chaperone.adminUrl}/metrics`)).text()
}

/** The value of one sample in the Prometheus text, 0 when absent. */
function sample(text: string, name: string, labels: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && labels.split(',').every((p) => l.includes(p)))
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0
}

const decisions = (text: string, mode: string) => sample(text, 'chaperone_ratelimit_decisions_total', `mode="${mode}"`)

/**
 * `count` rounds of `concurrency` pairs at once, each pair one request to `path` and one to a
 * path no limit applies to: the statuses and latencies of both. The unlimited requests measure
 * what the machine itself adds (this test shares its CPU with other test files).
 */
async function timed(stack: Stack, path: string, count: number, concurrency: number): Promise<{ statuses: number[]; ms: number[]; baselineMs: number[] }> {
  const statuses: number[] = []
  const ms: number[] = []
  const baselineMs: number[] = []
  const once = async (p: string, into: number[]) => {
    const start = performance.now()
    const r = await fetch(`${stack.chaperone.proxyUrl}${p}`)
    await r.arrayBuffer()
    into.push(performance.now() - start)
    return r.status
  }
  for (let round = 0; round < count; round++) {
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        const [status] = await Promise.all([once(path, ms), once('/echo/unlimited', baselineMs)])
        statuses.push(status)
      }),
    )
  }
  return { statuses, ms, baselineMs }
}

/** Sends a request every 50 ms until one is decided in Redis; false after `ms`. */
async function sharedWithin(stack: Stack, ms: number): Promise<boolean> {
  const before = decisions(await metricsText(stack), 'shared')
  const deadline = performance.now() + ms
  while (performance.now() < deadline) {
    await (await fetch(`${stack.chaperone.proxyUrl}/v1/models`)).arrayBuffer()
    if (decisions(await metricsText(stack), 'shared') > before) return true
    await new Promise((r) => setTimeout(r, 50))
  }
  return false
}

/**
 * 20 requests 20 ms apart; their statuses and how many were decided in Redis. Not always all 20:
 * this test shares a loaded machine with others, and a check whose reply waits behind a 20 ms
 * stall of the event loop is timed out like a slow Redis (and the fallback decides until the
 * next probe, 50 ms later).
 */
async function paced(stack: Stack): Promise<{ statuses: number[]; shared: number }> {
  const before = decisions(await metricsText(stack), 'shared')
  const statuses: number[] = []
  for (let i = 0; i < 20; i++) {
    const r = await fetch(`${stack.chaperone.proxyUrl}/v1/models`)
    await r.arrayBuffer()
    statuses.push(r.status)
    await new Promise((r) => setTimeout(r, 20))
  }
  return { statuses, shared: decisions(await metricsText(stack), 'shared') - before }
}

function p99(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * 0.99) - 1)]!
}

t.test('a slow Redis: the command timeout bounds every request, the fallback decides, a probe switches back', async (t) => {
  const redisServer = await startRedisServer()
  const proxy = await startTcpDelayProxy(redisServer.port, 0)
  const stack = await startStack({
    files: { 'policy.yaml': POLICY },
    adjust: (c) => ({
      ...c,
      redis: { url: proxy.url, keyPrefix: 'rl-slow' },
      rateLimits: { onRedisError: 'local', replicas: 1, commandTimeoutMs: COMMAND_TIMEOUT_MS, probeMs: 50 },
      telemetry: { logLevel: 'info', accessLog: false },
    }),
  })
  t.teardown(async () => {
    await stack.close()
    await proxy.close()
    await redisServer.stop()
  })

  t.test('no delay: admitted, decided by Redis', async (t) => {
    t.ok(await sharedWithin(stack, 5000), 'checks are decided in Redis')
    const { statuses, shared } = await paced(stack)
    t.same(new Set(statuses), new Set([200]), 'every request admitted')
    t.ok(shared >= 15, `${shared} of 20 decided in Redis`)
    const r = await fetch(`${stack.chaperone.proxyUrl}/v1/models`)
    t.match(r.headers.get('ratelimit'), /^"global";r=\d+;t=\d+$/)
  })

  t.test(`${DELAY_MS} ms delay: every request answers, p99 well under the delay, the fallback decides`, async (t) => {
    const switchesBefore = stack.logs.lines.filter((l) => /redis unavailable/.test(String(l.msg))).length
    proxy.delayMs = DELAY_MS
    const { statuses, ms, baselineMs } = await timed(stack, '/v1/models', 60, 5)
    t.same(new Set(statuses), new Set([200]), 'every request answered and admitted')
    const p = p99(ms)
    const noise = p99(baselineMs)
    // A check that waited for this Redis would take the whole delay; one that times out takes
    // 20 ms. What the loaded machine adds to any request (the unlimited ones) is not the limiter's.
    t.ok(p - noise < 150, `p99 ${p.toFixed(1)} ms (unlimited requests beside them: ${noise.toFixed(1)} ms) < 150 ms with Redis ${DELAY_MS} ms away`)
    const m = await metricsText(stack)
    t.ok(decisions(m, 'local') > 0, `${decisions(m, 'local')} decisions by the local fallback`)
    t.ok(sample(m, 'chaperone_ratelimit_mode_seconds_total', 'mode="local"') > 0, 'time counted in mode local')
    // Once when it switched, never per request (none here if a stall had already switched it).
    t.ok(stack.logs.lines.filter((l) => /redis unavailable/.test(String(l.msg))).length - switchesBefore <= 1, 'the switch is logged once, not per request')
  })

  t.test('delay back to 0: shared again within a couple of seconds', async (t) => {
    proxy.delayMs = 0
    const start = performance.now()
    t.ok(await sharedWithin(stack, 5000), `shared after ${Math.round(performance.now() - start)} ms`)
    t.ok(stack.logs.lines.some((l) => /redis answers again/.test(String(l.msg))), 'the switch back is logged')
    const { shared } = await paced(stack)
    t.ok(shared >= 15, `${shared} of the next 20 decided in Redis`)
  })

  t.test('a path with only a concurrency limit switches back to shared too', async (t) => {
    const echo = async () => (await fetch(`${stack.chaperone.proxyUrl}/echo/leases/x`)).status
    const unavailable = () => stack.logs.lines.filter((l) => /redis unavailable/.test(String(l.msg))).length
    const answersAgain = () => stack.logs.lines.filter((l) => /redis answers again/.test(String(l.msg))).length
    const switches = unavailable()
    proxy.delayMs = DELAY_MS
    const statuses: number[] = []
    const slowUntil = performance.now() + 3000
    while (unavailable() === switches && performance.now() < slowUntil) statuses.push(await echo())
    t.equal(unavailable(), switches + 1, 'a lease that timed out switched to the fallback')
    t.same(new Set(statuses), new Set([200]), 'the fallback admitted meanwhile')

    proxy.delayMs = 0
    const recoveries = answersAgain()
    const start = performance.now()
    while (answersAgain() === recoveries && performance.now() - start < 5000) {
      statuses.push(await echo())
      await new Promise((r) => setTimeout(r, 50))
    }
    t.same(new Set(statuses), new Set([200]), 'every request admitted')
    t.equal(answersAgain(), recoveries + 1, `shared again after ${Math.round(performance.now() - start)} ms, probed by leases alone`)
  })
})
