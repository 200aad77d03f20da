/**
 * The load-time checker. @bufbuild/cel has no type checker yet (its `check` handles literals and
 * identifiers only), so this one infers types over the parsed tree from the declared variables
 * and the environment's function signatures, and rejects what can never work: unknown
 * variables, fields, functions and time zones, invalid regular expressions, operators applied
 * to the wrong types, comparisons that are never true, and a result that cannot be a bool.
 * Values read from claims, bodies and literals of mixed types are `dyn` and checked at run time.
 */
import type { parse } from '@bufbuild/cel'
import { literalArgumentProblem } from './literal-arguments.js'
import { joinAll, resolveOverload, type OverloadTable } from './overloads.js'
import { focusOffset } from './source-position.js'
import {
  assignable,
  BOOL,
  BYTES,
  comparable,
  describe,
  DOUBLE,
  DURATION,
  DYN,
  INT,
  join,
  listOf,
  mapOf,
  mayBeBool,
  NULL,
  STRING,
  TIMESTAMP,
  TYPE,
  TYPE_NAMES,
  UINT,
  type StaticType,
} from './static-types.js'
import { didYouMean } from './suggest.js'
import { isVariableName, VARIABLE_TYPES, type CelVariableName } from './variables.js'

type ParsedExpr = ReturnType<typeof parse>
type Expr = ParsedExpr['expr']
type Kind<C extends string> = Extract<Expr['exprKind'], { case: C }>['value']
type SourceInfo = NonNullable<ParsedExpr['sourceInfo']>

export interface CheckedCondition {
  readonly variables: ReadonlySet<CelVariableName>
  /** Whether evaluation may read `request.body` (false lets the caller skip decoding it). */
  readonly readsRequestBody: boolean
  /** The `request` fields it reads by name; '*' when the whole request escapes into the expression. */
  readonly requestFields: ReadonlySet<string>
  /**
   * By expression id, what a "not found" error there means in the operator's terms
   * ("principal.tier is not set; test it first with has(principal.tier)") and where it is.
   */
  readonly missingNotes: ReadonlyMap<string, MissingNote>
}

export interface MissingNote {
  readonly offset: number
  readonly text: string
}

export type CheckResult = ({ ok: true } & CheckedCondition) | { ok: false; offset: number; message: string }

const PREDICATE_MACROS: ReadonlySet<string> = new Set(['all', 'exists', 'exists_one', 'filter'])

class CheckFailure {
  constructor(
    readonly offset: number,
    readonly message: string,
  ) {}
}

class Checker {
  private readonly scopes: Map<string, StaticType>[] = []
  readonly variables = new Set<CelVariableName>()
  /** Source path of field and index accesses by expression id (`principal.tier`, `request.headers["x"]`). */
  private readonly paths = new Map<string, string>()
  readonly missingNotes = new Map<string, MissingNote>()
  readsRequestBody = false
  readonly requestFields = new Set<string>()

  constructor(
    private readonly source: string,
    private readonly info: SourceInfo | undefined,
    private readonly overloads: OverloadTable,
  ) {}

  offsetOf(e: Expr): number {
    return focusOffset(this.source, this.info?.positions[e.id.toString()] ?? 0)
  }

  fail(e: Expr, message: string): never {
    throw new CheckFailure(this.offsetOf(e), message)
  }

  typeOf(e: Expr): StaticType {
    const k = e.exprKind
    switch (k.case) {
      case 'constExpr': {
        const c = k.value.constantKind
        if ((c.case === 'int64Value' && (c.value < INT64_MIN || c.value > INT64_MAX)) || (c.case === 'uint64Value' && c.value > UINT64_MAX)) {
          return this.fail(e, 'this integer is out of range (64 bits)')
        }
        return constantType(k.value)
      }
      case 'identExpr':
        return this.ident(e, k.value.name)
      case 'selectExpr':
        return this.select(e, k.value)
      case 'callExpr':
        return this.call(e, k.value)
      case 'listExpr':
        return listOf(joinAll(k.value.elements.map((x) => this.typeOf(x))))
      case 'structExpr':
        return this.struct(e, k.value)
      case 'comprehensionExpr':
        return this.comprehension(e, k.value)
      default:
        return this.fail(e, 'unsupported expression')
    }
  }

