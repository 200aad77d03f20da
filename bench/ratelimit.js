#!/usr/bin/env node
// @ts-check
// Rate-limit benchmark. In process: the cost of one rate-limit decision on a loopback Redis at a
// steady 2,000 checks/s (open loop: latency counted from each check's scheduled time), two
// limits per check as a real request has. End to end, in interleaved rounds: two pass-through
// Chaperones against two with limits on (Redis-backed), pooled, so the added latency is read
// against the noise between identical processes. Writes its section of bench/RESULTS.md (between
// the ratelimit markers) and bench/results-ratelimit.json.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { percentile } from './lib/stats.js'
import { stopAll } from './lib/procs.js'
import { startRedis } from './lib/redis.js'
import { pairedEndToEnd } from './lib/paired.js'
import { writeSection } from './lib/sections.js'
import { startUpstream } from './lib/targets.js'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const log = (/** @type {string} */ line) => process.stdout.write(`${line}\n`)
const quick = process.argv.includes('--quick')
const o = { rate: 2000, seconds: quick ? 3 : 10, rounds: quick ? 2 : 5, requestsPerRound: quick ? 500 : 2000 }
const dist = (/** @type {string} */ p) => import(join(root, 'dist', p))

async function main() {
  const tmp = mkdtempSync(join(os.tmpdir(), 'chaperone-rlbench-'))
  try {
    const redis = await startRedis(tmp)
    log(`ratelimit 1/2 decision cost at ${o.rate} checks/s on loopback Redis`)
    const decision = await decisionCost(redis.url)
    log(`  from send p50 ${decision.serviceP50Ms.toFixed(3)} ms, p99 ${decision.serviceP99Ms.toFixed(3)} ms; from schedule p50 ${decision.p50Ms.toFixed(3)} ms, p99 ${decision.p99Ms.toFixed(3)} ms; ${decision.checks} checks, ${decision.errors} errors`)
    log('ratelimit 2/2 end to end, interleaved')
    const e2e = await endToEnd(redis.url, tmp)
    const run = { date: new Date().toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC'), options: o, decision, e2e }
    writeFileSync(join(root, 'bench', 'results-ratelimit.json'), JSON.stringify(run, null, 2) + '\n')
    const file = join(root, 'bench', 'RESULTS.md')
    writeSection(file, 'ratelimit', render(run))
    log(`\nwrote the ratelimit section of ${file} and results-ratelimit.json`)
  } finally {
    await stopAll()
    rmSync(tmp, { recursive: true, force: true })
  }
}

/** @param {string} url */
async function decisionCost(url) {
  const { connectRedis } = await dist('io/redis/connect.js')
  const { RedisLimiter } = await dist('io/ratelimit/redis-limiter.js')
  const quiet = { info() {}, warn() {}, error() {} }
  const redis = connectRedis(url, { name: 'bench', log: quiet, commandTimeoutMs: 20 })
  if (redis.status !== 'ready') await new Promise((r) => redis.once('ready', r))
  const limiter = new RedisLimiter({ redis })
  const specs = (/** @type {number} */ i) => [
    { name: 'per-user', key: `per-user:u${i % 1000}`, limit: 600, periodMs: 60_000, burst: 600, cost: 1, shadow: false },
    { name: 'global', key: 'global:*', limit: 1_000_000, periodMs: 1000, burst: 1_000_000, cost: 1, shadow: false },
  ]
  for (let i = 0; i < 500; i++) await limiter.acquire(specs(i))
  const total = o.rate * o.seconds
  const lat = new Float64Array(total)
  const service = new Float64Array(total)
  let errors = 0
  const start = performance.now()
  const pending = []
  for (let i = 0; i < total; i++) {
    const due = start + (i * 1000) / o.rate
    const wait = due - performance.now()
    if (wait > 1) await new Promise((r) => setTimeout(r, wait))
    // From the scheduled time (a late send counts its wait), or from the send when it left early.
    const sent = performance.now()
    const from = Math.min(due, sent)
    const done = () => {
      const end = performance.now()
      lat[i] = end - from
      service[i] = end - sent
    }
    pending.push(limiter.acquire(specs(i)).then(done, () => void (errors++, done())))
  }
  await Promise.all(pending)
  redis.disconnect()
  const all = Array.from(lat)
  const svc = Array.from(service)
  return { p50Ms: percentile(all, 50), p99Ms: percentile(all, 99), serviceP50Ms: percentile(svc, 50), serviceP99Ms: percentile(svc, 99), checks: total, errors }
}

/** @param {string} url @param {string} tmp */
async function endToEnd(url, tmp) {
  const upstream = await startUpstream(root, tmp)
  return pairedEndToEnd({
    bin: join(root, 'dist', 'cli.js'),
    tmp,
    upstream,
    name: 'limited',
    files: { 'chaperone.yaml': `redis: { url: "${url}" }\n`, 'limits.yaml': policy() },
    rounds: o.rounds,
    requestsPerRound: o.requestsPerRound,
    log,
  })
}

/** Two request limits on every chat completion, high enough that the bench is never refused. */
function policy() {
  return `apiVersion: chaperone.dev/v1
kind: Policy
metadata: { name: bench-limits }
spec:
  rateLimits:
    - { name: per-ip, key: [ip], rate: 1000000/minute, match: { paths: [/v1/chat/completions] } }
    - { name: global, key: [global], rate: 10000000/minute }
`
}

/** @param {any} run */
function render(run) {
  const s = run.e2e.summary
  const row = (/** @type {string} */ name) => `| ${name} | ${s[name].p50Ms.toFixed(3)} | ${s[name].p99Ms.toFixed(3)} | ${s[name].samples} |`
  const verdict = (/** @type {number} */ v, /** @type {number} */ target) => (v <= target ? 'met' : `missed by ${(v - target).toFixed(3)} ms`)
  return `## Rate limits

Run ${run.date}, \`node bench/ratelimit.js\`${quick ? ' --quick' : ''}. Decision: ${run.decision.checks} checks of two limits each (a per-user bucket among 1,000 and a global one) in one script call, open loop at ${run.options.rate}/s on a loopback \`redis-server\`, latency from each check's scheduled time. End to end: ${run.options.rounds} interleaved rounds of ${run.options.requestsPerRound} sequential non-streaming chat completions per target; \`limited\` checks two Redis-backed limits (per ip, global) on every request.

| measure | value | target | verdict |
|---|---|---|---|
| decision p50 at ${run.options.rate}/s, from send | ${run.decision.serviceP50Ms.toFixed(3)} ms | ≤ 0.2 ms | ${verdict(run.decision.serviceP50Ms, 0.2)} |
| decision p99 at ${run.options.rate}/s, from send | ${run.decision.serviceP99Ms.toFixed(3)} ms | ≤ 1 ms | ${verdict(run.decision.serviceP99Ms, 1)} |
| decision p50 / p99 from the scheduled time (adds the load generator's own timer lateness) | ${run.decision.p50Ms.toFixed(3)} / ${run.decision.p99Ms.toFixed(3)} ms | | |
| decision errors (timeouts) | ${run.decision.errors} | 0 | |
| limits on, added p50 over pass-through (end to end, pooled pairs) | ${run.e2e.addedP50Us.toFixed(1)} µs | | |
| limits on, added p99 over pass-through | ${run.e2e.addedP99Us.toFixed(1)} µs | | |
| noise floor: p50 gap between the two pass-through processes | ${run.e2e.noiseFloorP50Us.toFixed(1)} µs | | |

| target | p50 ms | p99 ms | samples |
|---|---|---|---|
${run.e2e.targets.map(row).join('\n')}`
}

main().catch((e) => {
  process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`)
  process.exit(1)
})
