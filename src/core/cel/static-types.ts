/**
 * The types the load-time checker reasons with. `dyn` means "not known before evaluation" and
 * is compatible with everything: the checker only rejects what can never work.
 */
import type { CelType } from '@bufbuild/cel'

export type ScalarKind = 'dyn' | 'bool' | 'int' | 'uint' | 'double' | 'string' | 'bytes' | 'null' | 'timestamp' | 'duration' | 'type'

export type StaticType =
  | { readonly kind: ScalarKind }
  | { readonly kind: 'list'; readonly elem: StaticType }
  | { readonly kind: 'map'; readonly key: StaticType; readonly value: StaticType }
  /** A closed set of named fields (principal, request, source); a map at run time. */
  | { readonly kind: 'record'; readonly name: string; readonly fields: ReadonlyMap<string, StaticType> }

const scalar = <K extends ScalarKind>(kind: K): { readonly kind: K } => ({ kind })

export const DYN = scalar('dyn')
export const BOOL = scalar('bool')
export const INT = scalar('int')
export const UINT = scalar('uint')
export const DOUBLE = scalar('double')
export const STRING = scalar('string')
export const BYTES = scalar('bytes')
export const NULL = scalar('null')
export const TIMESTAMP = scalar('timestamp')
export const DURATION = scalar('duration')
export const TYPE = scalar('type')

const SCALARS: ReadonlyMap<string, StaticType> = new Map<string, StaticType>([
  ['dyn', DYN],
  ['bool', BOOL],
  ['int', INT],
  ['uint', UINT],
  ['double', DOUBLE],
  ['string', STRING],
  ['bytes', BYTES],
  ['null_type', NULL],
  ['type', TYPE],
  ['google.protobuf.Timestamp', TIMESTAMP],
  ['google.protobuf.Duration', DURATION],
])

export const listOf = (elem: StaticType): StaticType => ({ kind: 'list', elem })
export const mapOf = (key: StaticType, value: StaticType): StaticType => ({ kind: 'map', key, value })
export const record = (name: string, fields: Record<string, StaticType>): StaticType => ({ kind: 'record', name, fields: new Map(Object.entries(fields)) })

/** Identifiers that name types, as in `type(x) == string`. */
export const TYPE_NAMES: ReadonlySet<string> = new Set(['bool', 'int', 'uint', 'double', 'string', 'bytes', 'list', 'map', 'null_type', 'type', 'dyn'])

/** The library's signature types in checker terms; message types other than the well-known two are dyn. */
export function fromCelType(t: CelType): StaticType {
  switch (t.kind) {
    case 'list':
      return listOf(fromCelType(t.element))
    case 'map':
      return mapOf(fromCelType(t.key), fromCelType(t.value))
    default:
      return SCALARS.get(t.name) ?? DYN
  }
}

const isNumeric = (t: StaticType): boolean => t.kind === 'int' || t.kind === 'uint' || t.kind === 'double'

export function sameType(a: StaticType, b: StaticType): boolean {
  if (a.kind !== b.kind) return false
  switch (a.kind) {
    case 'list':
      return sameType(a.elem, (b as typeof a).elem)
    case 'map':
      return sameType(a.key, (b as typeof a).key) && sameType(a.value, (b as typeof a).value)
    case 'record':
      return a.name === (b as typeof a).name
    default:
      return true
  }
}

/** The type of a value that is either an `a` or a `b`. */
export function join(a: StaticType, b: StaticType): StaticType {
  return sameType(a, b) ? a : DYN
}

/** Whether a value of type `arg` can be passed where `param` is expected. */
export function assignable(arg: StaticType, param: StaticType): boolean {
  if (arg.kind === 'dyn' || param.kind === 'dyn') return true
  switch (param.kind) {
    case 'list':
      return arg.kind === 'list' && assignable(arg.elem, param.elem)
    case 'map':
      if (arg.kind === 'record') return assignable(STRING, param.key)
      return arg.kind === 'map' && assignable(arg.key, param.key) && assignable(arg.value, param.value)
    case 'record':
      return arg.kind === 'record' && arg.name === param.name
    default:
      return arg.kind === param.kind
  }
}

/** Whether `==` between an `a` and a `b` can ever be true (CEL compares numbers across int, uint and double). */
export function comparable(a: StaticType, b: StaticType): boolean {
  if (a.kind === 'dyn' || b.kind === 'dyn') return true
  if (isNumeric(a) && isNumeric(b)) return true
  if (a.kind === 'record' || b.kind === 'record') {
    const other = a.kind === 'record' ? b : a
    return other.kind === 'map' || (other.kind === 'record' && sameType(a, b))
  }
  if (a.kind !== b.kind) return false
  if (a.kind === 'list') return comparable(a.elem, (b as typeof a).elem)
  if (a.kind === 'map') return comparable(a.key, (b as typeof a).key) && comparable(a.value, (b as typeof a).value)
  return true
}

export const mayBeBool = (t: StaticType): boolean => t.kind === 'bool' || t.kind === 'dyn'

/** How an operator reads a type: "a string", "a list of string", "the principal". */
export function describe(t: StaticType): string {
  switch (t.kind) {
    case 'dyn':
      return 'a value of any type'
    case 'int':
      return 'an int'
    case 'uint':
      return 'a uint'
    case 'null':
      return 'null'
    case 'list':
      return `a list of ${bare(t.elem)}`
    case 'map':
      return `a map from ${bare(t.key)} to ${bare(t.value)}`
    case 'record':
      return `the ${t.name} record`
    default:
      return `a ${t.kind}`
  }
}

function bare(t: StaticType): string {
  switch (t.kind) {
    case 'dyn':
      return 'any'
    case 'list':
      return `list of ${bare(t.elem)}`
    case 'map':
      return `map from ${bare(t.key)} to ${bare(t.value)}`
    case 'record':
      return t.name
    default:
      return t.kind
  }
}

/** Signature notation for messages: "(string, int)". */
export function signature(types: readonly StaticType[]): string {
  return `(${types.map(bare).join(', ')})`
}
