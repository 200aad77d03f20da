// @ts-check
// Summary statistics for latency samples. Nearest-rank percentiles: with a few hundred samples
// per round, interpolating would invent precision the data does not have.

/** @param {ArrayLike<number>} values @param {number} p in [0, 100] */
export function percentile(values, p) {
  if (values.length === 0) return NaN
  const sorted = Float64Array.from(values).sort()
  const rank = Math.ceil((p / 100) * sorted.length)
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]
}

/** The usual median (mean of the middle two for an even count): per-round values are few. @param {ArrayLike<number>} values */
export function median(values) {
  if (values.length === 0) return NaN
  const sorted = Float64Array.from(values).sort()
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

/** @param {ArrayLike<number>} values */
export function mean(values) {
  if (values.length === 0) return NaN
  let sum = 0
  for (let i = 0; i < values.length; i++) sum += values[i]
  return sum / values.length
}

/** @param {ArrayLike<number>} values */
export function max(values) {
  let m = -Infinity
  for (let i = 0; i < values.length; i++) if (values[i] > m) m = values[i]
  return values.length === 0 ? NaN : m
}

/** Nanoseconds (bigint from process.hrtime.bigint()) to milliseconds as a float. */
export function nsToMs(/** @type {bigint} */ ns) {
  return Number(ns) / 1e6
}
