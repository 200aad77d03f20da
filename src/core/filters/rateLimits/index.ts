import { ConfigCompileError, ConfigCompileErrors } from '../../config/errors.js'
import type { FilterFactory } from '../../chain/types.js'
import { compilePathPattern, type PathMatcher } from '../../http/path-pattern.js'
import type { Ports } from '../../ports.js'
import { createRateLimitFilter, type CompiledLimit } from './filter.js'
import { loadTokenizer } from '../../tokens/estimate.js'
import { rateLimitsSchema, type RateLimitsConfig } from './schema.js'

/** `spec.rateLimits`: GCRA limits per subject, tenant, ip, role, route, model or globally. */
export const rateLimitsFactory: FilterFactory<RateLimitsConfig, Ports> = {
  name: 'rateLimits',
  schema: rateLimitsSchema,
  compile(config, ports) {
    const errors: ConfigCompileError[] = []
    const seen = new Set<string>()
    const limits: CompiledLimit[] = config.map((c, i) => {
      if (seen.has(c.name)) errors.push(new ConfigCompileError([i, 'name'], `limit ${JSON.stringify(c.name)} is defined twice`))
      seen.add(c.name)
      const paths: PathMatcher[] = []
      c.match.paths?.forEach((p, j) => {
        const m = compilePathPattern(p, false)
        if (m.ok) paths.push(m.matcher)
        else errors.push(new ConfigCompileError([i, 'match', 'paths', j], m.message))
      })
      const p = c.penalty
      return {
        config: c,
        ...(c.match.paths ? { paths } : {}),
        ...(c.match.methods ? { methods: new Set(c.match.methods) } : {}),
        ...(p ? { penalty: { threshold: p.threshold, halfLifeMs: p.halfLifeSeconds * 1000, boxMs: p.boxSeconds * 1000, maxBoxMs: p.maxBoxSeconds * 1000, strikeMemoryMs: p.strikeMemorySeconds * 1000 } } : {}),
      }
    })
    if (errors.length > 0) throw new ConfigCompileErrors(errors)
    // The tokenizer's tables are large: loaded only for a policy with a token budget (see estimate.ts).
    if (config.some((c) => c.tokens !== undefined)) void loadTokenizer()
    return createRateLimitFilter(limits, ports)
  },
}
