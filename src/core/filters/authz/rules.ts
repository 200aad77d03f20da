/** Access rules compiled once per policy: path matchers, method and model sets, role sets, CEL. */
import { compileCondition, type Condition } from '../../cel/index.js'
import { ConfigCompileError, ConfigCompileErrors } from '../../config/errors.js'
import { canonicalHost } from '../../http/canonical-host.js'
import { compilePathPattern, type PathMatcher } from '../../http/path-pattern.js'
import type { RoleClosures } from './roles.js'
import type { AccessRuleConfig, Subjects } from './schema.js'

export type Who = { kind: 'roles'; roles: ReadonlySet<string> } | { kind: 'authenticated' } | { kind: 'anyone' }

export interface CompiledRule {
  readonly name: string
  readonly index: number
  readonly effect: 'allow' | 'deny'
  readonly mode: 'enforce' | 'audit'
  readonly paths?: readonly PathMatcher[]
  readonly ignoreCase: boolean
  readonly methods?: ReadonlySet<string>
  readonly hosts?: { readonly exact: ReadonlySet<string>; readonly suffixes: readonly string[] }
  readonly models?: { readonly exact: ReadonlySet<string>; readonly prefixes: readonly string[] }
  readonly who: Who
  readonly when?: Condition
  /** A `when` that fails to evaluate counts as true (the rule applies). */
  readonly applyOnError: boolean
}

export function compileAccessRules(rules: readonly AccessRuleConfig[], closures: RoleClosures): CompiledRule[] {
  const errors: ConfigCompileError[] = []
  const out: CompiledRule[] = []
  rules.forEach((r, index) => {
    const at = (...p: (string | number)[]) => ['access', index, ...p]
    const paths: PathMatcher[] = []
    r.match.paths?.forEach((p, i) => {
      const c = compilePathPattern(p, r.match.ignoreCase)
      if (c.ok) paths.push(c.matcher)
      else errors.push(new ConfigCompileError(at('match', 'paths', i), c.message))
    })
    const effect = r.deny ? 'deny' : 'allow'
    const subjects = (r.deny ?? r.allow)!
    subjects.roles?.forEach((role, i) => {
      if (!closures.has(role)) errors.push(new ConfigCompileError(at(effect, 'roles', i), `unknown role ${JSON.stringify(role)}: declare it under spec.roles`))
    })
    let when: Condition | undefined
    if (r.when !== undefined) {
      const c = compileCondition(r.when)
      if (c.ok) when = c.condition
      else errors.push(new ConfigCompileError(at('when'), c.message))
    }
    const models = r.match.models
    out.push({
      name: r.name,
      index,
      effect,
      mode: r.mode,
      ...(r.match.paths ? { paths } : {}),
      ignoreCase: r.match.ignoreCase,
      ...(r.match.methods ? { methods: new Set(r.match.methods) } : {}),
      ...(r.match.hosts ? { hosts: compileHosts(r.match.hosts) } : {}),
      ...(models
        ? {
            models: {
              exact: new Set(models.filter((m) => !m.endsWith('*'))),
              prefixes: models.filter((m) => m.endsWith('*')).map((m) => m.slice(0, -1)),
            },
          }
        : {}),
      who: whoOf(subjects),
      ...(when ? { when } : {}),
      applyOnError: r.onError ? r.onError === 'apply' : effect === 'deny',
    })
  })
  if (errors.length > 0) throw new ConfigCompileErrors(errors)
  return out
}

function compileHosts(hosts: readonly string[]): NonNullable<CompiledRule['hosts']> {
  const norm = hosts.map((h) => canonicalHost(h)!)
  return { exact: new Set(norm.filter((h) => !h.startsWith('*.'))), suffixes: norm.filter((h) => h.startsWith('*.')).map((h) => h.slice(1)) }
}

function whoOf(s: Subjects): Who {
  if (s.anyone) return { kind: 'anyone' }
  if (s.authenticated) return { kind: 'authenticated' }
  return { kind: 'roles', roles: new Set(s.roles) }
}
