/** Shape checks and copy-on-write edits for JSON bodies of unknown shape; nothing here throws. */

export type JsonObject = Record<string, unknown>

export function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** The `model` a JSON request body asks for (rules, keys and conditions read it). */
export function modelOf(body: unknown): string | undefined {
  return isObject(body) && typeof body.model === 'string' ? body.model : undefined
}

/** Parses JSON text; undefined when it is not JSON. */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown
  } catch {
    return undefined
  }
}

/**
 * The key an array element is addressed by: its integer `index` field when it has one (OpenAI
 * streams choices and tool calls by that field, not by array position), else its position.
 */
export function keyOf(el: unknown, position: number): number {
  if (isObject(el) && Number.isSafeInteger(el.index)) return el.index as number
  return position
}

/** Position of the first element whose key is `key`, or -1. */
export function findByKey(arr: readonly unknown[], key: number): number {
  for (let i = 0; i < arr.length; i++) if (keyOf(arr[i], i) === key) return i
  return -1
}

/**
 * Returns a copy of `root` with `value` set at `path`, copying only the containers on the path
 * so that the caller's object is never mutated. Undefined when a container on the path is
 * missing or of the wrong kind; a missing object at the end of the path is created only when
 * `create` says so.
 */
export function setIn(root: unknown, path: readonly (string | number)[], value: unknown, create = false): unknown {
  if (path.length === 0) return value
  const [head, ...rest] = path as [string | number, ...(string | number)[]]
  if (typeof head === 'number') {
    if (!Array.isArray(root) || head < 0 || head >= root.length) return undefined
    const child = setIn(root[head], rest, value, create)
    if (child === undefined) return undefined
    const copy = root.slice()
    copy[head] = child
    return copy
  }
  if (!isObject(root)) return undefined
  let current = root[head]
  if (current === undefined && create && rest.length > 0 && typeof rest[0] === 'string') current = {}
  const child = setIn(current, rest, value, create)
  if (child === undefined) return undefined
  return { ...root, [head]: child }
}

/** The value at `path`, or undefined when any step is missing. */
export function getIn(root: unknown, path: readonly (string | number)[]): unknown {
  let cur = root
  for (const step of path) {
    if (typeof step === 'number') {
      if (!Array.isArray(cur)) return undefined
      cur = cur[step]
    } else {
      if (!isObject(cur)) return undefined
      cur = cur[step]
    }
  }
  return cur
}
