import { ConfigCompileError, ConfigCompileErrors } from '../../config/errors.js'
import type { FilterFactory } from '../../chain/types.js'
import { createTextNormalizer } from '../../cache/normalize-text.js'
import { compilePathPattern, type PathMatcher } from '../../http/path-pattern.js'
import type { Ports } from '../../ports.js'
import { createCacheFilter, type CompiledRoute } from './filter.js'
import { cacheSchema, type CacheConfig } from './schema.js'

/** `spec.cache`: response caching per route, keyed per scope, replayed through every filter. */
export const cacheFactory: FilterFactory<CacheConfig, Ports> = {
  name: 'cache',
  schema: cacheSchema,
  compile(config, ports) {
    const errors: ConfigCompileError[] = []
    const names = new Set<string>()
    const routes: CompiledRoute[] = config.routes.map((c, i) => {
      const name = c.name ?? `route-${i}`
      if (names.has(name)) errors.push(new ConfigCompileError(['routes', i, 'name'], `cache route ${JSON.stringify(name)} is defined twice`))
      names.add(name)
      const paths: PathMatcher[] = []
      c.match.paths.forEach((p, j) => {
        const m = compilePathPattern(p, false)
        if (m.ok) paths.push(m.matcher)
        else errors.push(new ConfigCompileError(['routes', i, 'match', 'paths', j], m.message))
      })
      return { name, config: c, paths, methods: new Set(c.match.methods), key: { normalize: createTextNormalizer(c.normalize), ignoreFields: new Set(c.ignoreFields) } }
    })
    if (errors.length > 0) throw new ConfigCompileErrors(errors)
    return createCacheFilter(`v${config.keyVersion}`, routes, ports)
  },
}
