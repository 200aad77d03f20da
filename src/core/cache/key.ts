/**
 * The cache key of a request: SHA-256 of the canonical JSON (core/formats/canonical-json.ts) of
 * everything that determines the answer.
 *
 * What is keyed: the key version (namespace), the cache route, method, path and query, the scope
 * (kind and value, so two users never share an entry unless the route's scope says so), and
 * EVERY field of the request body except the top-level `ignoreFields` (by default user, metadata,
 * store, prompt_cache_key, safety_identifier: bookkeeping that does not change the answer). So
 * model, messages, system, temperature, top_p, tools, tool_choice, response_format, seed, stream,
 * max_tokens, n, stop and any field an API adds later all change the key; a field is left out only
 * by naming it.
 *
 * What is normalized: only prose, i.e. strings that are the value, or an element of the array
 * value, of a key named content, text, system, instructions, prompt or input, at any depth. That
 * covers OpenAI chat / completions / responses and Anthropic messages, with string content and
 * content-part arrays. The normalizer (normalize-text.ts) decides what counts as the same prose;
 * everything else, including tool arguments and schemas, is keyed verbatim.
 *
 * A missing body (undefined) is keyed as null. The body is never mutated; the walk is iterative
 * because request bodies can nest deeper than the call stack.
 */
import { createHash } from 'node:crypto'
import { canonicalJson } from '../formats/canonical-json.js'
import { isObject } from '../formats/json.js'

export interface KeyOptions {
  /** From createTextNormalizer; applied to prose fields only. */
  readonly normalize: (s: string) => string
  /** Top-level body fields left out of the key. */
  readonly ignoreFields: ReadonlySet<string>
}

export interface KeyInput {
  /** The key version, e.g. 'v1' (the policy's keyVersion): bumping it orphans every entry at once. */
  readonly namespace: string
  /** The cache route name. */
  readonly route: string
  readonly method: string
  /** The canonical path. */
  readonly path: string
  /** '' or '?…'. */
  readonly query: string
  readonly scopeKind: 'user' | 'tenant' | 'role' | 'shared'
  /** The subject, the tenant, the sorted roles joined by ',', or '' for shared. */
  readonly scopeValue: string
  /** The parsed JSON request body as forwarded. */
  readonly body: unknown
  /** Request headers the route keys on (`varyHeaders`): lower-case names, values as sent ('' when absent). */
  readonly headers?: ReadonlyArray<readonly [string, string]>
}

/** Request fields that identify or bill the caller but do not change the answer. */
export const DEFAULT_IGNORE_FIELDS: ReadonlySet<string> = new Set(['user', 'metadata', 'store', 'prompt_cache_key', 'safety_identifier'])

/** Keys whose string values (or string array elements) are prose, and so normalized. */
const TEXT_KEYS: ReadonlySet<string> = new Set(['content', 'text', 'system', 'instructions', 'prompt', 'input'])

export function cacheKey(input: KeyInput, opts: KeyOptions): { hash: string; key: string } {
  const material = {
    v: 1,
    ns: input.namespace,
    route: input.route,
    method: input.method,
    path: input.path,
    query: input.query,
    scope: [input.scopeKind, input.scopeValue],
    body: normalizeBody(input.body, opts),
    // Only present when a route keys headers, so keys of routes without them stay as they were.
    ...(input.headers && input.headers.length > 0 ? { headers: input.headers.map(([k, v]) => [k, v]) } : {}),
  }
  const hash = createHash('sha256').update(canonicalJson(material)).digest('hex')
  const key = `${input.namespace}/${input.route}/${input.scopeKind}/${encodeURIComponent(input.scopeValue)}/${hash}`
  return { hash, key }
}

/** How a value relates to a prose key: not at all, its value, or an element of its array value. */
type Prose = 0 | 1 | 2
const NOT_PROSE = 0
const PROSE_VALUE = 1
const PROSE_ELEMENT = 2

type Slot = Record<string | number, unknown>
/** A value to copy into dst[at], or (src null) the end of a container's walk. */
type Task = readonly [src: unknown, dst: Slot, at: string | number, prose: Prose] | readonly [done: object]

/**
 * A copy of the body without the ignored top-level fields, with its prose normalized. Throws a
 * TypeError on a cycle (never from JSON.parse output), rather than walking forever.
 */
export function normalizeBody(body: unknown, opts: KeyOptions): unknown {
  if (body === undefined) return null
  // Null-prototype copies: a `__proto__` field must stay a field (and so stay in the key).
  const holder: Slot = Object.create(null) as Slot
  const work: Task[] = []
  const open = new Set<object>()
  if (isObject(body)) {
    const top: Slot = Object.create(null) as Slot
    holder.v = top
    for (const k of Object.keys(body)) if (!opts.ignoreFields.has(k)) work.push([body[k], top, k, TEXT_KEYS.has(k) ? PROSE_VALUE : NOT_PROSE])
  } else work.push([body, holder, 'v', NOT_PROSE])
  while (work.length > 0) {
    const task = work.pop()!
    if (task.length === 1) {
      open.delete(task[0])
      continue
    }
    const [src, dst, at, prose] = task
    if (typeof src === 'string') dst[at] = prose === NOT_PROSE ? src : opts.normalize(src)
    else if (typeof src !== 'object' || src === null) dst[at] = src
    else {
      if (open.has(src)) throw new TypeError('cacheKey: cyclic request body')
      open.add(src)
      work.push([src])
      if (Array.isArray(src)) {
        const copy: unknown[] = new Array<unknown>(src.length)
        dst[at] = copy
        const inner = prose === PROSE_VALUE ? PROSE_ELEMENT : NOT_PROSE
        for (let i = 0; i < src.length; i++) work.push([src[i], copy as unknown as Slot, i, inner])
      } else {
        const copy: Slot = Object.create(null) as Slot
        dst[at] = copy
        const obj = src as Slot
        for (const k of Object.keys(obj)) work.push([obj[k], copy, k, TEXT_KEYS.has(k) ? PROSE_VALUE : NOT_PROSE])
      }
    }
  }
  return holder.v
}
