import { bodyCodec } from './body-codec.js'
import { formatForPath } from './detect.js'
import { isObject, type JsonObject } from './json.js'
import type { Path } from './json-strings.js'
import { locateCompletionRequest } from './openai-completions.js'
import type { BodyCodec, FormatName, TextSlot } from './types.js'

/**
 * Request bodies: the texts the model will read, whatever the role (a tool result can carry a
 * prompt injection as well as a user message can). Images, audio and files are not text;
 * tool calls the assistant made earlier are the model's own output and are not re-checked.
 *
 * - Chat completions and Anthropic Messages: top-level `system` (string or text blocks),
 *   `messages[].content` as a string or parts of type text (and input_text), Anthropic
 *   `tool_result` content (string or text blocks) and plain-text `document` sources.
 * - Responses: `instructions`, `input` as a string or items whose `content` is a string or parts
 *   of type input_text / output_text / text, and `function_call_output` outputs.
 * - Legacy completions: `prompt` (string or array of strings) and `suffix`.
 */

export function requestFormat(body: unknown, path?: string): FormatName | undefined {
  if (!isObject(body)) return undefined
  const byPath = formatForPath(path)
  if (Array.isArray(body.messages)) return byPath === 'anthropic' || (byPath === undefined && body.system !== undefined) ? 'anthropic' : 'openai-chat'
  if (byPath === 'openai-responses' || body.input !== undefined || typeof body.instructions === 'string') return 'openai-responses'
  if (body.prompt !== undefined) return 'openai-completions'
  return undefined
}

const locateMessages = (body: unknown, slots: TextSlot[], paths: Path[]): void => {
  if (!isObject(body)) return
  const system = body.system
  if (typeof system === 'string') push(slots, paths, system, ['system'], 'system', 'system')
  else pushParts(slots, paths, system, ['system'], 'system', 'system')
  if (!Array.isArray(body.messages)) return
  body.messages.forEach((msg, m) => {
    if (!isObject(msg)) return
    const role = typeof msg.role === 'string' ? msg.role : undefined
    const base = ['messages', m] as const
    if (typeof msg.content === 'string') push(slots, paths, msg.content, [...base, 'content'], `messages:${m}`, role)
    else pushParts(slots, paths, msg.content, [...base, 'content'], `messages:${m}`, role)
  })
}

const locateResponses = (body: unknown, slots: TextSlot[], paths: Path[]): void => {
  if (!isObject(body)) return
  if (typeof body.instructions === 'string') push(slots, paths, body.instructions, ['instructions'], 'instructions', 'system')
  const input = body.input
  if (typeof input === 'string') push(slots, paths, input, ['input'], 'input', 'user')
  if (!Array.isArray(input)) return
  input.forEach((item, i) => {
    if (!isObject(item)) return
    const channel = `input:${i}`
    if (item.type === 'function_call_output' || item.type === 'custom_tool_call_output') {
      if (typeof item.output === 'string') push(slots, paths, item.output, ['input', i, 'output'], channel, 'tool')
      else pushParts(slots, paths, item.output, ['input', i, 'output'], channel, 'tool')
      return
    }
    const role = typeof item.role === 'string' ? item.role : undefined
    if (typeof item.content === 'string') push(slots, paths, item.content, ['input', i, 'content'], channel, role)
    else pushParts(slots, paths, item.content, ['input', i, 'content'], channel, role)
  })
}

const CODECS: Record<Exclude<FormatName, 'plain'>, BodyCodec> = {
  'openai-chat': bodyCodec('openai-chat', locateMessages),
  anthropic: bodyCodec('anthropic', locateMessages),
  'openai-responses': bodyCodec('openai-responses', locateResponses),
  'openai-completions': bodyCodec('openai-completions', (body, slots, paths) => {
    if (isObject(body)) locateCompletionRequest(body, slots, paths)
  }),
}

/** The codec for a request body, by the request path when it says and by shape otherwise. */
export function requestBodyCodec(body: unknown, path?: string): BodyCodec | undefined {
  const format = requestFormat(body, path)
  return format === undefined || format === 'plain' ? undefined : CODECS[format]
}

const TEXT_PARTS = new Set(['text', 'input_text', 'output_text'])

/** Content parts: text parts, tool results (string or text blocks), plain-text documents. */
function pushParts(slots: TextSlot[], paths: Path[], parts: unknown, base: Path, channel: string, role: string | undefined): void {
  if (!Array.isArray(parts)) return
  parts.forEach((part, p) => {
    if (!isObject(part)) return
    const at = [...base, p]
    if (typeof part.type === 'string' && TEXT_PARTS.has(part.type)) {
      if (typeof part.text === 'string') push(slots, paths, part.text, [...at, 'text'], `${channel}:${p}`, role)
    } else if (part.type === 'tool_result') {
      if (typeof part.content === 'string') push(slots, paths, part.content, [...at, 'content'], `${channel}:${p}`, 'tool')
      else pushParts(slots, paths, part.content, [...at, 'content'], `${channel}:${p}`, 'tool')
    } else if (part.type === 'document') {
      const source = part.source as JsonObject | undefined
      if (isObject(source) && source.type === 'text' && typeof source.data === 'string') push(slots, paths, source.data, [...at, 'source', 'data'], `${channel}:${p}`, role)
    }
  })
}

function push(slots: TextSlot[], paths: Path[], text: string, path: Path, channel: string, role: string | undefined): void {
  if (text === '') return
  slots.push(role === undefined ? { channel, kind: 'whole', text } : { channel, kind: 'whole', text, role })
  paths.push(path)
}
