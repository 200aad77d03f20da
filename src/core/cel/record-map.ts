/**
 * A read-only Map over a plain object, so that CEL sees `principal`, `request.headers` or a JSON
 * body as maps without copying them: the library's own conversion copies every plain object into
 * a new Map each time a variable is read. Nested plain objects are wrapped as they are read;
 * properties whose value is undefined do not exist (so `has()` is false for them).
 */
import { celMap, type CelInput, type CelMap, type CelUint } from '@bufbuild/cel'

type Key = bigint | string | boolean | CelUint

class RecordMap implements ReadonlyMap<Key, CelInput> {
  constructor(private readonly record: Readonly<Record<string, unknown>>) {}

  get(key: Key): CelInput | undefined {
    if (typeof key !== 'string' || !Object.hasOwn(this.record, key)) return undefined
    return celInput(this.record[key])
  }

  has(key: Key): boolean {
    return this.get(key) !== undefined
  }

  get size(): number {
    let n = 0
    for (const k in this.record) if (Object.hasOwn(this.record, k) && this.record[k] !== undefined) n++
    return n
  }

  *keys(): MapIterator<string> {
    for (const k of Object.keys(this.record)) if (this.record[k] !== undefined) yield k
  }

  *values(): MapIterator<CelInput> {
    for (const k of this.keys()) yield celInput(this.record[k])!
  }

  *entries(): MapIterator<[string, CelInput]> {
    for (const k of this.keys()) yield [k, celInput(this.record[k])!]
  }

  [Symbol.iterator](): MapIterator<[string, CelInput]> {
    return this.entries()
  }

  forEach(callback: (value: CelInput, key: Key, map: ReadonlyMap<Key, CelInput>) => void, thisArg?: unknown): void {
    for (const k of this.keys()) callback.call(thisArg, celInput(this.record[k])!, k, this)
  }
}

/** `record` as a CEL map. */
export function recordMap(record: Readonly<Record<string, unknown>>): CelMap {
  return celMap(new RecordMap(record))
}

function isPlainObject(v: object): v is Record<string, unknown> {
  const proto = Object.getPrototypeOf(v) as unknown
  return proto === Object.prototype || proto === null
}

/**
 * What the library accepts as input. Values it cannot represent (functions, class instances)
 * pass through and become an evaluation error where they are read, not before.
 */
function celInput(v: unknown): CelInput | undefined {
  if (typeof v === 'object' && v !== null && !Array.isArray(v) && isPlainObject(v)) return recordMap(v)
  return v as CelInput | undefined
}
