import type { SseEvent } from '../sse/types.js'
import { DeltaTemplate, TemplateCache, type TemplateVar } from './delta-template.js'
import { RETRACTED, type FormatStream } from './format-stream.js'
import {
  allEmpty,
  dropEvent,
  emptyInspection,
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
import { isObject, type JsonObject } from './json.js'
import type { Path } from './json-strings.js'
import { outputKey, partKey, pushItem, pushPart, pushResponse, respChannel } from './openai-responses-items.js'
import type { TextSlot } from './types.js'

/**
 * OpenAI Responses API stream events. Every `response.<stream>.delta` with a string `delta`
 * (output_text, refusal, function_call_arguments, reasoning_summary_text, reasoning_text,
 * audio.transcript, custom_tool_call_input, mcp_call_arguments, code_interpreter_call_code and
 * whatever comes next) is a delta of channel `resp:<output>:<part>:<stream>`; the matching
 * `.done`, `content_part.done` and `output_item.done` close it and carry the whole text, and
 * `response.completed` carries everything again. Sequence numbers are renumbered once a carrier
 * is inserted, so they keep increasing by one per emitted event past that point.
 */

/** Delta events whose `delta` is binary (base64 audio), not text. */
const BINARY_DELTAS = new Set(['response.audio.delta'])
const LIFECYCLE = new Set(['response.created', 'response.in_progress', 'response.queued'])
const TERMINAL = new Set(['response.completed', 'response.incomplete', 'response.failed'])
/** The text field of a `.done` event, by preference. */
const DONE_FIELDS = ['text', 'refusal', 'arguments', 'input', 'code', 'transcript'] as const

interface ItemState {
  id: string
  type: string
  done: boolean
  /** Content parts added so far (the next part's index). */
  parts: number
  /** The open content part's index and type, -1 when none is open. */
  openPart: number
  openType: string
}

export class OpenAiResponsesStream implements FormatStream {
  readonly name = 'openai-responses' as const
  private response: JsonObject | undefined
  private readonly items = new Map<number | string, ItemState>()
  private nextOutput = 0
  /** Open delta channels → the last delta event seen on each, the template of its carriers. */
  private readonly channels = new Map<string, JsonObject>()
  /** Whether upstream events carry sequence_number (synthetic events then do too). */
  private numbered = false
  private seenAny = false
  /** Whether upstream events carry `event:` names (synthetic events then do too). */
  private named = true
  private offset = 0
  private lastSeq = -1
  private readonly deltas = new TemplateCache()

  fastInspect(ev: SseEvent): Inspection | undefined {
    return fastInspection(this.deltas, ev.data)
  }

  inspect(ev: SseEvent, parsed: unknown): Inspection {
    if (parsed === undefined) return rawInspection(ev, 'resp:raw', 'whole')
    if (!isObject(parsed) || typeof parsed.type !== 'string') return unknownInspection(ev, parsed, 'resp:other')
    if (!this.seenAny) {
      this.seenAny = true
      this.numbered = typeof parsed.sequence_number === 'number'
      this.named = ev.event !== undefined
    }
    const type = parsed.type
    const slots: TextSlot[] = []
    const paths: Path[] = []
    const done = (closes: readonly string[] | 'all' = NOTHING_CLOSED, ok = true): Inspection =>
      ok ? { parsed, slots, paths, closes, droppable: false } : rawInspection(ev, 'resp:raw', 'whole', closes)

    if (LIFECYCLE.has(type) || TERMINAL.has(type)) {
      if (isObject(parsed.response) && !TERMINAL.has(type)) this.response = parsed.response
      const ok = pushResponse(slots, paths, parsed.response, ['response'])
      return done(TERMINAL.has(type) ? 'all' : NOTHING_CLOSED, ok)
    }
    if (type === 'error') return unknownInspection(ev, parsed, 'resp:error')

    const output = outputKey(parsed)
    const part = partKey(parsed)
    switch (type) {
      case 'response.output_item.added': {
        const item = parsed.item
        if (isObject(item)) {
          this.items.set(output, { id: typeof item.id === 'string' ? item.id : '', type: String(item.type), done: false, parts: 0, openPart: -1, openType: '' })
          if (typeof output === 'number') this.nextOutput = Math.max(this.nextOutput, output + 1)
        }
        const ok = pushItem(slots, paths, item, ['item'], output, 'delta')
        this.openChannels(slots, parsed)
        return done(NOTHING_CLOSED, ok)
      }
      case 'response.output_item.done': {
        const st = this.items.get(output)
        if (st) st.done = true
        const ok = pushItem(slots, paths, parsed.item, ['item'], output, 'whole')
        return done(this.close(`resp:${output}:`), ok)
      }
      case 'response.content_part.added':
      case 'response.reasoning_summary_part.added': {
        const st = this.items.get(output)
        if (st && type === 'response.content_part.added' && typeof part === 'number') {
          st.parts = Math.max(st.parts, part + 1)
          st.openPart = part
          st.openType = isObject(parsed.part) ? String(parsed.part.type) : ''
        }
        const ok = pushPart(slots, paths, parsed.part, ['part'], output, part, 'delta')
        this.openChannels(slots, parsed)
        return done(NOTHING_CLOSED, ok)
      }
      case 'response.content_part.done':
      case 'response.reasoning_summary_part.done': {
        const st = this.items.get(output)
        if (st && st.openPart === part) st.openPart = -1
        const ok = pushPart(slots, paths, parsed.part, ['part'], output, part, 'whole')
        return done(this.close(`resp:${output}:${part}:`), ok)
      }
      case 'response.output_text.annotation.added':
        return emptyInspection(parsed)
    }
    if (type.endsWith('.delta') && type.startsWith('response.')) {
      if (BINARY_DELTAS.has(type) || typeof parsed.delta !== 'string') return emptyInspection(parsed)
      const channel = respChannel(output, part, type.slice(9, -6))
      this.channels.set(channel, parsed)
      if (parsed.delta === '') return emptyInspection(parsed)
      if (this.deltas.learning && (parsed.logprobs === undefined || (Array.isArray(parsed.logprobs) && parsed.logprobs.length === 0))) {
        const vars: TemplateVar[] = []
        if (typeof parsed.sequence_number === 'number') vars.push({ path: ['sequence_number'], kind: 'number' })
        if (typeof parsed.obfuscation === 'string') vars.push({ path: ['obfuscation'], kind: 'string' })
        this.deltas.learn(() =>
          DeltaTemplate.build(ev.data, parsed, ['delta'], vars, channel, true, () => {
            if (!this.channels.has(channel)) this.channels.set(channel, parsed)
          }),
        )
      }
      return { parsed, slots: [{ channel, kind: 'delta', text: parsed.delta }], paths: [['delta']], closes: NOTHING_CLOSED, droppable: true }
    }
    if (type.endsWith('.done') && type.startsWith('response.')) {
      const channel = respChannel(output, part, type.slice(9, -5))
      const field = DONE_FIELDS.find((f) => typeof parsed[f] === 'string')
      let ok = true
      if (field !== undefined) {
        const text = parsed[field] as string
        if (text !== '') {
          slots.push({ channel, kind: 'whole', text })
          paths.push([field])
        }
      } else {
        ok = pushScanned(slots, paths, parsed, [], channel)
      }
      return done(this.channels.delete(channel) ? [channel] : NOTHING_CLOSED, ok)
    }
    // Status events (web_search_call.searching…) have only structural strings; newer events
    // with text are moderated whole.
    return unknownInspection(ev, parsed, `resp:${type}`)
  }

  rebuild(ev: SseEvent, insp: Inspection, texts: readonly string[]): SseEvent | null {
    if (insp.fast) {
      const seq = Number.isNaN(insp.fast.seq) ? undefined : insp.fast.seq + this.offset
      const out = rebuildFast(ev, insp, texts, seq)
      if (out !== null && seq !== undefined) this.lastSeq = seq
      return out
    }
    const parsed = insp.parsed
    if (!isObject(parsed)) return rebuildJson(ev, insp, texts)
    let out = writeTexts(insp, texts) as JsonObject
    if (out !== parsed) {
      if (insp.droppable && allEmpty(insp, texts)) return dropEvent(ev)
      // Logprobs spell out the original tokens: once the text is rewritten they would leak it.
      if (Array.isArray(out.logprobs) && out.logprobs.length > 0) out = { ...out, logprobs: [] }
    }
    if (typeof parsed.sequence_number === 'number') {
      const seq = parsed.sequence_number + this.offset
      if (seq !== parsed.sequence_number) out = { ...out, sequence_number: seq }
      this.lastSeq = seq
    }
    return out === parsed ? ev : { ...ev, data: JSON.stringify(out) }
  }

  carrier(channel: string, text: string): SseEvent {
    let t = this.channels.get(channel)
    if (t === undefined) {
      const [, output = '0', part = '', stream = 'output_text'] = channel.split(':')
      const out = /^\d+$/.test(output) ? Number(output) : output
      t = { type: `response.${stream}.delta`, item_id: this.items.get(out)?.id ?? '', output_index: typeof out === 'number' ? out : 0 }
      if (/^\d+$/.test(part)) t.content_index = Number(part)
      else if (part.startsWith('s')) t.summary_index = Number(part.slice(1))
    }
    const { obfuscation: _o, sequence_number: _s, ...rest } = t
    const ev: JsonObject = { ...rest, delta: text }
    if (Array.isArray(ev.logprobs)) ev.logprobs = []
    return this.emit(ev, true)
  }

  endEvents(message: string, opts: { retraction: boolean }): SseEvent[] {
    const out: SseEvent[] = []
    if (this.response === undefined) {
      this.response = { id: 'resp_chaperone', object: 'response', created_at: 0, status: 'in_progress', model: '', output: [], usage: null }
      out.push(this.emit({ type: 'response.created', response: this.response }, false))
    }
    let target: [number | string, ItemState] | undefined
    for (const entry of this.items) if (entry[1].type === 'message' && !entry[1].done && entry[1].openType === 'output_text') target = entry
    if (target === undefined) {
      for (const entry of this.items) if (entry[1].type === 'message' && !entry[1].done) target = entry
    }
    if (target === undefined) {
      const index = this.nextOutput++
      const st: ItemState = { id: `msg_chaperone_${index}`, type: 'message', done: false, parts: 0, openPart: -1, openType: '' }
      this.items.set(index, st)
      target = [index, st]
      out.push(this.emit({ type: 'response.output_item.added', output_index: index, item: { id: st.id, type: 'message', status: 'in_progress', content: [], role: 'assistant' } }, false))
    }
    const [output, st] = target
    const outputIndex = typeof output === 'number' ? output : 0
    if (st.openType !== 'output_text' || st.openPart < 0) {
      st.openPart = st.parts++
      st.openType = 'output_text'
      out.push(
        this.emit(
          { type: 'response.content_part.added', item_id: st.id, output_index: outputIndex, content_index: st.openPart, part: { type: 'output_text', annotations: [], logprobs: [], text: '' } },
          false,
        ),
      )
    }
    out.push(this.emit({ type: 'response.output_text.delta', item_id: st.id, output_index: outputIndex, content_index: st.openPart, delta: message, logprobs: [] }, false))
    const notice = { id: st.id, type: 'message', status: 'incomplete', content: [{ type: 'output_text', annotations: [], logprobs: [], text: message }], role: 'assistant' }
    const final: JsonObject = {
      type: 'response.incomplete',
      response: { ...this.response, status: 'incomplete', incomplete_details: { reason: 'content_filter' }, output: [notice] },
    }
    if (opts.retraction) final.chaperone = RETRACTED
    out.push(this.emit(final, false))
    return out
  }

  /** Registers the delta channels that an `.added` event starts, so that carriers can address them. */
  private openChannels(slots: readonly TextSlot[], parsed: JsonObject): void {
    for (const s of slots) {
      if (s.kind !== 'delta' || this.channels.has(s.channel)) continue
      const [, , part = '', stream = 'output_text'] = s.channel.split(':')
      const t: JsonObject = { type: `response.${stream}.delta`, item_id: this.items.get(outputKey(parsed))?.id ?? parsed.item_id ?? '', output_index: parsed.output_index ?? 0 }
      if (/^\d+$/.test(part)) t.content_index = Number(part)
      else if (part.startsWith('s')) t.summary_index = Number(part.slice(1))
      this.channels.set(s.channel, t)
    }
  }

  /** Closes the open channels whose name starts with `prefix`. */
  private close(prefix: string): readonly string[] {
    let closed: string[] | undefined
    for (const channel of this.channels.keys()) {
      if (!channel.startsWith(prefix)) continue
      ;(closed ??= []).push(channel)
      this.channels.delete(channel)
    }
    return closed ?? NOTHING_CLOSED
  }

  /** A synthetic event, numbered after the last one emitted when the stream numbers its events. */
  private emit(body: JsonObject, shifts: boolean): SseEvent {
    let data = body
    if (this.numbered || !this.seenAny) {
      this.lastSeq++
      data = { type: body.type, sequence_number: this.lastSeq, ...body }
      if (shifts) this.offset++
    }
    return this.named ? { event: String(body.type), data: JSON.stringify(data) } : { data: JSON.stringify(data) }
  }
}
