import type { SseEvent } from '../sse/types.js'
import { RETRACTED, type FormatStream } from './format-stream.js'
import { NOTHING_CLOSED, rawInspection, rebuildJson, type Inspection } from './inspection.js'
import { isObject, setIn, type JsonObject } from './json.js'
import { scanStrings, type Path } from './json-strings.js'
import type { TextSlot } from './types.js'

/**
 * Any other text/event-stream. One channel per event name (`plain:<name>`, 'message' when the
 * event has none): the data is the text, as a browser's EventSource hands it over.
 *
 * Data that is a JSON object is a custom chatbot protocol ({"token":"Hel"}): each string value
 * outside structural keys is then its own delta channel, `plain:<name>:<path>`, so that text
 * split over events joins up and JSON escapes are decoded before moderation. Keys, numbers and
 * structural keys (ids, types…) are not text. Data that is any other JSON value (42, "x", [1])
 * stays raw text: a token stream may well send a bare number.
 *
 * Event names are not text (a client dispatches on them, it does not show them); comment and
 * id lines are not either, and pass through untouched. Events named like an end (done, end,
 * complete, error…) close every channel, so that held text is flushed before them.
 */

const END_NAMES = new Set(['done', 'end', 'complete', 'completed', 'close', 'stop', 'finish', 'finished', 'error'])

interface PlainChannel {
  event: string | undefined
  /** For a JSON channel: the last event of the channel, and where its texts were. */
  template?: JsonObject
  path?: Path
  paths?: readonly Path[]
}

export class PlainStream implements FormatStream {
  readonly name = 'plain' as const
  private readonly channels = new Map<string, PlainChannel>()

  /** Raw text needs no parsing; JSON objects of a custom protocol take the full path. */
  fastInspect(): undefined {
    return undefined
  }

  inspect(ev: SseEvent, parsed: unknown): Inspection {
    const name = ev.event ?? 'message'
    const closes = END_NAMES.has(name.toLowerCase()) ? 'all' : NOTHING_CLOSED
    if (isObject(parsed)) {
      const slots: TextSlot[] = []
      const paths: Path[] = []
      const ok = scanStrings(parsed, [], (path, text) => {
        slots.push({ channel: `plain:${name}:${path.join('.')}`, kind: 'delta', text })
        paths.push(path)
      })
      if (ok) {
        slots.forEach((s, i) => this.channels.set(s.channel, { event: ev.event, template: parsed, path: paths[i]!, paths }))
        return { parsed, slots, paths, closes, droppable: false }
      }
    }
    const channel = `plain:${name}`
    if (!this.channels.has(channel)) this.channels.set(channel, { event: ev.event })
    return rawInspection(ev, channel, 'delta', closes)
  }

  rebuild(ev: SseEvent, insp: Inspection, texts: readonly string[]): SseEvent | null {
    return rebuildJson(ev, insp, texts)
  }

  carrier(channel: string, text: string): SseEvent {
    const info = this.channels.get(channel)
    const named = info?.event !== undefined ? { event: info.event } : {}
    if (info?.template === undefined || info.path === undefined) return { ...named, data: text }
    // The channel's last event again, with this channel's text and every other text emptied.
    let data: unknown = info.template
    for (const p of info.paths ?? []) data = setIn(data, p, p === info.path ? text : '') ?? data
    return { ...named, data: JSON.stringify(data) }
  }

  endEvents(message: string, opts: { retraction: boolean }): SseEvent[] {
    const body: JsonObject = { error: { type: 'chaperone_error', code: 'content_policy_violation', message } }
    if (opts.retraction) body.chaperone = RETRACTED
    return [{ event: 'error', data: JSON.stringify(body) }]
  }
}
