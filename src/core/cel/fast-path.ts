/**
 * A direct evaluator for the conditions policies mostly hold (fields compared with literals,
 * `in`, `has`, `&&`/`||`/`!`, string tests, time of day, all/exists over a list), compiled to
 * closures over the plain activation. The library's interpreter resolves names, wraps values
 * and dispatches overloads on every call (1–10 µs per condition); this takes ~0.1–0.4 µs.
 *
 * It gives an answer only where it is sure to give the library's: anything else it meets at run
 * time (a field that is not set, a null, a list compared with ==, a type that differs from the
 * usual one, an object that is not plain data) yields `undefined` and the caller evaluates with
 * the library, which produces the result or the error. Expressions outside the subset are not
 * compiled at all. test/core/cel/fast-path.test.ts holds the two to agreement on random input.
 */
import type { parse } from '@bufbuild/cel'
import type { CelActivation } from './activation.js'
import { wallField, type WallField } from './civil-time.js'
import { compileRegex } from './regex-cache.js'
import { TIME_ZONE_FIELDS } from './time-accessors.js'
import { timeZone, type TimeZone } from './time-zone.js'

type ParsedExpr = ReturnType<typeof parse>
type Expr = ParsedExpr['expr']

/** The library must decide (an error, or a value this evaluator does not model). */
const UNSURE: unique symbol = Symbol('unsure')
type Node = (a: CelActivation) => unknown

export type FastProgram = (a: CelActivation) => boolean | undefined

export function compileFastPath(parsed: ParsedExpr): FastProgram | undefined {
  const root = new FastCompiler(parsed.sourceInfo?.macroCalls ?? {}).compile(parsed.expr)
  if (root === undefined) return undefined
  return (a) => {
    const v = root(a)
    return v === true || v === false ? v : undefined
  }
}

const isPrimitive = (v: unknown): v is string | number | boolean => typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean'

function isRecord(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false
  const proto = Object.getPrototypeOf(v) as unknown
  return proto === Object.prototype || proto === null
}

/** A field as the library sees it; null, undefined and non-JSON values are left to the library. */
function field(v: unknown, name: string): unknown {
  if (!isRecord(v) || !Object.hasOwn(v, name)) return UNSURE
  const x = v[name]
  return isPrimitive(x) || Array.isArray(x) || isRecord(x) ? x : UNSURE
}

function presence(v: unknown, name: string): unknown {
  if (!isRecord(v)) return UNSURE
  if (!Object.hasOwn(v, name)) return false
  const x = v[name]
  return x === undefined ? false : x === null ? UNSURE : true
}

/** The value of a macro's iteration variable while its predicate runs (evaluation is synchronous). */
interface Cell {
  value: unknown
}

class FastCompiler {
  private readonly scopes: Map<string, Cell>[] = []

  constructor(private readonly macroCalls: Readonly<Record<string, Expr>>) {}

  compile(e: Expr): Node | undefined {
    const k = e.exprKind
    switch (k.case) {
      case 'constExpr': {
        const c = k.value.constantKind
        let v: unknown
        if (c.case === 'boolValue' || c.case === 'stringValue' || c.case === 'doubleValue') v = c.value
        else if (c.case === 'int64Value' && c.value >= BigInt(Number.MIN_SAFE_INTEGER) && c.value <= BigInt(Number.MAX_SAFE_INTEGER)) v = Number(c.value)
        else return undefined
        return () => v
      }
      case 'identExpr': {
        const name = k.value.name
        for (let i = this.scopes.length - 1; i >= 0; i--) {
          const cell = this.scopes[i]!.get(name)
          if (cell !== undefined) return () => cell.value
        }
        if (name === 'principal') return (a) => a.principal
        if (name === 'request') return (a) => a.request
        if (name === 'source') return (a) => a.source
        if (name === 'time') return (a) => a.time
        return undefined
      }
      case 'selectExpr': {
        const operand = this.compile(k.value.operand!)
        if (operand === undefined) return undefined
        const name = k.value.field
        return k.value.testOnly ? (a) => presence(operand(a), name) : (a) => field(operand(a), name)
      }
      case 'listExpr': {
        if (k.value.optionalIndices.length > 0) return undefined
        const items = this.compileAll(k.value.elements)
        if (items === undefined) return undefined
        if (k.value.elements.every((x) => x.exprKind.case === 'constExpr')) {
          // Read-only from here on, so one array serves every evaluation.
          const constant = items.map((item) => item(undefined as unknown as CelActivation))
          return () => constant
        }
        return (a) => {
          const out: unknown[] = []
          for (const item of items) {
            const v = item(a)
            if (v === UNSURE) return UNSURE
            out.push(v)
          }
          return out
        }
      }
      case 'callExpr':
        return this.compileCall(k.value.function, k.value.target, k.value.args)
      case 'comprehensionExpr':
        return this.compileQuantifier(e, k.value)
      default:
        return undefined
    }
  }

