/**
 * Merges the `spec` of several policy documents into one, in load order (file name, then
 * document order):
 *  - lists concatenate; list items that are objects with a `name` must have unique names;
 *  - maps (z.record) merge entry by entry, and an entry defined twice is an error;
 *  - structs (z.object) merge field by field, recursively, so one file may hold `identity.jwt`
 *    and another `identity.anonymous`;
 *  - anything else (a scalar, a union, a transformed value) defined twice is an error.
 * Every error names both files. The merge works on the operator's input, not on parsed output:
 * defaults filled in by a schema would otherwise look like keys written in every file. The
 * caller parses the merged input once more to apply defaults and cross-file checks, and uses
 * `locate` to map any later error back to the file and index the operator wrote.
 */
import type { FilterFactory } from '../chain/types.js'
import { sectionSchemas } from './policy-schema.js'
import { formatPath, type ConfigError, type PathSegment } from './errors.js'
import type { Position } from './yaml.js'

/** One validated policy document's contribution. */
export interface SpecUnit {
  readonly file: string
  /** `[docIndex]` for a file with several documents, `[]` otherwise. */
  readonly prefix: readonly PathSegment[]
  readonly spec: Readonly<Record<string, unknown>>
  readonly locate?: (path: readonly PathSegment[], key?: boolean) => Position | undefined
}

/** Where, in which file, a value of the merged spec was written. `path` starts with `spec`. */
export interface Origin {
  readonly unit: SpecUnit
  readonly path: readonly PathSegment[]
}

export interface MergeResult {
  readonly spec: Record<string, unknown>
  readonly errors: ConfigError[]
  /** Origin of the merged value at `path` (relative to the merged spec, e.g. `['moderation', 'rules', 3]`). */
  locate(path: readonly PathSegment[]): Origin | undefined
  /** Files that contributed to a section, in load order. */
  filesOf(section: string): string[]
}

type Shape =
  | { kind: 'struct'; field: (key: string) => SchemaLike | undefined }
  | { kind: 'map'; value: SchemaLike | undefined }
  | { kind: 'list' }
  | { kind: 'atom' }

/** The part of zod's internals the merge reads: the definition tree of a schema. */
interface SchemaLike {
  _zod: { def: { type: string; [k: string]: unknown } }
}

export function mergeSpecs(units: readonly SpecUnit[], factories: readonly FilterFactory[]): MergeResult {
  const m = new Merger()
  const schemas = new Map(factories.flatMap((f) => sectionSchemas(f)).map(([k, s]) => [k, s as unknown as SchemaLike]))
  for (const unit of units) {
    for (const [section, value] of Object.entries(unit.spec)) {
      if (value === undefined) continue
      const files = m.sectionFiles.get(section) ?? []
      if (!files.includes(unit.file)) files.push(unit.file)
      m.sectionFiles.set(section, files)
      m.spec[section] = m.merge(schemas.get(section), m.spec[section], value, [section], unit, ['spec', section])
    }
  }
  return {
    spec: m.spec,
    errors: m.errors,
    locate: (path) => m.locate(path),
    filesOf: (section) => [...(m.sectionFiles.get(section) ?? [])],
  }
}

class Merger {
  readonly spec: Record<string, unknown> = {}
  readonly errors: ConfigError[] = []
  readonly sectionFiles = new Map<string, string[]>()
  /** Merged key-only path → origin of the subtree first written there. */
  readonly #keys = new Map<string, Origin>()
  /** Merged list path → origin of each element. */
  readonly #items = new Map<string, Origin[]>()

  merge(schema: SchemaLike | undefined, existing: unknown, incoming: unknown, at: PathSegment[], unit: SpecUnit, src: PathSegment[]): unknown {
    const shape = shapeOf(schema)
    if (existing === undefined) {
      this.#keys.set(key(at), { unit, path: src })
      if (Array.isArray(incoming) && shape.kind !== 'atom') {
        this.#items.set(key(at), incoming.map((_, i) => ({ unit, path: [...src, i] })))
        this.#checkNames(at, incoming, 0)
      }
      // Walk in, so that lists deeper in a newly written subtree get their name checks too.
      if (isPlainObject(incoming) && (shape.kind === 'struct' || shape.kind === 'map')) {
        const out: Record<string, unknown> = {}
        for (const [k, v] of Object.entries(incoming)) {
          if (v === undefined) continue
          out[k] = this.merge(shape.kind === 'map' ? shape.value : shape.field(k), undefined, v, [...at, k], unit, [...src, k])
        }
        return out
      }
      return clone(incoming)
    }
    if (Array.isArray(existing) && Array.isArray(incoming) && shape.kind !== 'atom') {
      const before = this.#itemsOf(at, existing.length)
      this.#items.set(key(at), [...before, ...incoming.map((_, i) => ({ unit, path: [...src, i] }))])
      const merged = [...existing, ...clone(incoming)]
      this.#checkNames(at, merged, existing.length)
      return merged
    }
    if (isPlainObject(existing) && isPlainObject(incoming) && (shape.kind === 'struct' || shape.kind === 'map')) {
      const out: Record<string, unknown> = { ...existing }
      for (const [k, v] of Object.entries(incoming)) {
        if (v === undefined) continue
        if (shape.kind === 'map' && out[k] !== undefined) {
          this.#conflict([...at, k], unit, [...src, k])
          continue
        }
        const child = shape.kind === 'map' ? shape.value : shape.field(k)
        out[k] = this.merge(child, out[k], v, [...at, k], unit, [...src, k])
      }
      return out
    }
    this.#conflict(at, unit, src)
    return existing
  }

