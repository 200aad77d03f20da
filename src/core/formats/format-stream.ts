import type { SseEvent } from '../sse/types.js'
import type { Inspection } from './inspection.js'
import type { FormatName } from './types.js'

/**
 * One format's half of a StreamCodec. createStreamCodec routes each event to one of these and
 * keeps the per-event cache; an implementation keeps the stream state its format needs
 * (open channels, templates for carriers, what endEvents must open or close).
 */
export interface FormatStream {
  readonly name: FormatName
  /** Reads one event (`parsed` is its JSON object, undefined when the data is not JSON). */
  inspect(ev: SseEvent, parsed: unknown): Inspection
  /** The inspection of a delta that matches a learned template, without parsing it; else undefined. */
  fastInspect(ev: SseEvent): Inspection | undefined
  rebuild(ev: SseEvent, insp: Inspection, texts: readonly string[]): SseEvent | null
  carrier(channel: string, text: string): SseEvent
  endEvents(message: string, opts: { retraction: boolean }): SseEvent[]
}

/** The marker a client can detect on the final event of a retracted stream. */
export const RETRACTED = Object.freeze({ retracted: true })
