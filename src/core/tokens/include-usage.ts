import { isObject, parseJson } from '../formats/json.js'
import { requestFormat } from '../formats/request-bodies.js'
import type { SseEvent } from '../sse/types.js'

/**
 * OpenAI chat and legacy completion streams report usage only when the request asks for it with
 * `stream_options.include_usage`; Responses and Anthropic streams always do. A token budget needs
 * the report, so Chaperone asks on the client's behalf, and then strips the extra chunk (see
 * isUsageOnlyChunk) that the client did not ask for and might not expect.
 */

/**
 * A copy of a streamed OpenAI chat or legacy completions request with include_usage set, and
 * `added: true`; the body itself and `added: false` when it already asks, is not streamed, is
 * of another format, or has a `stream_options` that is not an object (the upstream refuses it).
 */
export function requestUsageInStream(body: unknown, path: string): { body: unknown; added: boolean } {
  const format = requestFormat(body, path)
  if (!isObject(body) || (format !== 'openai-chat' && format !== 'openai-completions') || body.stream !== true) return { body, added: false }
  const existing = body.stream_options ?? {}
  if (!isObject(existing) || existing.include_usage === true) return { body, added: false }
  return { body: { ...body, stream_options: { ...existing, include_usage: true } }, added: true }
}

/** Cheap test before parsing: only the usage chunk has an empty choices array (besides Azure's prompt-filter chunk). */
const EMPTY_CHOICES = /"choices"\s*:\s*\[\s*\]/

/**
 * True for the chunk include_usage adds at the end of an OpenAI chat or legacy stream: `usage`
 * and an empty `choices`. False for every other event, `[DONE]` included.
 */
export function isUsageOnlyChunk(event: SseEvent): boolean {
  if (event.commentOnly || !EMPTY_CHOICES.test(event.data)) return false
  const chunk = parseJson(event.data)
  if (!isObject(chunk) || !Array.isArray(chunk.choices) || chunk.choices.length > 0 || !isObject(chunk.usage)) return false
  const o = chunk.object
  return o === undefined || o === '' || o === 'chat.completion.chunk' || o === 'text_completion'
}
