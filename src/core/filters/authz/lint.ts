/**
 * What `chaperone validate` (and every reload) warns about without refusing the policy:
 *  - a rule that can never match (a `when` that is constant false, a path no canonical request
 *    path can have is already a load error);
 *  - a role that one rule allows and another denies, both without `when`, on every request the
 *    allow covers: the deny always wins, so the allow never admits that role.
 */
import type { ConfigWarning } from '../../chain/types.js'
import { compilePathPattern } from '../../http/path-pattern.js'
import { expandRoles, type RoleClosures } from './roles.js'
import { compileAccessRules, type CompiledRule } from './rules.js'
import type { AccessRuleConfig, AuthzConfig } from './schema.js'

export function lintAuthz(config: AuthzConfig): ConfigWarning[] {
  const access = config.access ?? []
  if (access.length === 0) return []
  const closures = expandRoles(config.roles ?? {})
  const rules = compileAccessRules(access, closures)
  const out: ConfigWarning[] = []
  for (const r of rules) {
    if (r.when && r.when.variables.size === 0 && r.when.evaluate({ principal: { roles: [], claims: {} }, request: { method: 'GET', path: '/', headers: {} }, time: new Date(0), source: { ip: '' } }) === false) {
      out.push({ path: ['access', r.index, 'when'], message: `rule ${r.name} can never match: its condition is always false` })
    }
  }
  for (const allow of rules) {
    if (allow.effect !== 'allow' || allow.when) continue
    for (const deny of rules) {
      if (deny.effect !== 'deny' || deny.when || deny.mode !== allow.mode) continue
      if (!covers(access[deny.index]!, access[allow.index]!)) continue
      for (const [i, role] of allowedRoles(allow).entries()) {
        if (!deniedFor(deny, role, closures)) continue
        const where: (string | number)[] = allow.who.kind === 'roles' ? ['access', allow.index, 'allow', 'roles', i] : ['access', allow.index, 'allow']
        out.push({ path: where, message: `${role === '*' ? 'every caller' : `role ${role}`} is allowed by rule ${allow.name} and denied by rule ${deny.name} on the same requests; the deny always wins, so ${allow.name} never admits ${role === '*' ? 'anyone' : 'it'}` })
      }
    }
  }
  return out
}

function allowedRoles(r: CompiledRule): string[] {
  return r.who.kind === 'roles' ? [...r.who.roles] : ['*']
}

/** Whether `deny` refuses every caller holding `role` ('*': every caller). */
function deniedFor(deny: CompiledRule, role: string, closures: RoleClosures): boolean {
  if (deny.who.kind === 'anyone') return true
  if (role === '*' || deny.who.kind === 'authenticated') return false
  const has = closures.get(role) ?? new Set([role])
  for (const d of deny.who.roles) if (has.has(d)) return true
  return false
}

/** Whether every request `inner` matches, `outer` matches too (conservative: false when unsure). */
function covers(outer: AccessRuleConfig, inner: AccessRuleConfig): boolean {
  const om = outer.match
  const im = inner.match
  if (om.hosts && (!im.hosts || !im.hosts.every((h) => om.hosts!.some((o) => o.toLowerCase() === h.toLowerCase())))) return false
  if (om.methods && (!im.methods || !im.methods.every((m) => om.methods!.includes(m)))) return false
  if (om.models && (!im.models || !im.models.every((m) => om.models!.some((o) => o === m || (o.endsWith('*') && m.startsWith(o.slice(0, -1))))))) return false
  if (!om.paths) return true
  if (!im.paths || (im.ignoreCase && !om.ignoreCase)) return false
  return im.paths.every((p) => om.paths!.some((o) => pathCovers(o, p, om.ignoreCase)))
}

function pathCovers(outer: string, inner: string, ignoreCase: boolean): boolean {
  const o = compilePathPattern(outer, ignoreCase)
  const i = compilePathPattern(inner, ignoreCase)
  if (!o.ok || !i.ok) return false
  if (o.canonical === i.canonical) return true
  if (i.kind === 'exact') return o.matcher.test(i.canonical)
  if (o.kind === 'prefix' && i.kind === 'prefix') return o.matcher.test(i.canonical.slice(0, -3) || '/')
  return false
}
