// @ts-check
// Turns per-round measurements into one number per target (the median of the per-round values)
// and checks Chaperone's numbers against its targets.
import { median } from './stats.js'

/** @typedef {Record<string, Record<string, any>[]>} PerTarget rounds of one phase, keyed by target name */

/** @param {Record<string, any>[]} rounds @param {string} key */
const med = (rounds, key) => median(rounds.map((r) => r[key]).filter((v) => Number.isFinite(v)))
/** @param {Record<string, any>[]} rounds @param {string} key */
const sum = (rounds, key) => rounds.reduce((s, r) => s + (r[key] ?? 0), 0)
/** @param {Record<string, any>[]} rounds @param {string} key */
const most = (rounds, key) => Math.max(...rounds.map((r) => r[key]).filter((v) => Number.isFinite(v)))

/**
 * @param {{ sequential: PerTarget, openLoop: PerTarget, throughput: PerTarget, ttft: PerTarget, streamLatency: PerTarget,
 *   concurrent: Record<string, PerTarget> }} rounds
 * @param {string[]} names
 */
export function summarize(rounds, names) {
  /** @type {Record<string, Record<string, number>>} */
  const s = {}
  for (const name of names) {
    const seq = rounds.sequential[name] ?? []
    const open = rounds.openLoop[name] ?? []
    const tput = rounds.throughput[name] ?? []
    const ttft = rounds.ttft[name] ?? []
    const lat = rounds.streamLatency[name] ?? []
    /** @type {Record<string, number>} */
    const row = {
      seqP50Ms: med(seq, 'p50Ms'),
      seqP99Ms: med(seq, 'p99Ms'),
      seqRequests: sum(seq, 'count'),
      seqErrors: sum(seq, 'errors'),
      openP50Ms: med(open, 'p50Ms'),
      openP99Ms: med(open, 'p99Ms'),
      openServiceP50Ms: med(open, 'serviceP50Ms'),
      openServiceP99Ms: med(open, 'serviceP99Ms'),
      openRequests: sum(open, 'count'),
      openErrors: sum(open, 'errors'),
      rps: med(tput, 'rps'),
      tputErrors: sum(tput, 'errors'),
      cpuSecPer1000: med(tput, 'cpuSecPer1000'),
      ttftP50Ms: med(ttft, 'ttftP50Ms'),
      ttftP99Ms: med(ttft, 'ttftP99Ms'),
      ttftStreams: sum(ttft, 'streams'),
      ttftErrors: sum(ttft, 'errors'),
      batchTtftP50Ms: med(lat, 'ttftP50Ms'),
      meanEventArrivalMs: med(lat, 'meanArrivalMs'),
      latencyStreams: sum(lat, 'streams'),
      latencyStreamErrors: sum(lat, 'errors'),
    }
    for (const [n, per] of Object.entries(rounds.concurrent)) {
      const c = per[name] ?? []
      row[`c${n}Stalls`] = sum(c, 'stalls')
      row[`c${n}Incomplete`] = sum(c, 'incomplete')
      row[`c${n}LateFirstToken`] = sum(c, 'lateFirstToken')
      row[`c${n}Streams`] = sum(c, 'streams')
      row[`c${n}MaxGapMs`] = most(c, 'maxGapMs')
      row[`c${n}TtftP50Ms`] = med(c, 'ttftP50Ms')
      row[`c${n}TtftMaxMs`] = most(c, 'ttftMaxMs')
    }
    s[name] = row
  }
  const direct = s.direct
  for (const name of names) {
    if (name === 'direct' || !direct) continue
    s[name].throughputRatio = s[name].rps / direct.rps
  }
  return s
}

/**
 * @typedef {{ target: string, value: number, limit: number, limitText: string, pass: boolean, note?: string }} Check
 * @param {Record<string, Record<string, number>>} s
 * @returns {Check[]}
 */
export function checkTargets(s) {
  const c = s.chaperone
  const d = s.direct
  if (!c || !d) return []
  // A phase with failed requests measured something other than pass-through: it cannot pass.
  const clean = (/** @type {number} */ errors) => (errors > 0 ? { note: `${errors} failed requests` } : {})
  /** @type {Check[]} */
  const checks = []
  /** @param {string} target @param {number} value @param {'≤' | '≥'} op @param {number} limit @param {string} limitText @param {number} errors */
  const add = (target, value, op, limit, limitText, errors) => {
    const within = op === '≤' ? value <= limit : value >= limit
    checks.push({ target, value, limit, limitText: `${op} ${limitText}`, pass: Number.isFinite(value) && within && errors === 0, ...clean(errors) })
  }
  add('added latency p50, concurrency 1', c.seqP50Ms - d.seqP50Ms, '≤', 0.3, '0.3 ms', c.seqErrors)
  add('added latency p99, concurrency 1', c.seqP99Ms - d.seqP99Ms, '≤', 1, '1 ms', c.seqErrors)
  add('max throughput vs direct', c.throughputRatio, '≥', 0.4, '40 %', c.tputErrors)
  add('added TTFT p50', c.ttftP50Ms - d.ttftP50Ms, '≤', 0.5, '0.5 ms', c.ttftErrors)
  add('stalls in 256 concurrent streams', c.c256Stalls, '≤', 0, '0', c.c256Incomplete)
  // Direct stalls mean the machine, not the proxy, could not keep the pace: say so beside the verdict.
  const stalls = checks[checks.length - 1]
  if (stalls && d.c256Stalls > 0) stalls.note = [stalls.note, `direct also stalled ${d.c256Stalls}`].filter(Boolean).join('; ')
  add('CPU seconds per 1,000 requests', c.cpuSecPer1000, '≤', 0.25, '0.25 s', c.tputErrors)
  return checks
}