  locate(path: readonly PathSegment[]): Origin | undefined {
    const firstIndex = path.findIndex((s) => typeof s === 'number')
    if (firstIndex >= 0) {
      const items = this.#items.get(key(path.slice(0, firstIndex)))
      const item = items?.[path[firstIndex] as number]
      if (item) return { unit: item.unit, path: [...item.path, ...path.slice(firstIndex + 1)] }
    }
    for (let n = path.length; n > 0; n--) {
      const o = this.#keys.get(key(path.slice(0, n)))
      if (o) return { unit: o.unit, path: [...o.path, ...path.slice(n)] }
    }
    return undefined
  }

  #itemsOf(at: PathSegment[], length: number): Origin[] {
    const known = this.#items.get(key(at))
    if (known) return known
    // The list arrived inside a larger subtree: its items sit at the same place in that file.
    const o = this.locate(at)
    if (!o) return []
    return Array.from({ length }, (_, i) => ({ unit: o.unit, path: [...o.path, i] }))
  }

  #checkNames(at: PathSegment[], list: unknown[], from: number): void {
    const seen = new Map<string, number>()
    list.forEach((item, i) => {
      if (!isPlainObject(item) || typeof item.name !== 'string') return
      const first = seen.get(item.name)
      if (first === undefined) {
        seen.set(item.name, i)
        return
      }
      // Only report duplicates introduced by the newest slice; older ones were reported already.
      if (i < from) return
      const here = this.locate([...at, i])
      const there = this.locate([...at, first])
      if (here && there) this.#error(here, ['name'], `${JSON.stringify(item.name)} ${definedIn(here, there)}`)
    })
  }

  #conflict(at: PathSegment[], unit: SpecUnit, src: PathSegment[]): void {
    const there = this.locate(at)
    const here: Origin = { unit, path: src }
    this.#error(here, [], there ? definedIn(here, there) : 'already defined')
  }

  #error(o: Origin, extra: PathSegment[], message: string): void {
    const path = [...o.path, ...extra]
    const pos = o.unit.locate?.(path, extra.length === 0)
    this.errors.push({
      file: o.unit.file,
      path: formatPath([...o.unit.prefix, ...path]),
      message,
      ...(pos ? { line: pos.line, col: pos.col } : {}),
    })
  }
}

function definedIn(here: Origin, there: Origin): string {
  if (there.unit.file !== here.unit.file) return `already defined in ${there.unit.file}`
  return `already defined at ${formatPath([...there.unit.prefix, ...there.path])}`
}

/** Reads the input side of a schema: what an operator writes. */
function shapeOf(schema: SchemaLike | undefined): Shape {
  let s = schema
  for (let guard = 0; s && guard < 64; guard++) {
    const def = s._zod.def
    switch (def.type) {
      case 'optional':
      case 'nullable':
      case 'default':
      case 'prefault':
      case 'readonly':
      case 'catch':
      case 'nonoptional':
        s = def.innerType as SchemaLike
        continue
      case 'pipe':
        s = def.in as SchemaLike
        continue
      case 'lazy':
        s = (def.getter as () => SchemaLike)()
        continue
      case 'object': {
        const shape = def.shape as Record<string, SchemaLike>
        return { kind: 'struct', field: (k) => (Object.prototype.hasOwnProperty.call(shape, k) ? shape[k] : undefined) }
      }
      case 'record':
        return { kind: 'map', value: def.valueType as SchemaLike }
      case 'array':
        return { kind: 'list' }
      default:
        return { kind: 'atom' }
    }
  }
  return { kind: 'atom' }
}

function key(path: readonly PathSegment[]): string {
  return JSON.stringify(path)
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false
  const proto = Object.getPrototypeOf(v) as unknown
  return proto === Object.prototype || proto === null
}

/** Units come from the caller's parse; the merged spec must not alias them. */
function clone<T>(v: T): T {
  return structuredClone(v)
}
