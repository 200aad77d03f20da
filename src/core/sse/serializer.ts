import type { SseEvent } from './types.js'

const LINE_BREAK = /\r\n|\r|\n/
const encoder = new TextEncoder()

/**
 * Renders one event as wire text, closed by a blank line, with LF endings and `field: value`
 * (colon-space, as OpenAI writes it). Data is split on CRLF, CR and LF into `data:` lines, so a
 * CR inside data comes back from the parser as LF: CR cannot survive SSE framing.
 *
 * Throws TypeError when `event` or `id` holds a line break (it would inject fields) or `id` holds
 * NUL, and when `retry` is not a non-negative safe integer: those are caller bugs, never upstream
 * data, because the parser cannot produce them.
 */
export function serializeEvent(ev: SseEvent): string {
  let out = ''
  if (ev.comments) {
    for (const comment of ev.comments) {
      // A comment cannot span lines; each piece stays a comment, so nothing can be injected.
      for (const piece of comment.split(LINE_BREAK)) out += ':' + piece + '\n'
    }
  }
  if (ev.event !== undefined && !ev.commentOnly) out += 'event: ' + singleLine('event', ev.event) + '\n'
  if (ev.id !== undefined) {
    if (ev.id.includes('\0')) throw new TypeError('SSE id must not contain NUL')
    out += 'id: ' + singleLine('id', ev.id) + '\n'
  }
  if (ev.retry !== undefined) {
    if (!Number.isSafeInteger(ev.retry) || ev.retry < 0) throw new TypeError(`SSE retry must be a non-negative integer, got ${ev.retry}`)
    out += 'retry: ' + ev.retry + '\n'
  }
  if (!ev.commentOnly) {
    for (const line of ev.data.split(LINE_BREAK)) out += 'data: ' + line + '\n'
  }
  return out + '\n'
}

export function encodeEvent(ev: SseEvent): Uint8Array {
  return encoder.encode(serializeEvent(ev))
}

function singleLine(field: string, value: string): string {
  if (value.includes('\n') || value.includes('\r')) throw new TypeError(`SSE ${field} must not contain a line break`)
  return value
}
