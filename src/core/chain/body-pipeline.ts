import { ChaperoneError } from '../errors.js'
import { createSseParser } from '../sse/parser.js'
import { serializeEvent } from '../sse/serializer.js'
import type { ResponseHead, ResponseTransform, ResponseUnit } from './types.js'

export interface BodyPipelineLimits {
  maxEventBytes: number
  maxJsonBodyBytes: number
}

/**
 * Carries a response body through the filters' object-mode transforms. Event streams are parsed
 * once and re-serialized once, whatever the number of transforms; JSON bodies are buffered
 * (bounded) because a JSON document can only be judged whole. Any other content type is not
 * something a transform understands, so it passes through untouched.
 */
export interface BodyPipeline {
  /** 'sse' and 'json' change the bytes, so Content-Length must go; 'raw' keeps them. */
  readonly mode: 'sse' | 'json' | 'raw'
  /** Resolves once every unit the chunk completed has been transformed and handed to `write`. */
  push(chunk: Uint8Array): Promise<void>
  end(): Promise<void>
}

export function bodyMode(head: ResponseHead): BodyPipeline['mode'] {
  if (head.status === 204 || head.status === 304) return 'raw'
  const ct = head.headers['content-type']
  const type = (Array.isArray(ct) ? ct[0] : ct)?.toLowerCase() ?? ''
  if (type.startsWith('text/event-stream')) return 'sse'
  if (type.startsWith('application/json')) return 'json'
  return 'raw'
}

/**
 * `finish` is called once when a transform emits an `end` unit: the caller closes the body and
 * aborts the upstream; every later push() and end() is then a no-op.
 */
export function createBodyPipeline(
  head: ResponseHead,
  transforms: readonly ResponseTransform[],
  limits: BodyPipelineLimits,
  write: (bytes: Uint8Array) => void,
  finish: (reason: string) => void = () => {},
): BodyPipeline {
  const mode = bodyMode(head)
  const encoder = new TextEncoder()
  let ended = false
  const emitFinal = (u: ResponseUnit): void => {
    if (u.kind === 'end') return
    write(encoder.encode(u.kind === 'sse' ? serializeEvent(u.event) : JSON.stringify(u.body)))
  }

  // Runs one unit through transforms[i..]; each emit() of stage i feeds stage i+1 in order.
  async function run(unit: ResponseUnit, i: number): Promise<void> {
    if (ended) return
    if (i === transforms.length) return emitFinal(unit)
    const out: ResponseUnit[] = []
    await transforms[i]!.transform(unit, (u) => out.push(u))
    await pass(out, i + 1)
  }
  async function pass(out: readonly ResponseUnit[], next: number): Promise<void> {
    for (const u of out) {
      if (u.kind !== 'end') {
        await run(u, next)
        continue
      }
      // Stages nearer the client release what they hold of the units before the cut.
      await flushFrom(next)
      ended = true
      finish(u.reason)
      return
    }
  }
  async function flushFrom(i: number): Promise<void> {
    if (i === transforms.length || ended) return
    const out: ResponseUnit[] = []
    await transforms[i]!.flush((u) => out.push(u))
    await pass(out, i + 1)
    await flushFrom(i + 1)
  }

  if (mode === 'raw') {
    return { mode, push: async (c) => write(c), end: async () => {} }
  }

  if (mode === 'sse') {
    const parser = createSseParser({ maxEventBytes: limits.maxEventBytes })
    return {
      mode,
      async push(chunk) {
        if (ended) return
        for (const event of parser.push(chunk)) await run({ kind: 'sse', event }, 0)
      },
      async end() {
        if (ended) return
        for (const event of parser.end()) await run({ kind: 'sse', event }, 0)
        await flushFrom(0)
      },
    }
  }

  const parts: Uint8Array[] = []
  let size = 0
  return {
    mode,
    async push(chunk) {
      if (ended) return
      size += chunk.byteLength
      if (size > limits.maxJsonBodyBytes) {
        throw new ChaperoneError('upstream_error', `JSON response body exceeds ${limits.maxJsonBodyBytes} bytes`)
      }
      parts.push(chunk)
    },
    async end() {
      if (ended) return
      const text = new TextDecoder().decode(concat(parts, size))
      let body: unknown
      try {
        body = JSON.parse(text)
      } catch {
        // A body that claims to be JSON but is not cannot be checked, so it is not let through.
        throw new ChaperoneError('upstream_error', 'upstream JSON response body does not parse')
      }
      await run({ kind: 'json', body }, 0)
      await flushFrom(0)
    },
  }
}

function concat(parts: Uint8Array[], size: number): Uint8Array {
  const out = new Uint8Array(size)
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.byteLength
  }
  return out
}
