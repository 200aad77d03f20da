// @ts-check
// Non-streaming load against one origin with undici keep-alive pools. Every loop stops at a count
// and at a deadline, whichever comes first.
import { Pool } from 'undici'

export const CHAT_PATH = '/v1/chat/completions'
export const CHAT_BODY = JSON.stringify({ model: 'demo', messages: [{ role: 'user', content: 'ping' }] })
const TIMEOUT_MS = 10_000
const hr = process.hrtime.bigint

/** @param {string} origin @param {number} connections */
function pool(origin, connections) {
  return new Pool(origin, { connections, pipelining: 1, headersTimeout: TIMEOUT_MS, bodyTimeout: TIMEOUT_MS, keepAliveTimeout: 60_000 })
}

/** One chat completion, body read to its end; resolves with the status. @param {Pool} p */
async function once(p) {
  const { statusCode, body } = await p.request({ path: CHAT_PATH, method: 'POST', headers: { 'content-type': 'application/json' }, body: CHAT_BODY })
  await body.arrayBuffer()
  return statusCode
}

/** Counts failures and keeps the first reason, which is what one needs to debug a bad run. */
class Errors {
  count = 0
  /** @type {string | undefined} */ first
  /** @param {unknown} what */
  add(what) {
    this.count++
    this.first ??= typeof what === 'number' ? `HTTP ${what}` : what instanceof Error ? what.message : String(what)
  }
}

/**
 * Sequential requests on one warm keep-alive connection.
 * @param {string} origin @param {number} count @param {number} budgetMs
 */
export async function sequential(origin, count, budgetMs) {
  const p = pool(origin, 1)
  const errors = new Errors()
  const lat = new Float64Array(count)
  let n = 0
  try {
    await once(p)
    const deadline = Date.now() + budgetMs
    for (let i = 0; i < count && Date.now() < deadline; i++) {
      const t0 = hr()
      try {
        const status = await once(p)
        if (status === 200) lat[n++] = Number(hr() - t0) / 1e6
        else errors.add(status)
      } catch (err) {
        errors.add(err)
      }
    }
  } finally {
    await p.close()
  }
  return { latenciesMs: lat.subarray(0, n), errors: errors.count, firstError: errors.first }
}

/**
 * Open loop: requests leave on a fixed schedule whatever the answers do, and latency is counted
 * from the scheduled time, so a slow proxy cannot hide its queueing (coordinated omission).
 * `serviceMs` is from the actual send, for reference.
 * @param {string} origin @param {number} rate per second @param {number} seconds
 */
export async function openLoop(origin, rate, seconds, connections = 64, maxInFlight = 2000) {
  const p = pool(origin, connections)
  const errors = new Errors()
  const total = Math.round(rate * seconds)
  const latency = new Float64Array(total)
  const service = new Float64Array(total)
  let n = 0
  let inFlight = 0
  /** @type {Promise<void>[]} */
  const pending = []
  const intervalNs = 1e9 / rate
  try {
    await once(p)
    const start = hr() + 2_000_000n
    const due = (/** @type {number} */ i) => start + BigInt(Math.round(i * intervalNs))
    /** @param {bigint} scheduled */
    const fire = (scheduled) => {
      const sent = hr()
      inFlight++
      return once(p).then(
        (status) => {
          const end = hr()
          if (status !== 200) return errors.add(status)
          latency[n] = Number(end - scheduled) / 1e6
          service[n++] = Number(end - sent) / 1e6
        },
        (err) => errors.add(err),
      ).finally(() => inFlight--)
    }
    await new Promise((resolve) => {
      let i = 0
      const tick = () => {
        const now = hr()
        for (; i < total && due(i) <= now; i++) {
          if (inFlight >= maxInFlight) errors.add('dropped: too many requests in flight')
          else pending.push(fire(due(i)))
        }
        if (i >= total) return resolve(undefined)
        setTimeout(tick, Math.max(0, Number(due(i) - hr()) / 1e6))
      }
      tick()
    })
    await Promise.all(pending)
  } finally {
    await p.close()
  }
  return { latenciesMs: latency.subarray(0, n), serviceMs: service.subarray(0, n), errors: errors.count, firstError: errors.first }
}

/**
 * Closed loop: `connections` workers each send the next request as soon as the last one is done.
 * @param {string} origin @param {number} connections @param {number} seconds
 */
export async function closedLoop(origin, connections, seconds, maxRequests = 5_000_000) {
  const p = pool(origin, connections)
  const errors = new Errors()
  let completed = 0
  let started = 0
  try {
    // Opens every connection before the clock starts.
    await Promise.all(Array.from({ length: connections }, () => once(p)))
    const t0 = hr()
    const deadline = t0 + BigInt(Math.round(seconds * 1e9))
    const worker = async () => {
      while (hr() < deadline && started < maxRequests) {
        started++
        try {
          const status = await once(p)
          if (status === 200) completed++
          else errors.add(status)
        } catch (err) {
          errors.add(err)
        }
      }
    }
    await Promise.all(Array.from({ length: connections }, worker))
    const elapsed = Number(hr() - t0) / 1e9
    return { completed, requests: completed + errors.count + connections, errors: errors.count, firstError: errors.first, seconds: elapsed, rps: completed / elapsed }
  } finally {
    await p.close()
  }
}
