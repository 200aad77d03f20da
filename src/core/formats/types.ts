import type { SseEvent } from '../sse/types.js'

/**
 * The one interface the moderation filter uses over every API format: where the text a client
 * renders sits in a stream event or a JSON body, and how to put moderated text back there.
 */

export type FormatName = 'openai-chat' | 'openai-responses' | 'anthropic' | 'openai-completions' | 'plain'

/**
 * One piece of text in an event or body.
 *
 * `channel` names where consecutive deltas of one text live ('c0:content', 'c0:tool1',
 * 'anthropic:block2', 'resp:0:0:output_text', 'plain:message'); it is stable for the whole
 * stream. A `whole` slot (a done event, a JSON body field, a field of an unknown event) is a
 * complete text moderated on its own; it carries the name of the delta channel it summarizes
 * when there is one, for logs only: held text is never written into a whole slot.
 *
 * A `delta` slot whose text is '' on an event that closes its channel (an OpenAI chat chunk with
 * finish_reason) is a place where the channel's flushed held text can ride: write it there
 * instead of emitting a carrier.
 */
export interface TextSlot {
  channel: string
  kind: 'delta' | 'whole'
  text: string
  /** The author of a request text (system, user, assistant, tool…), when the format says. */
  role?: string
}

/**
 * Per-stream state over one response stream. The filter calls, for every upstream event in
 * order: `extract`, then `closes`, then emits the carriers it needs, then `rebuild` — on EVERY
 * event, including those without slots (texts = []): the Responses API numbers its events and
 * rebuild renumbers them once a carrier was inserted. Every event that rebuild, carrier and
 * endEvents return must be emitted, in the order they were returned.
 */
export interface StreamCodec {
  /**
   * The stream's format: the first event of a known format decides it for good; until then the
   * path hint's guess, or 'plain' once an event of no known format arrived (a later event of a
   * known format still overrides 'plain'). undefined before anything is known.
   */
  readonly format: FormatName | undefined
  /** Texts carried by the event, in stream order; [] for events without text. */
  extract(ev: SseEvent): TextSlot[]
  /**
   * Channels this event closes after its own text, or 'all'. Held text of a closed channel must
   * be flushed before this event is emitted: into the event's own empty delta slot for that
   * channel when it has one, otherwise in `carrier()` events emitted just before it.
   */
  closes(ev: SseEvent): readonly string[] | 'all'
  /**
   * The event with each slot's text replaced (texts in extract's order). Returns `ev` itself
   * when nothing changed; null (or a comment-only event keeping its id and comments) when every
   * delta slot became '' and the event carries nothing else a client needs.
   */
  rebuild(ev: SseEvent, texts: readonly string[]): SseEvent | null
  /** A synthetic event carrying `text` for `channel` (a channel this stream's extract named). */
  carrier(channel: string, text: string): SseEvent
  /**
   * Events that end the stream after a moderation stop, in the stream's format: the
   * user-facing `message`, a stop reason of content_filter / refusal, then a clean end. With
   * `retraction` (a late verdict on text already sent), the event carrying the stop reason also
   * carries `"chaperone": {"retracted": true}` (in the JSON data of an error event for plain).
   */
  endEvents(message: string, opts: { retraction: boolean }): SseEvent[]
}

/** Text extraction and rebuilding for one JSON body (a non-streamed response or a request). */
export interface BodyCodec {
  readonly format: FormatName
  /** Every text a client renders (or, for a request, the model reads), as whole slots. */
  extract(body: unknown): TextSlot[]
  /** A copy with each slot's text replaced (extract's order); `body` itself when nothing changed. */
  rebuild(body: unknown, texts: readonly string[]): unknown
}