  /**
   * all(), exists() and exists_one() over a list, with CEL's rules for errors: a true (exists) or
   * a false (all) decides whatever the other elements give.
   */
  private compileQuantifier(e: Expr, c: Extract<Expr['exprKind'], { case: 'comprehensionExpr' }>['value']): Node | undefined {
    const call = this.macroCalls[e.id.toString()]?.exprKind
    if (call?.case !== 'callExpr' || call.value.args.length !== 2 || c.iterVar2 !== '') return undefined
    const quantifier = call.value.function
    if (quantifier !== 'all' && quantifier !== 'exists' && quantifier !== 'exists_one') return undefined
    const range = this.compile(c.iterRange!)
    const cell: Cell = { value: undefined }
    this.scopes.push(new Map([[c.iterVar, cell]]))
    const predicate = this.compile(call.value.args[1]!)
    this.scopes.pop()
    if (range === undefined || predicate === undefined) return undefined
    return (a) => {
      const list = range(a)
      if (!Array.isArray(list)) return UNSURE
      let unsure = false
      let trues = 0
      for (const item of list) {
        // An element the library cannot represent fails its iteration.
        if (!isPrimitive(item) && !Array.isArray(item) && !isRecord(item)) return UNSURE
        cell.value = item
        const v = predicate(a)
        if (v === true) {
          if (quantifier === 'exists') return true
          trues++
        } else if (v === false) {
          if (quantifier === 'all') return false
        } else if (quantifier === 'exists_one') {
          return UNSURE
        } else {
          unsure = true
        }
      }
      if (unsure) return UNSURE
      return quantifier === 'exists' ? false : quantifier === 'all' ? true : trues === 1
    }
  }

  private compileAll(es: readonly Expr[]): Node[] | undefined {
    const out: Node[] = []
    for (const e of es) {
      const n = this.compile(e)
      if (n === undefined) return undefined
      out.push(n)
    }
    return out
  }

