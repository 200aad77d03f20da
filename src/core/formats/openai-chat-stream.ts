import type { SseEvent } from '../sse/types.js'
import { RETRACTED, type FormatStream } from './format-stream.js'
import { DeltaTemplate, TemplateCache, type TemplateVar } from './delta-template.js'
import {
  allEmpty,
  dropEvent,
  fastInspection,
  NOTHING_CLOSED,
  pushScanned,
  rawInspection,
  rebuildFast,
  rebuildJson,
  unknownInspection,
  writeTexts,
  type Inspection,
} from './inspection.js'
import { isObject, keyOf, setIn, type JsonObject } from './json.js'
import type { Path } from './json-strings.js'
import { hasChoices, locateTexts, type ChatTextField } from './openai-chat.js'
import type { TextSlot } from './types.js'

/**
 * OpenAI chat completion chunks. Channels: `c<choice>:<field>` for content, reasoning_content,
 * reasoning, refusal, audio_transcript and function_call; `c<choice>:tool<index>` for a tool
 * call's arguments. A chunk with finish_reason closes its choice's channels and offers an empty
 * delta slot for each text field, so held text rides on it instead of a carrier.
 */

const FIELD_SUFFIX: Record<ChatTextField, string> = {
  content: 'content',
  reasoning_content: 'reasoning_content',
  reasoning: 'reasoning',
  refusal: 'refusal',
  audio_transcript: 'audio_transcript',
  function_call_arguments: 'function_call',
  tool_call_arguments: 'tool',
}

/** Fields a closing chunk can carry directly: plain strings of `delta`. */
const INLINE_FIELDS = new Set(['content', 'reasoning_content', 'reasoning', 'refusal'])

/**
 * Keys of a delta or message whose text the located extraction covers (when they hold a
 * string) or that hold no text (role, name, annotations: citations, not moderated). Any other
 * key, or a known text key holding something else than a string (content as an array of parts,
 * as some compatible servers send), is moderated whole: every non-structural string in it.
 */
const MESSAGE_KEYS = new Set(['role', 'name', 'content', 'reasoning_content', 'reasoning', 'refusal', 'tool_calls', 'function_call', 'audio', 'annotations'])
const TEXT_KEYS = new Set(['content', 'reasoning_content', 'reasoning', 'refusal'])

/** Whole slots for what a delta or message carries beyond the fields we know. */
export function pushChatExtras(root: JsonObject & { choices: unknown[] }, key: 'delta' | 'message', slots: TextSlot[], paths: Path[]): boolean {
  let ok = true
  const seen = new Set<number>()
  root.choices.forEach((c, pos) => {
    const index = keyOf(c, pos)
    if (!isObject(c) || seen.has(index)) return
    seen.add(index)
    const d = c[key]
    if (!isObject(d)) return
    for (const k of Object.keys(d)) {
      const v = d[k]
      if (v === null || v === undefined) continue
      if (MESSAGE_KEYS.has(k) && !(TEXT_KEYS.has(k) && typeof v !== 'string')) continue
      ok = pushScanned(slots, paths, v, ['choices', pos, key, k], `c${index}:other`) && ok
    }
  })
  return ok
}

const TOP_KEYS = new Set(['id', 'object', 'created', 'model', 'system_fingerprint', 'service_tier', 'usage', 'choices', 'obfuscation'])
const CHOICE_KEYS = new Set(['index', 'delta', 'logprobs', 'finish_reason'])
const DELTA_TEXT_KEYS = new Set(['content', 'reasoning_content', 'reasoning', 'refusal', 'tool_calls', 'function_call'])

interface ChoiceState {
  /** Channels that got text since the choice started or last finished. */
  open: string[]
  /** Whether a chunk gave this choice its role (a final chunk must, or the SDK rejects it). */
  role: boolean
  finished: boolean
}

export function chatChannel(choice: number, field: ChatTextField, toolCallIndex?: number): string {
  return field === 'tool_call_arguments' ? `c${choice}:tool${toolCallIndex ?? 0}` : `c${choice}:${FIELD_SUFFIX[field]}`
}

