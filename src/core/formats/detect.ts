import { isObject } from './json.js'
import type { FormatName } from './types.js'

/** A format read off one event; `strong` when no other format could have sent it. */
export interface Detection {
  readonly format: FormatName
  readonly strong: boolean
}

const det = (format: FormatName, strong: boolean): Detection => Object.freeze({ format, strong })
const CHAT = det('openai-chat', true)
const CHAT_WEAK = det('openai-chat', false)
const COMPLETIONS = det('openai-completions', true)
const RESPONSES = det('openai-responses', true)
const RESPONSES_WEAK = det('openai-responses', false)
const ANTHROPIC = det('anthropic', true)
const ANTHROPIC_WEAK = det('anthropic', false)

const ANTHROPIC_TYPES = new Set(['message_start', 'content_block_start', 'content_block_delta', 'content_block_stop', 'message_delta', 'message_stop', 'ping'])

/** The format of one parsed stream event; undefined when it is none of the known ones. */
export function detectEvent(parsed: unknown): Detection | undefined {
  if (!isObject(parsed)) return undefined
  const type = parsed.type
  if (typeof type === 'string') {
    if (type.startsWith('response.')) return RESPONSES
    if (ANTHROPIC_TYPES.has(type)) return ANTHROPIC
    // Both APIs send {type:"error"}: Anthropic nests an `error` object, Responses does not.
    if (type === 'error') return isObject(parsed.error) ? ANTHROPIC_WEAK : RESPONSES_WEAK
  }
  const choices = parsed.choices
  if (!Array.isArray(choices)) return undefined
  if (parsed.object === 'chat.completion.chunk') return CHAT
  if (parsed.object === 'text_completion') return COMPLETIONS
  if (parsed.object !== undefined && parsed.object !== '') return undefined
  // Servers that omit `object` (or Azure's prompt-filter chunk, with no choices at all).
  for (const c of choices) {
    if (!isObject(c)) continue
    if (isObject(c.delta)) return CHAT
    if (typeof c.text === 'string') return COMPLETIONS
  }
  return CHAT_WEAK
}

/** The format a request path implies, as a first guess until the stream says otherwise. */
export function formatForPath(path: string | undefined): FormatName | undefined {
  if (path === undefined) return undefined
  const q = path.indexOf('?')
  const p = q === -1 ? path : path.slice(0, q)
  if (p.endsWith('/chat/completions')) return 'openai-chat'
  if (p.endsWith('/completions')) return 'openai-completions'
  if (p.endsWith('/responses')) return 'openai-responses'
  if (p.endsWith('/messages')) return 'anthropic'
  return undefined
}