  private ident(e: Expr, name: string): StaticType {
    for (let i = this.scopes.length - 1; i >= 0; i--) {
      const t = this.scopes[i]!.get(name)
      if (t !== undefined) return t
    }
    const global = name.startsWith('.') ? name.slice(1) : name
    if (isVariableName(global)) {
      this.variables.add(global)
      // The whole request escapes into an expression: it may read the body.
      if (global === 'request') {
        this.readsRequestBody = true
        this.requestFields.add('*')
      }
      return VARIABLE_TYPES.get(global)!
    }
    if (TYPE_NAMES.has(name)) return TYPE
    return this.fail(e, `unknown variable "${name}"${didYouMean(name, VARIABLE_TYPES.keys())} (the variables are ${[...VARIABLE_TYPES.keys()].join(', ')})`)
  }

  private isGlobal(e: Expr, name: string): boolean {
    return e.exprKind.case === 'identExpr' && e.exprKind.value.name === name && !this.scopes.some((s) => s.has(name))
  }

  /** `request` read through one field or index, which tells whether the body is read. */
  private requestRecord(): StaticType {
    this.variables.add('request')
    return VARIABLE_TYPES.get('request')!
  }

  private select(e: Expr, s: Kind<'selectExpr'>): StaticType {
    const operand = s.operand!
    let t: StaticType
    if (this.isGlobal(operand, 'request')) {
      if (s.field === 'body') this.readsRequestBody = true
      this.requestFields.add(s.field)
      t = this.requestRecord()
    } else {
      t = this.typeOf(operand)
    }
    const field = this.fieldType(e, t, s.field)
    if (s.testOnly) return BOOL
    const base = this.pathOf(operand)
    if (base !== undefined) {
      const path = `${base}.${s.field}`
      this.paths.set(e.id.toString(), path)
      this.missingNotes.set(e.id.toString(), { offset: this.offsetOf(e), text: `${path} is not set; test it first with has(${path})` })
    }
    return field
  }

  private fieldType(e: Expr, t: StaticType, field: string): StaticType {
    switch (t.kind) {
      case 'record': {
        const f = t.fields.get(field)
        if (f !== undefined) return f
        return this.fail(e, `${t.name} has no field "${field}"${didYouMean(field, t.fields.keys())} (its fields are ${[...t.fields.keys()].join(', ')})`)
      }
      case 'map':
        if (!assignable(STRING, t.key)) return this.fail(e, `cannot read field "${field}" of ${describe(t)}: its keys are not strings`)
        return t.value
      case 'dyn':
        return DYN
      case 'timestamp':
        return this.fail(e, `a timestamp has no field "${field}"; read its parts with methods such as time.getHours("Europe/Berlin")`)
      default:
        return this.fail(e, `cannot read field "${field}" of ${describe(t)}`)
    }
  }

  private call(e: Expr, c: Kind<'callExpr'>): StaticType {
    const args = c.args
    switch (c.function) {
      case '_&&_':
      case '_||_':
        for (const a of args) {
          const t = this.typeOf(a)
          if (!mayBeBool(t)) this.fail(a, `'${c.function === '_&&_' ? '&&' : '||'}' needs true or false on both sides, but this gives ${describe(t)}`)
        }
        return BOOL
      case '@not_strictly_false':
        this.typeOf(args[0]!)
        return BOOL
      case '_?_:_': {
        const cond = this.typeOf(args[0]!)
        if (!mayBeBool(cond)) this.fail(args[0]!, `the condition before '?' must give true or false, but gives ${describe(cond)}`)
        return join(this.typeOf(args[1]!), this.typeOf(args[2]!))
      }
      case '_==_':
      case '_!=_': {
        const a = this.typeOf(args[0]!)
        const b = this.typeOf(args[1]!)
        if (!comparable(a, b)) this.fail(e, this.neverEqual(c.function === '_==_' ? '==' : '!=', a, b, a.kind === 'null' ? args[1]! : args[0]!))
        return BOOL
      }
      case '@in':
        return this.membership(e, this.typeOf(args[0]!), args[1]!)
      case '_[_]':
        return this.index(e, args[0]!, args[1]!)
    }
    const target = c.target === undefined ? undefined : this.typeOf(c.target)
    const resolved = resolveOverload(this.overloads, c.function, target, args.map((a) => this.typeOf(a)))
    if ('problem' in resolved) return this.fail(e, resolved.problem)
    const problem = literalArgumentProblem(e, target)
    if (problem !== undefined) this.fail(args[0]!, problem)
    return resolved.type
  }

