// @ts-check
// Streaming phases: per-event latency at low concurrency, and stalls under many concurrent streams.
import { Pool } from 'undici'
import { timedStream } from './sse-client.js'
import { mean, percentile, max } from './stats.js'

/** @param {string} origin @param {number} connections */
function pool(origin, connections) {
  return new Pool(origin, { connections, pipelining: 1, headersTimeout: 10_000, bodyTimeout: 10_000, keepAliveTimeout: 60_000 })
}

/** Generous per-stream deadline: three times the paced length plus slack for a loaded machine. */
const streamTimeout = (/** @type {number} */ deltas, /** @type {number} */ paceMs) => deltas * paceMs * 3 + 10_000

/**
 * Time to first token one stream at a time: two-delta streams, so each sample costs one pace
 * interval rather than a whole long stream, and nothing else is in flight to blur it.
 * @param {string} origin @param {{ count: number, paceMs: number, budgetMs: number }} o
 */
export async function sequentialTtft(origin, o) {
  const p = pool(origin, 1)
  /** @type {number[]} */ const ttft = []
  let errors = 0
  /** @type {string | undefined} */ let firstError
  const deadline = Date.now() + o.budgetMs
  try {
    for (let i = 0; i < o.count && Date.now() < deadline; i++) {
      const r = await timedStream(p, { deltas: 2, paceMs: o.paceMs, timeoutMs: streamTimeout(2, o.paceMs) })
      if (r.ok) ttft.push(r.ttftMs)
      else {
        errors++
        firstError ??= r.error
      }
    }
  } finally {
    await p.close()
  }
  return { ttftP50Ms: percentile(ttft, 50), ttftP99Ms: percentile(ttft, 99), streams: ttft.length, errors, firstError }
}

/**
 * Batches of `batch` streams whose starts are staggered over one pace interval, so that their
 * events interleave instead of all arriving at once and queueing behind each other.
 * @param {string} origin @param {{ streams: number, batch: number, deltas: number, paceMs: number }} o
 */
export async function streamLatency(origin, o) {
  const p = pool(origin, o.batch)
  /** @type {number[]} */ const ttft = []
  /** @type {number[]} */ const meanArrival = []
  let errors = 0
  /** @type {string | undefined} */ let firstError
  try {
    for (let started = 0; started < o.streams; started += o.batch) {
      const n = Math.min(o.batch, o.streams - started)
      const results = await Promise.all(
        Array.from({ length: n }, async (_, i) => {
          await new Promise((r) => setTimeout(r, (i * o.paceMs) / n))
          return timedStream(p, { deltas: o.deltas, paceMs: o.paceMs, timeoutMs: streamTimeout(o.deltas, o.paceMs) })
        }),
      )
      for (const r of results) {
        if (!r.ok) {
          errors++
          firstError ??= r.error
          continue
        }
        ttft.push(r.ttftMs)
        meanArrival.push(mean(r.timesMs))
      }
    }
  } finally {
    await p.close()
  }
  return { ttftP50Ms: percentile(ttft, 50), meanArrivalMs: mean(meanArrival), streams: ttft.length, errors, firstError }
}

/**
 * `n` concurrent streams, opened evenly over `rampMs` and then all running together. Opening
 * hundreds in the same millisecond would measure a connection storm and put every stream's events
 * in phase, a burst no deployment sees. A stall is a stream that waits more than `stallMs` for a
 * token, the first one included (a proxy that queues streams behind a full connection pool stalls
 * them before they start), or that does not complete.
 * @param {string} origin @param {{ n: number, deltas: number, paceMs: number, stallMs: number, rampMs: number }} o
 */
export async function concurrentStreams(origin, o) {
  const p = pool(origin, o.n)
  try {
    const results = await Promise.all(
      Array.from({ length: o.n }, async (_, i) => {
        await new Promise((r) => setTimeout(r, (i * o.rampMs) / o.n))
        return timedStream(p, { deltas: o.deltas, paceMs: o.paceMs, timeoutMs: streamTimeout(o.deltas, o.paceMs) })
      }),
    )
    const incomplete = results.filter((r) => !r.ok)
    const gaps = results.map((r) => r.maxGapMs)
    const ttfts = results.filter((r) => r.contentEvents > 0).map((r) => r.ttftMs)
    return {
      streams: o.n,
      stalls: results.filter((r) => !r.ok || r.maxGapMs > o.stallMs || r.ttftMs > o.stallMs).length,
      lateFirstToken: results.filter((r) => r.ttftMs > o.stallMs).length,
      incomplete: incomplete.length,
      firstError: incomplete[0]?.error,
      maxGapMs: max(gaps),
      p99GapMs: percentile(gaps, 99),
      ttftP50Ms: percentile(ttfts, 50),
      ttftMaxMs: max(ttfts),
    }
  } finally {
    await p.close()
  }
}
