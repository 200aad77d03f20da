/** Function signatures of the environment in checker types, and overload resolution over them. */
import type { CelFunc } from '@bufbuild/cel'
import { assignable, describe, DYN, fromCelType, join, signature, type StaticType } from './static-types.js'
import { didYouMean } from './suggest.js'

export interface Overload {
  readonly target: StaticType | undefined
  readonly args: readonly StaticType[]
  readonly result: StaticType
}

export type OverloadTable = ReadonlyMap<string, readonly Overload[]>

export function overloadTable(funcs: Iterable<CelFunc>): OverloadTable {
  const table = new Map<string, Overload[]>()
  for (const f of funcs) {
    const list = table.get(f.name) ?? []
    list.push({ target: f.target === undefined ? undefined : fromCelType(f.target), args: f.arguments.map(fromCelType), result: fromCelType(f.result) })
    table.set(f.name, list)
  }
  return table
}

const OPERATOR_NAMES: Readonly<Record<string, string>> = {
  '_+_': '+',
  '_-_': '-',
  '_*_': '*',
  '_/_': '/',
  '_%_': '%',
  '_<_': '<',
  '_<=_': '<=',
  '_>_': '>',
  '_>=_': '>=',
  '-_': '-',
  '!_': '!',
}

/** The type of a value that is any one of `types`; dyn when they differ or there are none. */
export function joinAll(types: readonly StaticType[]): StaticType {
  return types.length === 0 ? DYN : types.reduce(join)
}

/**
 * The result type of calling `name` (as a method of `target` when there is one), or what is
 * wrong with the call. Every overload that may apply contributes: their results joined.
 */
export function resolveOverload(table: OverloadTable, name: string, target: StaticType | undefined, args: readonly StaticType[]): { type: StaticType } | { problem: string } {
  if (name === 'has') return { problem: 'has() takes one field access, as in has(principal.region)' }
  const all = table.get(name)
  if (all === undefined) {
    const names = [...table.keys()].filter((n) => /^[a-z]/i.test(n))
    return { problem: `unknown ${target === undefined ? 'function' : 'method'} "${name}"${didYouMean(name, names)}` }
  }
  const sameForm = all.filter((o) => (o.target === undefined) === (target === undefined))
  if (sameForm.length === 0) {
    return { problem: target === undefined ? `"${name}" is a method: write value.${name}(...)` : `"${name}" is a function, not a method: write ${name}(value, ...)` }
  }
  const onTarget = target === undefined ? sameForm : sameForm.filter((o) => assignable(target, o.target!))
  const matching = onTarget.filter((o) => o.args.length === args.length && o.args.every((p, i) => assignable(args[i]!, p)))
  if (matching.length > 0) return { type: joinAll(matching.map((o) => o.result)) }
  const op = OPERATOR_NAMES[name]
  if (op !== undefined) {
    return { problem: args.length === 1 ? `'${op}' cannot be applied to ${describe(args[0]!)}` : `'${op}' cannot be applied to ${describe(args[0]!)} and ${describe(args[1]!)}` }
  }
  if (target !== undefined && onTarget.length === 0) {
    return { problem: `"${name}" applies to ${[...new Set(sameForm.map((o) => describe(o.target!)))].join(' or ')}, not to ${describe(target)}` }
  }
  return { problem: `"${name}" takes ${[...new Set(onTarget.map((o) => signature(o.args)))].join(' or ')}, not ${signature(args)}` }
}
