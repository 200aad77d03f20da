/**
 * The access decision: default deny; a rule applies when its match, its subjects and its `when`
 * all hold; a deny that applies beats any allow. Rules in `audit` mode are evaluated apart: what
 * they would change is reported, never enforced.
 */
import type { Condition } from '../../cel/index.js'
import type { CompiledRule } from './rules.js'

export interface AccessQuery {
  readonly method: string
  readonly path: string
  /** Canonical Host (core/http/canonical-host.ts); undefined without one. */
  readonly host: string | undefined
  /** The body's `model`, read only when a rule asks. */
  model(): string | undefined
  /** Effective roles (inheritance expanded). */
  readonly roles: readonly string[]
  readonly authenticated: boolean
  /** Evaluates a rule's `when`; built lazily by the caller, at most once per request. */
  condition(c: Condition, rule: CompiledRule): boolean | { error: string }
}

export interface Decision {
  readonly allow: boolean
  /** The rule that decided; undefined for the default deny. */
  readonly rule: CompiledRule | undefined
}

export function decide(rules: readonly CompiledRule[], q: AccessQuery, include: 'enforce' | 'all', onConditionError?: (rule: CompiledRule, error: string) => void): Decision {
  let allowedBy: CompiledRule | undefined
  for (const r of rules) {
    if (include === 'enforce' && r.mode === 'audit') continue
    // An allow adds nothing once one applies; only a deny can still change the outcome.
    if (r.effect === 'allow' && allowedBy) continue
    if (!appliesTo(r, q) || !matches(r, q)) continue
    if (r.when) {
      const v = q.condition(r.when, r)
      if (typeof v !== 'boolean') {
        onConditionError?.(r, v.error)
        if (!r.applyOnError) continue
      } else if (!v) continue
    }
    if (r.effect === 'deny') return { allow: false, rule: r }
    allowedBy = r
  }
  return { allow: allowedBy !== undefined, rule: allowedBy }
}

function matches(r: CompiledRule, q: AccessQuery): boolean {
  if (r.methods && !r.methods.has(q.method)) return false
  if (r.hosts) {
    const h = q.host
    if (h === undefined || (!r.hosts.exact.has(h) && !r.hosts.suffixes.some((s) => h.endsWith(s)))) return false
  }
  if (r.paths && !r.paths.some((m) => m.test(q.path))) return false
  if (r.models) {
    const model = q.model()
    if (model === undefined) return false
    if (!r.models.exact.has(model) && !r.models.prefixes.some((p) => model.startsWith(p))) return false
  }
  return true
}

function appliesTo(r: CompiledRule, q: AccessQuery): boolean {
  switch (r.who.kind) {
    case 'anyone':
      return true
    case 'authenticated':
      return q.authenticated
    case 'roles': {
      const set = r.who.roles
      for (const role of q.roles) if (set.has(role)) return true
      return false
    }
  }
}