export class OpenAiChatStream implements FormatStream {
  readonly name = 'openai-chat' as const
  private readonly choices = new Map<number, ChoiceState>()
  private template: JsonObject = { id: 'chatcmpl-chaperone', object: 'chat.completion.chunk', created: 0, model: '' }
  private readonly deltas = new TemplateCache()

  fastInspect(ev: SseEvent): Inspection | undefined {
    return fastInspection(this.deltas, ev.data)
  }

  inspect(ev: SseEvent, parsed: unknown): Inspection {
    if (parsed === undefined) return rawInspection(ev, 'chat:raw', 'whole')
    if (!hasChoices(parsed, 'chat.completion.chunk')) return unknownInspection(ev, parsed, 'chat:other')
    this.remember(parsed)
    const located = locateTexts(parsed, 'delta')
    const slots: TextSlot[] = []
    const paths: Path[] = []
    for (const d of located) {
      const channel = chatChannel(d.choice, d.field, d.toolCallIndex)
      slots.push({ channel, kind: 'delta', text: d.text })
      paths.push(d.path)
      const st = this.state(d.choice)
      if (!st.open.includes(channel)) st.open.push(channel)
    }
    if (!pushChatExtras(parsed, 'delta', slots, paths)) return rawInspection(ev, 'chat:raw', 'whole')
    let closes: string[] | undefined
    const seen = new Set<number>()
    parsed.choices.forEach((c, pos) => {
      const index = keyOf(c, pos)
      if (!isObject(c) || seen.has(index)) return
      seen.add(index)
      const st = this.state(index)
      if (isObject(c.delta) && typeof c.delta.role === 'string') st.role = true
      if (typeof c.finish_reason !== 'string') return
      closes ??= []
      for (const channel of st.open) {
        closes.push(channel)
        const field = channel.slice(channel.indexOf(':') + 1)
        if (!INLINE_FIELDS.has(field) || slots.some((s) => s.channel === channel)) continue
        if (c.delta !== undefined && !isObject(c.delta)) continue
        slots.push({ channel, kind: 'delta', text: '' })
        paths.push(['choices', pos, 'delta', field])
      }
      st.open = []
      st.finished = true
    })
    const droppable = isPureDelta(parsed)
    if (droppable && slots.length === 1 && located.length === 1 && parsed.choices.length === 1 && this.deltas.learning) this.learn(ev, parsed, located[0]!.path, slots[0]!.channel, located[0]!.choice)
    return { parsed, slots, paths, closes: closes ?? NOTHING_CLOSED, droppable }
  }

  /** Learns the shape of a one-text delta chunk (logprobs would differ per token: not those). */
  private learn(ev: SseEvent, chunk: JsonObject & { choices: unknown[] }, path: Path, channel: string, choice: number): void {
    const c = chunk.choices[0]
    if (!isObject(c) || c.logprobs != null) return
    const vars: TemplateVar[] = typeof chunk.obfuscation === 'string' ? [{ path: ['obfuscation'], kind: 'string' }] : []
    const st = this.state(choice)
    this.deltas.learn(() =>
      DeltaTemplate.build(ev.data, chunk, path, vars, channel, true, () => {
        if (!st.open.includes(channel)) st.open.push(channel)
      }),
    )
  }

  rebuild(ev: SseEvent, insp: Inspection, texts: readonly string[]): SseEvent | null {
    if (insp.fast) return rebuildFast(ev, insp, texts)
    if (!hasChoices(insp.parsed, 'chat.completion.chunk')) return rebuildJson(ev, insp, texts)
    let out = writeTexts(insp, texts)
    if (out === insp.parsed) return ev
    if (insp.droppable && allEmpty(insp, texts)) return dropEvent(ev)
    out = clearLogprobs(insp, texts, out)
    return { ...ev, data: JSON.stringify(out) }
  }

