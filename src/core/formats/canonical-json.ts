/**
 * Canonical JSON in the manner of RFC 8785 (JCS): object keys sorted by UTF-16 code units,
 * strings and numbers printed as ECMAScript's JSON.stringify prints them (which is what JCS
 * specifies, so 1e21 is `1e+21` and -0 is `0`), no whitespace. Cache keys hash this text, so two
 * bodies that differ only in key order or spacing hash alike.
 *
 * Values that JSON cannot represent (non-finite numbers, undefined, functions, symbols, bigints)
 * throw a TypeError rather than being dropped or turned into null as JSON.stringify does: silently
 * dropping a field would let two different requests share a key. A cycle throws a TypeError too.
 *
 * The walk uses an explicit stack: request bodies are attacker-shaped and may nest far deeper than
 * the call stack allows.
 */

type Frame =
  | { readonly arr: readonly unknown[]; i: number; readonly obj?: undefined; readonly keys?: undefined }
  | { readonly obj: Record<string, unknown>; readonly keys: readonly string[]; i: number; readonly arr?: undefined }

export function canonicalJson(value: unknown): string {
  const out: string[] = []
  const stack: Frame[] = []
  const open = new Set<object>()

  /** Writes a scalar, or writes the opening bracket of a container and returns its frame. */
  const write = (raw: unknown): Frame | undefined => {
    const v = unwrap(raw)
    switch (typeof v) {
      case 'string':
      case 'boolean':
        out.push(JSON.stringify(v))
        return undefined
      case 'number':
        if (!Number.isFinite(v)) throw new TypeError(`canonicalJson: ${v} is not a JSON number`)
        out.push(JSON.stringify(v))
        return undefined
      case 'object':
        if (v === null) {
          out.push('null')
          return undefined
        }
        if (open.has(v)) throw new TypeError('canonicalJson: cyclic value')
        open.add(v)
        if (Array.isArray(v)) {
          out.push('[')
          return { arr: v, i: 0 }
        }
        out.push('{')
        // Default sort compares UTF-16 code units, exactly the JCS order.
        return { obj: v as Record<string, unknown>, keys: Object.keys(v).sort(), i: 0 }
      default:
        throw new TypeError(`canonicalJson: a ${typeof v} is not JSON`)
    }
  }

  const first = write(value)
  if (first) stack.push(first)
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!
    let child: Frame | undefined
    if (top.arr) {
      if (top.i < top.arr.length) {
        if (top.i > 0) out.push(',')
        child = write(top.arr[top.i++])
      } else {
        out.push(']')
        open.delete(top.arr)
        stack.pop()
      }
    } else {
      if (top.i < top.keys.length) {
        const k = top.keys[top.i++]!
        out.push(top.i > 1 ? ',' : '', JSON.stringify(k), ':')
        child = write(top.obj[k])
      } else {
        out.push('}')
        open.delete(top.obj)
        stack.pop()
      }
    }
    if (child) stack.push(child)
  }
  return out.join('')
}

/** toJSON() and boxed primitives, as JSON.stringify treats them. */
function unwrap(v: unknown): unknown {
  if (typeof v !== 'object' || v === null) return v
  const toJSON = (v as { toJSON?: unknown }).toJSON
  if (typeof toJSON === 'function') return toJSON.call(v) as unknown
  if (v instanceof Number || v instanceof String || v instanceof Boolean) return v.valueOf()
  return v
}
