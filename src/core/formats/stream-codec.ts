import type { SseEvent } from '../sse/types.js'
import { AnthropicStream } from './anthropic-stream.js'
import { detectEvent, formatForPath } from './detect.js'
import type { FormatStream } from './format-stream.js'
import { emptyInspection, parseObject, type Inspection } from './inspection.js'
import { OpenAiChatStream } from './openai-chat-stream.js'
import { OpenAiCompletionsStream } from './openai-completions.js'
import { OpenAiResponsesStream } from './openai-responses-stream.js'
import { PlainStream } from './plain-stream.js'
import type { FormatName, StreamCodec, TextSlot } from './types.js'

const CLOSE_ALL = emptyInspection(undefined, 'all')
const PASS = emptyInspection(undefined)

/**
 * One codec per response stream: reads the format off the events, routes each event to that
 * format's codec and remembers the last event's inspection, so that extract, closes and rebuild
 * of one event parse its JSON once and update the stream state once.
 *
 * Until an event identifies a known format, events of no known format are plain text. Once one
 * has, the stream keeps that format: a later event it does not know is moderated field by field
 * (every non-structural string, whole) rather than as raw JSON text.
 */
export function createStreamCodec(hint?: { path?: string }): StreamCodec {
  return new MultiFormatStream(formatForPath(hint?.path))
}

class MultiFormatStream implements StreamCodec {
  private current: FormatName | undefined
  /** The current format was read off an event that no other format sends. */
  private locked = false
  private readonly streams = new Map<FormatName, FormatStream>()
  private lastEvent: SseEvent | undefined
  private lastInspection: Inspection = PASS
  private lastStream: FormatStream | undefined

  constructor(guess: FormatName | undefined) {
    this.current = guess
  }

  get format(): FormatName | undefined {
    return this.current
  }

  extract(ev: SseEvent): TextSlot[] {
    return this.inspect(ev).slots
  }

  closes(ev: SseEvent): readonly string[] | 'all' {
    return this.inspect(ev).closes
  }

  rebuild(ev: SseEvent, texts: readonly string[]): SseEvent | null {
    const insp = this.inspect(ev)
    return this.lastStream === undefined ? ev : this.lastStream.rebuild(ev, insp, texts)
  }

  carrier(channel: string, text: string): SseEvent {
    const name = channel.startsWith('plain:') || this.current === undefined ? 'plain' : this.current
    return this.stream(name).carrier(channel, text)
  }

  endEvents(message: string, opts: { retraction: boolean }): SseEvent[] {
    return this.stream(this.current ?? 'plain').endEvents(message, opts)
  }

  private inspect(ev: SseEvent): Inspection {
    if (ev === this.lastEvent) return this.lastInspection
    this.lastEvent = ev
    this.lastStream = undefined
    if (ev.commentOnly) return (this.lastInspection = PASS)
    if (ev.data === '[DONE]') return (this.lastInspection = CLOSE_ALL)
    if (this.locked) {
      const stream = this.stream(this.current!)
      this.lastStream = stream
      const fast = stream.fastInspect(ev)
      return (this.lastInspection = fast ?? stream.inspect(ev, parseObject(ev.data)))
    }
    const parsed = parseObject(ev.data)
    const d = parsed === undefined ? undefined : detectEvent(parsed)
    let name: FormatName = 'plain'
    if (d !== undefined) {
      name = d.format
      this.locked = d.strong
    }
    this.current = name
    const stream = this.stream(name)
    this.lastStream = stream
    return (this.lastInspection = stream.inspect(ev, parsed))
  }

  private stream(name: FormatName): FormatStream {
    let s = this.streams.get(name)
    if (s === undefined) {
      s = makeStream(name)
      this.streams.set(name, s)
    }
    return s
  }
}

function makeStream(name: FormatName): FormatStream {
  switch (name) {
    case 'openai-chat':
      return new OpenAiChatStream()
    case 'openai-completions':
      return new OpenAiCompletionsStream()
    case 'openai-responses':
      return new OpenAiResponsesStream()
    case 'anthropic':
      return new AnthropicStream()
    case 'plain':
      return new PlainStream()
  }
}