  private compileCall(fn: string, targetExpr: Expr | undefined, argExprs: readonly Expr[]): Node | undefined {
    const target = targetExpr === undefined ? undefined : this.compile(targetExpr)
    if (targetExpr !== undefined && target === undefined) return undefined
    const args = this.compileAll(argExprs)
    if (args === undefined) return undefined
    const [x, y, z] = args
    if (target === undefined) {
      switch (fn) {
        case '_&&_':
          // false on either side decides, whatever the other side is (CEL's commutative and).
          return (a) => {
            const l = x!(a)
            if (l === false) return false
            const r = y!(a)
            if (r === false) return false
            return l === true && r === true ? true : UNSURE
          }
        case '_||_':
          return (a) => {
            const l = x!(a)
            if (l === true) return true
            const r = y!(a)
            if (r === true) return true
            return l === false && r === false ? false : UNSURE
          }
        case '!_':
          return (a) => {
            const v = x!(a)
            return typeof v === 'boolean' ? !v : UNSURE
          }
        case '_?_:_':
          return (a) => {
            const c = x!(a)
            return c === true ? y!(a) : c === false ? z!(a) : UNSURE
          }
        case '_==_':
        case '_!=_': {
          const negate = fn === '_!=_'
          return (a) => {
            const l = x!(a)
            const r = y!(a)
            // Different scalar types are unequal in CEL; lists and maps are left to the library.
            if (!isPrimitive(l) || !isPrimitive(r)) return UNSURE
            return (l === r) !== negate
          }
        }
        case '_<_':
          return ordering(x!, y!, (c) => c < 0)
        case '_<=_':
          return ordering(x!, y!, (c) => c <= 0)
        case '_>_':
          return ordering(x!, y!, (c) => c > 0)
        case '_>=_':
          return ordering(x!, y!, (c) => c >= 0)
        case '@in':
          return (a) => membership(x!(a), y!(a))
        case '_[_]':
          return (a) => {
            const key = y!(a)
            return typeof key === 'string' ? field(x!(a), key) : UNSURE
          }
        case 'size':
          return args.length === 1 ? (a) => size(x!(a)) : undefined
        default:
          return undefined
      }
    }
    switch (fn) {
      case 'startsWith':
        return stringTest(target, x, args.length, (s, p) => s.startsWith(p))
      case 'endsWith':
        return stringTest(target, x, args.length, (s, p) => s.endsWith(p))
      case 'contains':
        return stringTest(target, x, args.length, (s, p) => s.includes(p))
      case 'matches':
        return stringTest(target, x, args.length, (s, p) => {
          try {
            return compileRegex(p).test(s)
          } catch {
            return UNSURE
          }
        })
      case 'size':
        return args.length === 0 ? (a) => size(target(a)) : undefined
    }
    const wall = TIME_ZONE_FIELDS.get(fn)
    if (wall === undefined || args.length > 1) return undefined
    return timeAccessor(target, x, wall)
  }
}

function ordering(x: Node, y: Node, test: (c: number) => boolean): Node {
  return (a) => {
    const l = x(a)
    const r = y(a)
    // As the library does: numbers across int and double, strings by UTF-16 code units.
    if ((typeof l === 'number' && typeof r === 'number') || (typeof l === 'string' && typeof r === 'string')) {
      return test(l < r ? -1 : l > r ? 1 : l === r ? 0 : Number.NaN)
    }
    return UNSURE
  }
}

function membership(v: unknown, collection: unknown): unknown {
  if (v === UNSURE || collection === UNSURE) return UNSURE
  if (Array.isArray(collection)) {
    if (!isPrimitive(v)) return UNSURE
    for (const item of collection) {
      if (item === v) return true
      if (!isPrimitive(item)) return UNSURE
    }
    return false
  }
  if (typeof v !== 'string') return UNSURE
  return presence(collection, v)
}

function size(v: unknown): unknown {
  if (Array.isArray(v)) return v.length
  if (typeof v !== 'string') return UNSURE
  // Code points, as CEL counts them; a lone surrogate counts as one.
  let n = 0
  for (let i = 0; i < v.length; i++, n++) {
    const c = v.charCodeAt(i)
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < v.length) {
      const d = v.charCodeAt(i + 1)
      if (d >= 0xdc00 && d <= 0xdfff) i++
    }
  }
  return n
}

function stringTest(target: Node, arg: Node | undefined, arity: number, test: (s: string, p: string) => unknown): Node | undefined {
  if (arity !== 1) return undefined
  return (a) => {
    const s = target(a)
    const p = arg!(a)
    return typeof s === 'string' && typeof p === 'string' ? test(s, p) : UNSURE
  }
}

function timeAccessor(target: Node, zoneArg: Node | undefined, wall: WallField): Node {
  return (a) => {
    const t = target(a)
    if (!(t instanceof Date)) return UNSURE
    const ms = t.getTime()
    if (Number.isNaN(ms)) return UNSURE
    if (zoneArg === undefined) return wallField(ms, wall)
    const name = zoneArg(a)
    const zone: TimeZone | undefined = typeof name === 'string' ? timeZone(name) : undefined
    return zone === undefined ? UNSURE : wallField(ms + zone.offsetAt(ms), wall)
  }
}
