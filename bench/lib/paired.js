// @ts-check
// End to end against pass-through, with two processes of each kind: two identical processes
// differ by tens of µs at p50 on a shared 2-core machine (placement, JIT), as much as the
// targets we measure, so the difference between the kinds is read on pooled samples and the
// pass-through pair's own gap is reported as the noise floor. Rounds are interleaved, so drift in
// the machine's speed hits every target alike.
import { Pool } from 'undici'
import { percentile } from './stats.js'
import { startChaperone } from './targets.js'

const hr = process.hrtime.bigint
const CHAT_BODY = '{"model":"demo","messages":[{"role":"user","content":"ping"}]}'

/**
 * @param {{ bin: string, tmp: string, upstream: { port: number, target: { name: string, origin: string, pids: number[] } }, name: string,
 *   files: Record<string, string>, headers?: Record<string, string>, rounds: number, requestsPerRound: number, log: (line: string) => void }} o
 */
export async function pairedEndToEnd(o) {
  const targets = [
    o.upstream.target,
    (await startChaperone(o.bin, o.tmp, o.upstream.port)).target,
    (await startChaperone(o.bin, o.tmp, o.upstream.port, { name: 'chaperone-b' })).target,
    (await startChaperone(o.bin, o.tmp, o.upstream.port, { name: o.name, files: o.files })).target,
    (await startChaperone(o.bin, o.tmp, o.upstream.port, { name: `${o.name}-b`, files: o.files })).target,
  ]
  const headers = o.headers ?? {}
  /** @type {Record<string, number[]>} */
  const lat = Object.fromEntries(targets.map((t) => [t.name, []]))
  for (const t of targets) await sequentialChat(t.origin, 200, headers)
  for (let round = 1; round <= o.rounds; round++) {
    for (const t of targets) {
      const r = await sequentialChat(t.origin, o.requestsPerRound, headers)
      lat[t.name]?.push(...r)
      o.log(`  round ${round}/${o.rounds} ${t.name.padEnd(12)} p50 ${percentile(r, 50).toFixed(3)} ms p99 ${percentile(r, 99).toFixed(3)} ms`)
    }
  }
  /** @type {Record<string, { p50Ms: number, p99Ms: number, samples: number }>} */
  const summary = {}
  for (const t of targets) summary[t.name] = { p50Ms: percentile(lat[t.name] ?? [], 50), p99Ms: percentile(lat[t.name] ?? [], 99), samples: lat[t.name]?.length ?? 0 }
  const pooled = (/** @type {string[]} */ names) => names.flatMap((n) => lat[n] ?? [])
  const pass = pooled(['chaperone', 'chaperone-b'])
  const on = pooled([o.name, `${o.name}-b`])
  return {
    targets: targets.map((t) => t.name),
    summary,
    addedP50Us: (percentile(on, 50) - percentile(pass, 50)) * 1000,
    addedP99Us: (percentile(on, 99) - percentile(pass, 99)) * 1000,
    noiseFloorP50Us: Math.abs((summary.chaperone?.p50Ms ?? 0) - (summary['chaperone-b']?.p50Ms ?? 0)) * 1000,
  }
}

/** Sequential chat completions on one keep-alive connection; every reply must be 200. @param {string} origin @param {number} n @param {Record<string, string>} headers */
export async function sequentialChat(origin, n, headers) {
  const p = new Pool(origin, { connections: 1, pipelining: 1 })
  const out = []
  try {
    for (let i = 0; i < n; i++) {
      const t0 = hr()
      const { statusCode, body } = await p.request({ path: '/v1/chat/completions', method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: CHAT_BODY })
      await body.arrayBuffer()
      if (statusCode !== 200) throw new Error(`${origin}: HTTP ${statusCode}`)
      out.push(Number(hr() - t0) / 1e6)
    }
  } finally {
    await p.close()
  }
  return out
}
