import type { SseEvent } from '../sse/types.js'
import { blockChannel, pushBlock, pushBlocks } from './anthropic-blocks.js'
import { RETRACTED, type FormatStream } from './format-stream.js'
import { DeltaTemplate, TemplateCache } from './delta-template.js'
import { emptyInspection, fastInspection, NOTHING_CLOSED, rawInspection, rebuildFast, rebuildJson, unknownInspection, type Inspection } from './inspection.js'
import { isObject, type JsonObject } from './json.js'
import type { Path } from './json-strings.js'
import type { TextSlot } from './types.js'

/**
 * Anthropic Messages stream events. Each content block is one channel, `anthropic:block<index>`:
 * text_delta, thinking_delta and input_json_delta (tool input as JSON text) continue it,
 * content_block_stop closes it. message_delta (the stop reason) and message_stop close all.
 * The SDKs dispatch on the SSE `event:` name, so every synthetic event carries one.
 */

const DELTA_FIELDS: Record<string, string> = { text_delta: 'text', thinking_delta: 'thinking', input_json_delta: 'partial_json' }
const CARRIER_DELTA: Record<string, [string, string]> = {
  text: ['text_delta', 'text'],
  thinking: ['thinking_delta', 'thinking'],
  tool_use: ['input_json_delta', 'partial_json'],
  server_tool_use: ['input_json_delta', 'partial_json'],
  mcp_tool_use: ['input_json_delta', 'partial_json'],
}
/** Deltas that carry no text a client renders. */
const SILENT_DELTAS = new Set(['signature_delta', 'citations_delta'])

interface BlockState {
  type: string
  open: boolean
}

export class AnthropicStream implements FormatStream {
  readonly name = 'anthropic' as const
  private started = false
  private outputTokens = 0
  private readonly blocks = new Map<number, BlockState>()
  private nextIndex = 0
  private readonly deltas = new TemplateCache()

  fastInspect(ev: SseEvent): Inspection | undefined {
    return fastInspection(this.deltas, ev.data)
  }

  inspect(ev: SseEvent, parsed: unknown): Inspection {
    if (parsed === undefined) return rawInspection(ev, 'anthropic:raw', 'whole')
    if (!isObject(parsed)) return unknownInspection(ev, parsed, 'anthropic:other')
    const slots: TextSlot[] = []
    const paths: Path[] = []
    switch (parsed.type) {
      case 'message_start': {
        this.started = true
        const m = parsed.message
        if (isObject(m)) this.tokens(m.usage)
        const ok = isObject(m) ? pushBlocks(slots, paths, m.content, ['message', 'content']) : true
        return ok ? { parsed, slots, paths, closes: NOTHING_CLOSED, droppable: false } : rawInspection(ev, 'anthropic:raw', 'whole')
      }
      case 'content_block_start': {
        const index = blockIndex(parsed)
        const block = parsed.content_block
        if (index !== undefined) {
          this.blocks.set(index, { type: isObject(block) && typeof block.type === 'string' ? block.type : '', open: true })
          this.nextIndex = Math.max(this.nextIndex, index + 1)
        }
        const ok = pushBlock(slots, paths, block, ['content_block'], index ?? '?', 'delta')
        return ok ? { parsed, slots, paths, closes: NOTHING_CLOSED, droppable: false } : rawInspection(ev, 'anthropic:raw', 'whole')
      }
      case 'content_block_delta': {
        const delta = parsed.delta
        const channel = blockChannel(blockIndex(parsed) ?? '?')
        if (!isObject(delta) || typeof delta.type !== 'string') return unknownInspection(ev, parsed, channel)
        const field = DELTA_FIELDS[delta.type]
        if (field === undefined) return SILENT_DELTAS.has(delta.type) ? emptyInspection(parsed) : unknownInspection(ev, parsed, channel)
        const text = delta[field]
        if (typeof text !== 'string' || text === '') return emptyInspection(parsed)
        if (this.deltas.learning) this.deltas.learn(() => DeltaTemplate.build(ev.data, parsed, ['delta', field], [], channel, true, noop))
        return { parsed, slots: [{ channel, kind: 'delta', text }], paths: [['delta', field]], closes: NOTHING_CLOSED, droppable: true }
      }
      case 'content_block_stop': {
        const index = blockIndex(parsed)
        const st = index === undefined ? undefined : this.blocks.get(index)
        if (st === undefined || !st.open) return emptyInspection(parsed)
        st.open = false
        return emptyInspection(parsed, [blockChannel(index!)])
      }
      case 'message_delta':
        this.tokens(parsed.usage)
        return emptyInspection(parsed, 'all')
      case 'message_stop':
        return emptyInspection(parsed, 'all')
      case 'ping':
        return emptyInspection(parsed)
      default:
        // error events and newer types: every non-structural string, whole.
        return unknownInspection(ev, parsed, 'anthropic:other')
    }
  }

  rebuild(ev: SseEvent, insp: Inspection, texts: readonly string[]): SseEvent | null {
    return insp.fast ? rebuildFast(ev, insp, texts) : rebuildJson(ev, insp, texts)
  }

  carrier(channel: string, text: string): SseEvent {
    const index = Number(/block(\d+)$/.exec(channel)?.[1] ?? 0)
    const [type, field] = CARRIER_DELTA[this.blocks.get(index)?.type ?? 'text'] ?? CARRIER_DELTA.text!
    return event('content_block_delta', { type: 'content_block_delta', index, delta: { type, [field]: text } })
  }

  endEvents(message: string, opts: { retraction: boolean }): SseEvent[] {
    const out: SseEvent[] = []
    if (!this.started) {
      this.started = true
      out.push(
        event('message_start', {
          type: 'message_start',
          message: { id: 'msg_chaperone', type: 'message', role: 'assistant', model: '', content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 0, output_tokens: 0 } },
        }),
      )
    }
    let target: number | undefined
    for (const [index, st] of this.blocks) {
      if (!st.open) continue
      if (st.type === 'text' && target === undefined) {
        target = index
        continue
      }
      st.open = false
      out.push(event('content_block_stop', { type: 'content_block_stop', index }))
    }
    if (target === undefined) {
      target = this.nextIndex++
      this.blocks.set(target, { type: 'text', open: true })
      out.push(event('content_block_start', { type: 'content_block_start', index: target, content_block: { type: 'text', text: '' } }))
    }
    this.blocks.get(target)!.open = false
    out.push(event('content_block_delta', { type: 'content_block_delta', index: target, delta: { type: 'text_delta', text: message } }))
    out.push(event('content_block_stop', { type: 'content_block_stop', index: target }))
    const stop: JsonObject = { type: 'message_delta', delta: { stop_reason: 'refusal', stop_sequence: null }, usage: { output_tokens: this.outputTokens } }
    if (opts.retraction) stop.chaperone = RETRACTED
    out.push(event('message_delta', stop))
    out.push(event('message_stop', { type: 'message_stop' }))
    return out
  }

  private tokens(usage: unknown): void {
    if (isObject(usage) && typeof usage.output_tokens === 'number') this.outputTokens = usage.output_tokens
  }
}

const noop = (): void => {}

function blockIndex(ev: JsonObject): number | undefined {
  return Number.isSafeInteger(ev.index) ? (ev.index as number) : undefined
}

function event(name: string, data: JsonObject): SseEvent {
  return { event: name, data: JSON.stringify(data) }
}