  private neverEqual(op: string, a: StaticType, b: StaticType, notNull: Expr): string {
    let hint = ''
    if (a.kind === 'null' || b.kind === 'null') hint = `; to test whether a field is set, use has(), as in has(${this.pathOf(notNull) ?? 'principal.region'})`
    else if ((a.kind === 'list' && comparable(a.elem, b)) || (b.kind === 'list' && comparable(b.elem, a))) hint = "; to test membership, use 'in', as in \"admin\" in principal.roles"
    return `'${op}' compares ${describe(a)} with ${describe(b)}, which is never equal${hint}`
  }

  private membership(e: Expr, elem: StaticType, collection: Expr): StaticType {
    const t = this.typeOf(collection)
    switch (t.kind) {
      case 'list':
        if (!comparable(elem, t.elem)) this.fail(e, `'in' looks for ${describe(elem)} in ${describe(t)}, which can never contain it`)
        break
      case 'map':
        if (!comparable(elem, t.key)) this.fail(e, `'in' looks for ${describe(elem)} among the keys of ${describe(t)}, which can never contain it`)
        break
      case 'record':
        if (!comparable(elem, STRING)) this.fail(e, `'in' looks for ${describe(elem)} among the field names of ${describe(t)}`)
        break
      case 'dyn':
        break
      default:
        this.fail(collection, `'in' needs a list or a map on its right, but this is ${describe(t)}`)
    }
    return BOOL
  }

  private pathOf(e: Expr): string | undefined {
    return e.exprKind.case === 'identExpr' ? e.exprKind.value.name : this.paths.get(e.id.toString())
  }

  /** The library reports a missing key of `a.b["k"]` at the identifier `a`. */
  private noteMissingKey(e: Expr, container: Expr, key: string): void {
    const base = this.pathOf(container)
    if (base === undefined) return
    this.paths.set(e.id.toString(), `${base}[${JSON.stringify(key)}]`)
    const note = { offset: this.offsetOf(e), text: `${base} has no key ${JSON.stringify(key)}; test it first with ${JSON.stringify(key)} in ${base}` }
    this.missingNotes.set(e.id.toString(), note)
    let root = container
    while (root.exprKind.case !== 'identExpr') {
      const k = root.exprKind
      if (k.case === 'selectExpr') root = k.value.operand!
      else if (k.case === 'callExpr' && k.value.function === '_[_]') root = k.value.args[0]!
      else return
    }
    this.missingNotes.set(root.id.toString(), note)
  }

  private index(e: Expr, container: Expr, key: Expr): StaticType {
    const c = this.isGlobal(container, 'request') ? this.requestRecord() : this.typeOf(container)
    const k = this.typeOf(key)
    const constKey = key.exprKind.case === 'constExpr' && key.exprKind.value.constantKind.case === 'stringValue' ? key.exprKind.value.constantKind.value : undefined
    if (constKey !== undefined) this.noteMissingKey(e, container, constKey)
    switch (c.kind) {
      case 'list':
        if (k.kind !== 'int' && k.kind !== 'uint' && k.kind !== 'dyn') this.fail(key, `a list is indexed by an int, not by ${describe(k)}`)
        return c.elem
      case 'map':
        if (!comparable(k, c.key)) this.fail(key, `${describe(c)} cannot have a key that is ${describe(k)}`)
        return c.value
      case 'record':
        if (c.name === 'request') {
          if (constKey === undefined || constKey === 'body') this.readsRequestBody = true
          this.requestFields.add(constKey ?? '*')
        }
        if (constKey !== undefined) return this.fieldType(key, c, constKey)
        if (!comparable(k, STRING)) this.fail(key, `the fields of ${describe(c)} are named by strings, not by ${describe(k)}`)
        return DYN
      case 'dyn':
        return DYN
      default:
        return this.fail(e, `cannot index ${describe(c)} with [ ]`)
    }
  }