  carrier(channel: string, text: string): SseEvent {
    const m = /^c(\d+):(.+)$/.exec(channel)
    const index = m ? Number(m[1]) : 0
    const field = m ? m[2]! : 'content'
    let delta: JsonObject
    if (field.startsWith('tool')) delta = { tool_calls: [{ index: Number(field.slice(4)) || 0, function: { arguments: text } }] }
    else if (field === 'function_call') delta = { function_call: { arguments: text } }
    else if (field === 'audio_transcript') delta = { audio: { transcript: text } }
    else delta = { [INLINE_FIELDS.has(field) ? field : 'content']: text }
    return { data: JSON.stringify({ ...this.template, choices: [{ index, delta, logprobs: null, finish_reason: null }] }) }
  }

  endEvents(message: string, opts: { retraction: boolean }): SseEvent[] {
    let targets = [...this.choices].filter(([, st]) => !st.finished)
    // Every choice already finished (a late verdict): the notice goes to all of them.
    if (targets.length === 0) targets = [...this.choices]
    if (targets.length === 0) targets = [[0, { open: [], role: false, finished: false }]]
    const choices = targets.map(([index, st]) => ({
      index,
      delta: st.role ? { content: message } : { role: 'assistant', content: message },
      logprobs: null,
      finish_reason: 'content_filter',
    }))
    const chunk: JsonObject = { ...this.template, choices }
    if (opts.retraction) chunk.chaperone = RETRACTED
    return [{ data: JSON.stringify(chunk) }, { data: '[DONE]' }]
  }

  private state(index: number): ChoiceState {
    let st = this.choices.get(index)
    if (st === undefined) {
      st = { open: [], role: false, finished: false }
      this.choices.set(index, st)
    }
    return st
  }

  /** Identity of the completion, reused by carriers and the final chunk. */
  private remember(chunk: JsonObject): void {
    if (typeof chunk.id !== 'string' || chunk.id === this.template.id) return
    const t: JsonObject = { id: chunk.id, object: 'chat.completion.chunk', created: chunk.created ?? 0, model: chunk.model ?? '' }
    if (chunk.system_fingerprint !== undefined) t.system_fingerprint = chunk.system_fingerprint
    this.template = t
  }
}

/**
 * Logprobs spell out the tokens of the text they came with; once that text is rewritten they
 * would leak what was redacted, so they go.
 */
function clearLogprobs(insp: Inspection, texts: readonly string[], out: unknown): unknown {
  const choices = (insp.parsed as JsonObject).choices as unknown[]
  for (let i = 0; i < insp.slots.length; i++) {
    if (texts[i] === insp.slots[i]!.text) continue
    const pos = insp.paths[i]![1]
    if (typeof pos !== 'number') continue
    const c = choices[pos]
    if (isObject(c) && c.logprobs != null) out = setIn(out, ['choices', pos, 'logprobs'], null) ?? out
  }
  return out
}

/** A chunk that only carries text: nothing is lost when it is dropped once its text is ''. */
function isPureDelta(chunk: JsonObject & { choices: unknown[] }): boolean {
  if (chunk.usage != null || chunk.choices.length === 0) return false
  for (const key of Object.keys(chunk)) if (!TOP_KEYS.has(key)) return false
  for (const c of chunk.choices) {
    if (!isObject(c) || c.finish_reason != null) return false
    for (const key of Object.keys(c)) if (!CHOICE_KEYS.has(key)) return false
    const d = c.delta
    if (!isObject(d)) return false
    for (const key of Object.keys(d)) {
      if (!DELTA_TEXT_KEYS.has(key)) return false
      const v = d[key]
      if (key === 'tool_calls') {
        if (!Array.isArray(v) || !v.every(isBareArguments)) return false
      } else if (key === 'function_call') {
        if (!isObject(v) || Object.keys(v).some((k) => k !== 'arguments')) return false
      } else if (v !== null && typeof v !== 'string') return false
    }
  }
  return true
}

function isBareArguments(tc: unknown): boolean {
  if (!isObject(tc)) return false
  for (const key of Object.keys(tc)) {
    if (key === 'index') continue
    if (key !== 'function' || !isObject(tc.function)) return false
    if (Object.keys(tc.function).some((k) => k !== 'arguments')) return false
  }
  return true
}
