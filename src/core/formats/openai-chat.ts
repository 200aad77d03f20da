import type { SseEvent } from '../sse/types.js'
import { findByKey, getIn, isObject, keyOf, parseJson, setIn, type JsonObject } from './json.js'

/**
 * OpenAI chat completions: where the text is in a stream chunk, a whole response and a request,
 * and how to put moderated text back in the same place. Shape mismatches yield null or [] (the
 * unit is then passed through untouched), never an exception: upstreams that claim to speak
 * OpenAI differ in the details.
 */

export type ChatTextField =
  | 'content'
  | 'reasoning_content'
  | 'reasoning'
  | 'refusal'
  | 'tool_call_arguments'
  /** The deprecated `function_call.arguments` (functions API, before tool calls). */
  | 'function_call_arguments'
  /** `audio.transcript` of audio output: the words the client shows beside the sound. */
  | 'audio_transcript'

export interface ChatDelta {
  /** The choice's `index` field (array position when it has none). */
  choice: number
  field: ChatTextField
  /** For tool_call_arguments: the tool call's `index` field (array position when it has none). */
  toolCallIndex?: number
  text: string
}

/** A ChatDelta with the path of its text in the parsed chunk or body. */
export interface LocatedChatDelta extends ChatDelta {
  path: (string | number)[]
}

/** A text in a request: `messages[message].content`, or its `part`-th content part. */
export interface RequestText {
  message: number
  part?: number
  role?: string
  text: string
}

/** Reasoning first: it precedes the answer in the stream, and moderation reads text in order. */
const TEXT_FIELDS = ['reasoning_content', 'reasoning', 'content', 'refusal'] as const

export type ChoiceKey = 'delta' | 'message'

export function isDone(ev: SseEvent): boolean {
  return ev.data === '[DONE]'
}

/** The texts in one stream event; null when the event is not a chat chunk. */
export function extractDeltas(ev: SseEvent): ChatDelta[] | null {
  if (ev.commentOnly || isDone(ev)) return null
  const chunk = parseJson(ev.data)
  if (!hasChoices(chunk, 'chat.completion.chunk')) return null
  return collect(chunk.choices, 'delta').map(strip)
}

/** The located texts of a parsed chat chunk (`key` 'delta') or completion (`key` 'message'). */
export function locateTexts(root: JsonObject & { choices: unknown[] }, key: ChoiceKey): LocatedChatDelta[] {
  return collect(root.choices, key)
}

/**
 * The event with each replacement's text written at its location. Every other key keeps its
 * value (numbers beyond 2^53 excepted, which JSON.parse cannot hold). A text field missing from
 * an existing choice is created, so held-back text can ride on a chunk that carried none (such
 * as the one with finish_reason); a replacement whose choice or tool call is absent is skipped.
 * Returns `ev` itself when nothing changes, keeping the upstream's bytes.
 */
export function rebuildEvent(ev: SseEvent, replacements: readonly ChatDelta[]): SseEvent {
  if (replacements.length === 0 || ev.commentOnly) return ev
  const chunk = parseJson(ev.data)
  if (!hasChoices(chunk, 'chat.completion.chunk')) return ev
  const next = rebuild(chunk, 'delta', replacements)
  return next === chunk ? ev : { ...ev, data: JSON.stringify(next) }
}

/** The texts of a non-streamed `chat.completion` body; [] when it is not one. */
export function extractMessageTexts(body: unknown): ChatDelta[] {
  return hasChoices(body, 'chat.completion') ? collect(body.choices, 'message').map(strip) : []
}

/** A copy of the body with the replacements applied (as rebuildEvent); `body` is not mutated. */
export function rebuildMessage(body: unknown, replacements: readonly ChatDelta[]): unknown {
  if (replacements.length === 0 || !hasChoices(body, 'chat.completion')) return body
  return rebuild(body, 'message', replacements)
}

/** Every text of `messages[].content`, whatever the role (tool results can carry injections too). */
export function extractRequestTexts(body: unknown): RequestText[] {
  const out: RequestText[] = []
  if (!isObject(body) || !Array.isArray(body.messages)) return out
  body.messages.forEach((msg: unknown, m: number) => {
    if (!isObject(msg)) return
    const role = typeof msg.role === 'string' ? { role: msg.role } : {}
    const content = msg.content
    if (typeof content === 'string') {
      out.push({ message: m, ...role, text: content })
    } else if (Array.isArray(content)) {
      content.forEach((part: unknown, p: number) => {
        if (isObject(part) && part.type === 'text' && typeof part.text === 'string') out.push({ message: m, part: p, ...role, text: part.text })
      })
    }
  })
  return out
}