  private struct(e: Expr, s: Kind<'structExpr'>): StaticType {
    if (s.messageName !== '') return this.fail(e, `creating messages ("${s.messageName}{...}") is not supported`)
    const keys: StaticType[] = []
    const values: StaticType[] = []
    for (const entry of s.entries) {
      if (entry.keyKind.case === 'mapKey') keys.push(this.typeOf(entry.keyKind.value))
      values.push(this.typeOf(entry.value!))
    }
    return mapOf(joinAll(keys), joinAll(values))
  }

  private comprehension(e: Expr, c: Kind<'comprehensionExpr'>): StaticType {
    const range = this.typeOf(c.iterRange!)
    let first: StaticType
    let second: StaticType
    switch (range.kind) {
      case 'list':
        first = c.iterVar2 === '' ? range.elem : INT
        second = range.elem
        break
      case 'map':
        first = range.key
        second = range.value
        break
      case 'record':
        first = STRING
        second = DYN
        break
      case 'dyn':
        first = DYN
        second = DYN
        break
      default:
        return this.fail(c.iterRange!, `cannot iterate over ${describe(range)}; macros such as exists() apply to lists and maps`)
    }
    const scope = new Map<string, StaticType>([[c.iterVar, first]])
    if (c.iterVar2 !== '') scope.set(c.iterVar2, second)
    this.scopes.push(scope)
    const macro = this.info?.macroCalls[e.id.toString()]
    if (macro?.exprKind.case === 'callExpr' && PREDICATE_MACROS.has(macro.exprKind.value.function)) {
      const predicate = macro.exprKind.value.args[macro.exprKind.value.args.length - 1]!
      const t = this.typeOf(predicate)
      if (!mayBeBool(t)) this.fail(predicate, `the condition of ${macro.exprKind.value.function}() must give true or false, but gives ${describe(t)}`)
    }
    scope.set(c.accuVar, this.typeOf(c.accuInit!))
    this.typeOf(c.loopCondition!)
    this.typeOf(c.loopStep!)
    const result = this.typeOf(c.result!)
    this.scopes.pop()
    return result
  }
}

const INT64_MIN = -(2n ** 63n)
const INT64_MAX = 2n ** 63n - 1n
const UINT64_MAX = 2n ** 64n - 1n

function constantType(c: Kind<'constExpr'>): StaticType {
  switch (c.constantKind.case) {
    case 'boolValue':
      return BOOL
    case 'int64Value':
      return INT
    case 'uint64Value':
      return UINT
    case 'doubleValue':
      return DOUBLE
    case 'stringValue':
      return STRING
    case 'bytesValue':
      return BYTES
    case 'nullValue':
      return NULL
    case 'durationValue':
      return DURATION
    case 'timestampValue':
      return TIMESTAMP
    default:
      return DYN
  }
}

/** Checks a parsed condition: everything it references exists and it gives a bool. */
export function checkCondition(source: string, parsed: ParsedExpr, overloads: OverloadTable): CheckResult {
  const checker = new Checker(source, parsed.sourceInfo, overloads)
  try {
    const t = checker.typeOf(parsed.expr)
    if (!mayBeBool(t)) return { ok: false, offset: 0, message: `the condition gives ${describe(t)}, but it must give true or false` }
    return { ok: true, variables: checker.variables, readsRequestBody: checker.readsRequestBody, requestFields: checker.requestFields, missingNotes: checker.missingNotes }
  } catch (e) {
    if (e instanceof CheckFailure) return { ok: false, offset: e.offset, message: e.message }
    throw e
  }
}
