/**
 * Role inheritance, expanded once per policy: each role maps to itself plus everything it
 * inherits, transitively. Inheritance must be a DAG; a cycle is reported at every role on it,
 * so the error names each file that contributed a link.
 */
import { ConfigCompileError, ConfigCompileErrors } from '../../config/errors.js'

export type RoleClosures = ReadonlyMap<string, ReadonlySet<string>>

export function expandRoles(roles: Readonly<Record<string, { inherits: readonly string[] }>>): RoleClosures {
  const errors: ConfigCompileError[] = []
  for (const [name, r] of Object.entries(roles)) {
    r.inherits.forEach((parent, i) => {
      if (!Object.prototype.hasOwnProperty.call(roles, parent)) errors.push(new ConfigCompileError(['roles', name, 'inherits', i], `unknown role ${JSON.stringify(parent)}`))
    })
  }
  if (errors.length > 0) throw new ConfigCompileErrors(errors)

  const closures = new Map<string, Set<string>>()
  const state = new Map<string, 'visiting' | 'done'>()
  const cycles = new Set<string>()
  const visit = (name: string, stack: string[]): Set<string> => {
    const done = closures.get(name)
    if (done) return done
    if (state.get(name) === 'visiting') {
      const cycle = [...stack.slice(stack.indexOf(name)), name]
      const key = [...cycle].slice(0, -1).sort().join('\0')
      if (!cycles.has(key)) {
        cycles.add(key)
        for (let i = 0; i < cycle.length - 1; i++) {
          const from = cycle[i]!
          const at = roles[from]!.inherits.indexOf(cycle[i + 1]!)
          errors.push(new ConfigCompileError(['roles', from, 'inherits', at], `role inheritance cycle: ${cycle.join(' → ')}`))
        }
      }
      return new Set([name])
    }
    state.set(name, 'visiting')
    const out = new Set<string>([name])
    for (const parent of roles[name]!.inherits) for (const r of visit(parent, [...stack, name])) out.add(r)
    state.set(name, 'done')
    closures.set(name, out)
    return out
  }
  for (const name of Object.keys(roles)) visit(name, [])
  if (errors.length > 0) throw new ConfigCompileErrors(errors)
  return closures
}

/**
 * A caller's effective roles: each declared role with what it inherits; a role the policy does
 * not declare is kept as is (other filters may key on it) but grants nothing through inheritance.
 */
export function effectiveRoles(tokenRoles: readonly string[], closures: RoleClosures): string[] {
  if (tokenRoles.length === 0) return []
  const out = new Set<string>()
  for (const r of tokenRoles) {
    const c = closures.get(r)
    if (c) for (const x of c) out.add(x)
    else out.add(r)
  }
  return [...out]
}