/** A copy of the request with texts replaced; only existing string texts are ever replaced. */
export function rebuildRequest(body: unknown, replacements: readonly RequestText[]): unknown {
  let out = body
  for (const r of replacements) {
    const path = r.part === undefined ? ['messages', r.message, 'content'] : ['messages', r.message, 'content', r.part, 'text']
    const current = getIn(out, path)
    if (typeof current !== 'string' || current === r.text) continue
    out = setIn(out, path, r.text) ?? out
  }
  return out
}

export function hasChoices(v: unknown, object: string): v is JsonObject & { choices: unknown[] } {
  // Some OpenAI-compatible servers omit `object` or send '' (Azure's prompt-filter chunk).
  return isObject(v) && Array.isArray(v.choices) && (v.object === undefined || v.object === '' || v.object === object)
}

function collect(choices: readonly unknown[], key: ChoiceKey): LocatedChatDelta[] {
  const out: LocatedChatDelta[] = []
  const seen = new Set<number>()
  choices.forEach((c, pos) => {
    const choice = keyOf(c, pos)
    // Rebuild addresses the first element with a key; a duplicate could never be written back.
    if (seen.has(choice)) return
    seen.add(choice)
    if (!isObject(c)) return
    const d = c[key]
    if (!isObject(d)) return
    for (const field of TEXT_FIELDS) {
      const text = d[field]
      if (typeof text === 'string' && text !== '') out.push({ choice, field, text, path: ['choices', pos, key, field] })
    }
    const audio = d.audio
    if (isObject(audio) && typeof audio.transcript === 'string' && audio.transcript !== '') {
      out.push({ choice, field: 'audio_transcript', text: audio.transcript, path: ['choices', pos, key, 'audio', 'transcript'] })
    }
    const fc = d.function_call
    if (isObject(fc) && typeof fc.arguments === 'string' && fc.arguments !== '') {
      out.push({ choice, field: 'function_call_arguments', text: fc.arguments, path: ['choices', pos, key, 'function_call', 'arguments'] })
    }
    if (!Array.isArray(d.tool_calls)) return
    const seenCalls = new Set<number>()
    d.tool_calls.forEach((tc: unknown, tpos: number) => {
      const toolCallIndex = keyOf(tc, tpos)
      if (seenCalls.has(toolCallIndex)) return
      seenCalls.add(toolCallIndex)
      const args = isObject(tc) && isObject(tc.function) ? tc.function.arguments : undefined
      if (typeof args === 'string' && args !== '') {
        out.push({ choice, field: 'tool_call_arguments', toolCallIndex, text: args, path: ['choices', pos, key, 'tool_calls', tpos, 'function', 'arguments'] })
      }
    })
  })
  return out
}

function strip({ path: _path, ...delta }: LocatedChatDelta): ChatDelta {
  return delta
}

function rebuild(root: JsonObject & { choices: unknown[] }, key: ChoiceKey, replacements: readonly ChatDelta[]): unknown {
  let out: unknown = root
  for (const r of replacements) {
    const path = locate(out, key, r)
    if (path === undefined || getIn(out, path) === r.text) continue
    out = setIn(out, path, r.text, true) ?? out
  }
  return out
}

function locate(root: unknown, key: ChoiceKey, r: ChatDelta): (string | number)[] | undefined {
  const choices = getIn(root, ['choices'])
  if (!Array.isArray(choices) || typeof r.text !== 'string') return undefined
  const c = findByKey(choices, r.choice)
  if (c === -1) return undefined
  if (r.field === 'tool_call_arguments') {
    const calls = getIn(choices[c], [key, 'tool_calls'])
    if (!Array.isArray(calls) || r.toolCallIndex === undefined) return undefined
    const t = findByKey(calls, r.toolCallIndex)
    return t === -1 ? undefined : ['choices', c, key, 'tool_calls', t, 'function', 'arguments']
  }
  if (r.field === 'audio_transcript') return isObject(getIn(choices[c], [key, 'audio'])) ? ['choices', c, key, 'audio', 'transcript'] : undefined
  if (r.field === 'function_call_arguments') return isObject(getIn(choices[c], [key, 'function_call'])) ? ['choices', c, key, 'function_call', 'arguments'] : undefined
  return (TEXT_FIELDS as readonly string[]).includes(r.field) ? ['choices', c, key, r.field] : undefined
}
