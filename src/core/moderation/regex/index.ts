export { compileRegexes, type CompileOptions, type RegexRule } from './compile.js'
export type { TrackRuns } from './runs.js'
export { validateRegexRule, MAX_MATCH_LENGTH_LIMIT, MAX_PATTERN_LENGTH, type RegexFlags, type RegexValidation } from './validate.js'
export { regexStats, resetRegexStats, rescanAmplification } from './stats.js'
