import { pushBlocks } from './anthropic-blocks.js'
import { chatChannel, pushChatExtras } from './openai-chat-stream.js'
import { isCompletion, locateCompletionTexts } from './openai-completions.js'
import { pushResponse } from './openai-responses-items.js'
import { isObject, keyOf, type JsonObject } from './json.js'
import { hasChoices, locateTexts } from './openai-chat.js'
import { bodyCodec } from './body-codec.js'
import type { BodyCodec, FormatName } from './types.js'

/**
 * Non-streamed response bodies: detection by shape, extraction, rebuilding, and the body that
 * replaces a blocked one. A body of no known shape (an upstream error object, say) yields
 * undefined: the caller passes it through or treats it as opaque.
 */

export function responseFormat(body: unknown): FormatName | undefined {
  if (!isObject(body)) return undefined
  if (Array.isArray(body.choices)) {
    if (hasChoices(body, 'chat.completion') && (body.object === 'chat.completion' || body.choices.some((c) => isObject(c) && isObject(c.message)))) return 'openai-chat'
    if (isCompletion(body)) return 'openai-completions'
    return undefined
  }
  if (body.object === 'response' || (body.object === undefined && Array.isArray(body.output) && typeof body.status === 'string')) return 'openai-responses'
  if (body.type === 'message' && Array.isArray(body.content)) return 'anthropic'
  return undefined
}

const CODECS: Record<Exclude<FormatName, 'plain'>, BodyCodec> = {
  'openai-chat': bodyCodec('openai-chat', (body, slots, paths) => {
    if (!hasChoices(body, 'chat.completion')) return
    for (const d of locateTexts(body, 'message')) {
      slots.push({ channel: chatChannel(d.choice, d.field, d.toolCallIndex), kind: 'whole', text: d.text })
      paths.push(d.path)
    }
    return pushChatExtras(body, 'message', slots, paths)
  }),
  'openai-completions': bodyCodec('openai-completions', (body, slots, paths) => {
    if (isCompletion(body)) locateCompletionTexts(body, 'whole', slots, paths)
  }),
  'openai-responses': bodyCodec('openai-responses', (body, slots, paths) => pushResponse(slots, paths, body, [])),
  anthropic: bodyCodec('anthropic', (body, slots, paths) => (isObject(body) ? pushBlocks(slots, paths, body.content, ['content']) : true)),
}

/** The codec for a non-streamed response body, by its shape; undefined when it has none known. */
export function responseBodyCodec(body: unknown): BodyCodec | undefined {
  const format = responseFormat(body)
  return format === undefined || format === 'plain' ? undefined : CODECS[format]
}

/**
 * The body to send instead of a blocked non-streamed response, in the same format: the
 * user-facing message as the answer, with the stop reason each API uses for it (finish_reason
 * "content_filter"; status "incomplete" with incomplete_details.reason "content_filter";
 * Anthropic's stop_reason "refusal"). Identity and usage fields are kept. A body of no known
 * format gets Chaperone's error envelope.
 */
export function blockedBody(body: unknown, message: string): unknown {
  const format = responseFormat(body)
  const b = body as JsonObject
  let out: JsonObject
  // The switch only reads `b` in branches where responseFormat proved it an object.
  switch (format) {
    case 'openai-chat':
      out = {
        ...b,
        choices: choiceIndexes(b.choices).map((index) => ({
          index,
          message: { role: 'assistant', content: message, refusal: null },
          logprobs: null,
          finish_reason: 'content_filter',
        })),
      }
      break
    case 'openai-completions':
      out = { ...b, choices: choiceIndexes(b.choices).map((index) => ({ text: message, index, logprobs: null, finish_reason: 'content_filter' })) }
      break
    case 'openai-responses': {
      const notice = { id: 'msg_chaperone_0', type: 'message', status: 'incomplete', content: [{ type: 'output_text', annotations: [], logprobs: [], text: message }], role: 'assistant' }
      out = { ...b, status: 'incomplete', incomplete_details: { reason: 'content_filter' }, output: [notice] }
      if (typeof b.output_text === 'string') out.output_text = message
      break
    }
    case 'anthropic':
      out = { ...b, content: [{ type: 'text', text: message }], stop_reason: 'refusal', stop_sequence: null }
      break
    default:
      out = { error: { type: 'chaperone_error', code: 'content_policy_violation', message } }
  }
  return out
}

function choiceIndexes(choices: unknown): number[] {
  if (!Array.isArray(choices) || choices.length === 0) return [0]
  const seen = new Set<number>()
  choices.forEach((c, pos) => seen.add(keyOf(c, pos)))
  return [...seen]
}
