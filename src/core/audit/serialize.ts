/**
 * A record's line is its canonical JSON (RFC 8785 style, formats/canonical-json.ts), so the bytes
 * on disk are the bytes hashed: `hash` is SHA-256 over the canonical JSON of the record without
 * its `hash` field. Both texts are built in one pass: the members before "hash" in key order and
 * those after it are serialized once, and the hash member is put between them.
 *
 * This is the writer's hot loop, so it relies on one property of JSON.stringify: string keys come
 * out in insertion order. An object whose keys were inserted sorted (nested ones too) therefore
 * serializes exactly as canonicalJson does (strings and numbers are printed by JSON.stringify in
 * both). Keys that look like array indexes break that (engines put them first, in numeric order),
 * as do values JSON.stringify treats its own way (toJSON, boxed values) and `__proto__`: records
 * with those take canonicalJson, the reference.
 */
import * as crypto from 'node:crypto'
import { canonicalJson } from '../formats/canonical-json.js'

export interface Sealed {
  readonly line: string
  readonly hash: string
}

/** The fields the chain sets on every record. */
export interface ChainFields {
  readonly v: number
  readonly kind: string
  readonly writer: string
  readonly seq: number
  readonly ts: string
  readonly prev: string
}

// crypto.hash (one call, no Hash object) where the runtime has it: several times faster on short input.
const oneShot = (crypto as { hash?: (algorithm: string, data: string | Uint8Array, encoding: 'hex') => string }).hash

export function sha256Hex(text: string | Uint8Array): string {
  return oneShot ? oneShot('sha256', text, 'hex') : crypto.createHash('sha256').update(text).digest('hex')
}

const HASH = 'hash'
const INDEX_LIKE = /^\d+$/
const MAX_DEPTH = 8
const CHAIN_KEYS: readonly (keyof ChainFields)[] = ['v', 'kind', 'writer', 'seq', 'ts', 'prev']
const CHAIN_SET: ReadonlySet<string> = new Set(CHAIN_KEYS)

/** Thrown inside the fast path for a value only canonicalJson may serialize. */
const SLOW = Symbol('slow path')

const plainKey = (k: string) => !INDEX_LIKE.test(k) && k !== '__proto__'

/** `v` with every object's keys inserted in canonical order; throws SLOW where that is not enough. */
function canonicalCopy(v: unknown, depth = 0): unknown {
  switch (typeof v) {
    case 'string':
    case 'boolean':
    case 'undefined':
      return v
    case 'number':
      if (!Number.isFinite(v)) throw new TypeError(`canonicalJson: ${v} is not a JSON number`)
      return v
    case 'object':
      break
    default:
      throw SLOW
  }
  if (v === null) return v
  if (depth > MAX_DEPTH) throw SLOW
  if (Array.isArray(v)) {
    const out = new Array<unknown>(v.length)
    for (let i = 0; i < v.length; i++) {
      if (v[i] === undefined) throw SLOW
      out[i] = canonicalCopy(v[i], depth + 1)
    }
    return out
  }
  const proto = Object.getPrototypeOf(v) as unknown
  if ((proto !== Object.prototype && proto !== null) || typeof (v as { toJSON?: unknown }).toJSON === 'function') throw SLOW
  const o = v as Record<string, unknown>
  const out: Record<string, unknown> = {}
  for (const k of Object.keys(o).sort()) {
    if (!plainKey(k)) throw SLOW
    const x = canonicalCopy(o[k], depth + 1)
    if (x !== undefined) out[k] = x
  }
  return out
}

/** Serializes the members before and after "hash" of a record of one shape (its set of keys). */
type ShapeWriter = (fields: Readonly<Record<string, unknown>>, chain: ChainFields, copy: (v: unknown) => unknown) => [string, string]

/**
 * One writer per shape, built once: object literals with a fixed key order get one hidden class,
 * which JSON.stringify serializes on its fast path. Keys are embedded as JSON string literals
 * (valid JavaScript), never as code. null: the shape has keys the fast path cannot order.
 */
const shapes = new Map<string, ShapeWriter | null>()
const MAX_SHAPES = 512

function compileShape(fieldKeys: readonly string[]): ShapeWriter | null {
  if (!fieldKeys.every(plainKey) || fieldKeys.includes(HASH)) return null
  const keys = [...fieldKeys.filter((k) => !CHAIN_SET.has(k)), ...CHAIN_KEYS].sort()
  const literal = (ks: string[]) => `{${ks.map((k) => `${JSON.stringify(k)}: ${CHAIN_SET.has(k) ? `c[${JSON.stringify(k)}]` : `n(f[${JSON.stringify(k)}])`}`).join(', ')}}`
  return new Function('f', 'c', 'n', `return [JSON.stringify(${literal(keys.filter((k) => k < HASH))}), JSON.stringify(${literal(keys.filter((k) => k > HASH))})]`) as ShapeWriter
}

function shapeWriter(fields: Readonly<Record<string, unknown>>): ShapeWriter | null {
  let id = ''
  for (const k in fields) id += `${k}\0`
  const w = shapes.get(id)
  if (w !== undefined) return w
  // Past the bound (a log of forged, ever-different records), the general path: no compiling.
  if (shapes.size >= MAX_SHAPES) return null
  const compiled = compileShape(Object.keys(fields))
  shapes.set(id, compiled)
  return compiled
}

const inner = (json: string): string => json.slice(1, -1)
const join = (a: string, b: string): string => (a === '' ? b : b === '' ? a : `${a},${b}`)

function seal(before: string, after: string): Sealed {
  const hash = sha256Hex(`{${join(before, after)}}`)
  return { line: `{${join(join(before, `"hash":"${hash}"`), after)}}`, hash }
}

/** The general path: every member through canonicalJson. */
function sealSlow(all: Readonly<Record<string, unknown>>): Sealed {
  const before: string[] = []
  const after: string[] = []
  for (const k of Object.keys(all).sort()) {
    if (k === HASH) throw new TypeError('sealRecord: the fields already hold a hash')
    if (all[k] !== undefined) (k < HASH ? before : after).push(`${JSON.stringify(k)}:${canonicalJson(all[k])}`)
  }
  return seal(before.join(','), after.join(','))
}

/** A record of the chain: its kind-specific `fields` and the chain's own (which win a clash). */
export function sealChained(fields: Readonly<Record<string, unknown>>, chain: ChainFields): Sealed {
  const w = shapeWriter(fields)
  if (w) {
    try {
      const [lo, hi] = w(fields, chain, canonicalCopy)
      return seal(inner(lo), inner(hi))
    } catch (err) {
      if (err !== SLOW) throw err
    }
  }
  return sealSlow({ ...fields, ...chain })
}

/** Any record (every field but `hash`); undefined values are left out, as JSON does. */
export function sealRecord(fields: Readonly<Record<string, unknown>>): Sealed {
  return sealSlow(fields)
}

/** The hash a parsed record should carry. */
export function expectedHash(record: Readonly<Record<string, unknown>>): string {
  const { hash: _hash, ...rest } = record
  return sha256Hex(canonicalJson(rest))
}
