/**
 * Whether a response body the upstream sent in full is a finished answer worth replaying. The
 * transport already knows the body was not cut short in bytes; this reads the body itself, since
 * an upstream may end a stream cleanly after a failure, or mid-answer (a stream that dies
 * between events looks like a clean close to HTTP/1.1 chunked encoding).
 */
import { detectEvent } from '../formats/detect.js'
import { isObject, parseJson } from '../formats/json.js'
import type { FormatName } from '../formats/types.js'
import { createSseParser, type SseEvent } from '../sse/index.js'

export type Completeness = { readonly ok: true } | { readonly ok: false; readonly reason: 'incomplete' | 'error_event' }

const OK: Completeness = Object.freeze({ ok: true })
const INCOMPLETE: Completeness = Object.freeze({ ok: false, reason: 'incomplete' })
const ERROR: Completeness = Object.freeze({ ok: false, reason: 'error_event' })

/**
 * `eventEnds`: where each event of an SSE body ends (the recorder's boundaries), when known; the
 * last one must be the body's end.
 */
export function responseComplete(contentType: string, body: Uint8Array, eventEnds: readonly number[] | undefined): Completeness {
  return readResponse(contentType, body, eventEnds).completeness
}

/**
 * The same judgement, with what it parsed to reach it (the events of a stream, the JSON of a
 * body), so that a caller that needs them too (the entry's usage) does not parse the body again.
 */
export function readResponse(contentType: string, body: Uint8Array, eventEnds: readonly number[] | undefined): { completeness: Completeness; events?: readonly SseEvent[]; json?: unknown } {
  const media = mediaType(contentType)
  if (media === 'text/event-stream') {
    if (eventEnds !== undefined && !endsValid(eventEnds, body.length)) return { completeness: INCOMPLETE }
    const events = parseStream(body)
    return events ? { completeness: eventsComplete(events), events } : { completeness: INCOMPLETE }
  }
  if (media === 'application/json' || media.endsWith('+json')) {
    const json = parseJson(decoder.decode(body))
    return { completeness: jsonComplete(json), json }
  }
  return { completeness: OK }
}

/** The media type, lower-cased, without parameters. */
function mediaType(contentType: string): string {
  const semi = contentType.indexOf(';')
  return (semi === -1 ? contentType : contentType.slice(0, semi)).trim().toLowerCase()
}

const decoder = new TextDecoder()

/**
 * A JSON answer must parse (a body cut short does not) and not be an error: a top-level `error`
 * that is not null (OpenAI and Anthropic errors; Responses bodies carry `"error": null` when all
 * went well). A Responses object must have finished: `failed` is an error, and any other status
 * but `completed` (`incomplete`, or a background response still `queued`/`in_progress`) is not
 * the final answer.
 */
function jsonComplete(parsed: unknown): Completeness {
  if (parsed === undefined) return INCOMPLETE
  if (!isObject(parsed)) return OK
  if (hasError(parsed)) return ERROR
  if (parsed.object === 'response' && typeof parsed.status === 'string') {
    if (parsed.status === 'failed') return ERROR
    if (parsed.status !== 'completed') return INCOMPLETE
  }
  return OK
}

function hasError(o: Record<string, unknown>): boolean {
  return Object.hasOwn(o, 'error') && o.error !== null && o.error !== undefined
}

/**
 * A stream must end exactly where an event ends and be finished as its format says, read from
 * its events: chat and completions streams end with `data: [DONE]`, Responses streams with
 * `response.completed`, Anthropic streams with `message_stop`. An error anywhere (an `error`
 * event, a JSON event with a top-level `error`, a failed Responses stream) means not stored. A
 * stream of no known format needs only to end on a boundary, but must carry at least one event:
 * an empty stream is an upstream that closed before answering.
 */
function parseStream(body: Uint8Array): SseEvent[] | undefined {
  // The bound is the body itself, which is already in memory: one event may be all of it.
  const parser = createSseParser({ maxEventBytes: Math.max(1, body.length) })
  const events = parser.push(body)
  // The parser dispatches at a blank line and holds nothing after it, so this is independent of
  // the recorder's boundaries: a body cut inside an event fails here even if they were wrong.
  return parser.pendingBytes > 0 ? undefined : events
}

/** Ascending, within the body, and the last one is the body's end. */
function endsValid(ends: readonly number[], length: number): boolean {
  if (ends.length === 0) return length === 0
  let prev = 0
  for (const e of ends) {
    if (!Number.isSafeInteger(e) || e <= prev || e > length) return false
    prev = e
  }
  return prev === length
}

function eventsComplete(events: readonly SseEvent[]): Completeness {
  let format: FormatName | undefined
  let strong = false
  let sawEvent = false
  let done = false
  let completed = false
  let stopped = false
  for (const ev of events) {
    if (ev.commentOnly) continue
    sawEvent = true
    if (ev.event === 'error') return ERROR
    if (ev.data === '[DONE]') {
      done = true
      continue
    }
    const data = ev.data.trimStart()
    if (!data.startsWith('{')) continue
    const parsed = parseJson(data)
    if (!isObject(parsed)) continue
    if (hasError(parsed)) return ERROR
    switch (parsed.type) {
      case 'error':
      case 'response.failed':
        return ERROR
      case 'response.incomplete':
        return INCOMPLETE
      case 'response.completed':
        completed = true
        break
      case 'message_stop':
        stopped = true
        break
    }
    if (!strong) {
      const d = detectEvent(parsed)
      if (d) {
        format = d.format
        strong = d.strong
      }
    }
  }
  if (!sawEvent) return INCOMPLETE
  switch (format) {
    case 'openai-chat':
    case 'openai-completions':
      return done ? OK : INCOMPLETE
    case 'openai-responses':
      return completed ? OK : INCOMPLETE
    case 'anthropic':
      return stopped ? OK : INCOMPLETE
    default:
      return OK
  }
}
