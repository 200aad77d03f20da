/**
 * What `chaperone validate` (and every reload) warns about without refusing the policy, read off
 * the rules as compiled (no second compile):
 *  - a rule that can never match (a `when` that is constant false, a path no canonical request
 *    path can have is already a load error);
 *  - a role that one rule allows and another denies, both without `when`, on every request the
 *    allow covers: the deny always wins, so the allow never admits that role.
 */
import type { ConfigWarning } from '../../chain/types.js'
import type { PathMatcher } from '../../http/path-pattern.js'
import type { RoleClosures } from './roles.js'
import type { CompiledRule } from './rules.js'

export function lintAuthz(rules: readonly CompiledRule[], closures: RoleClosures): ConfigWarning[] {
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
      if (!covers(deny, allow)) continue
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

type Names = { readonly exact: ReadonlySet<string>; readonly prefixes?: readonly string[]; readonly suffixes?: readonly string[] }

/** Whether every request `inner` matches, `outer` matches too (conservative: false when unsure). */
function covers(outer: CompiledRule, inner: CompiledRule): boolean {
  if (outer.hosts && (!inner.hosts || !namesCover(outer.hosts, inner.hosts))) return false
  if (outer.methods && (!inner.methods || ![...inner.methods].every((m) => outer.methods!.has(m)))) return false
  if (outer.models && (!inner.models || !namesCover(outer.models, inner.models))) return false
  if (!outer.paths) return true
  if (!inner.paths || (inner.ignoreCase && !outer.ignoreCase)) return false
  return inner.paths.every((p) => outer.paths!.some((o) => pathCovers(o, p)))
}

/** Exact names and prefix (model `gpt-4*`) or suffix (host `*.example.com`) wildcards. */
function namesCover(outer: Names, inner: Names): boolean {
  const matches = (n: string) => outer.exact.has(n) || (outer.prefixes ?? []).some((p) => n.startsWith(p)) || (outer.suffixes ?? []).some((s) => n.endsWith(s))
  return (
    [...inner.exact].every(matches) &&
    (inner.prefixes ?? []).every((p) => (outer.prefixes ?? []).some((o) => p.startsWith(o))) &&
    (inner.suffixes ?? []).every((s) => (outer.suffixes ?? []).some((o) => s.endsWith(o)))
  )
}

function pathCovers(o: PathMatcher, i: PathMatcher): boolean {
  if (o.canonical === i.canonical) return true
  if (i.kind === 'exact') return o.test(i.canonical)
  if (o.kind === 'prefix' && i.kind === 'prefix') return o.test(i.canonical.slice(0, -3) || '/')
  return false
}
