/**
 * Process-wide counters of the regex scanners, for benchmarks and metrics. Rescan amplification
 * is `re2Units / streamed`: how many code units RE2 was handed per code unit of text scanned.
 */
export const regexStats = {
  /** Code units of literal view fed to regex scanners. */
  streamed: 0,
  /** Code units handed to RE2 (exec from lastIndex to the end of its input, and RE2.Set input). */
  re2Units: 0,
  execCalls: 0,
  setCalls: 0,
}

export function resetRegexStats(): void {
  regexStats.streamed = 0
  regexStats.re2Units = 0
  regexStats.execCalls = 0
  regexStats.setCalls = 0
}

export function rescanAmplification(): number {
  return regexStats.streamed === 0 ? 0 : regexStats.re2Units / regexStats.streamed
}
