import type { SseEvent } from '../sse/types.js'
import { isObject, setIn, type JsonObject } from './json.js'
import { scanStrings, type Path } from './json-strings.js'
import { spliceDelta, type FastDelta, type TemplateCache } from './delta-template.js'
import type { TextSlot } from './types.js'

/**
 * What one format's stream codec learned from one event: the slots, where each slot's text sits
 * in the parsed data, and what the event closes. Built once per event (it also updates the
 * codec's state), then used by extract, closes and rebuild alike.
 */
export interface Inspection {
  /** The parsed JSON data; undefined when the slot's text is the raw data itself. */
  readonly parsed: unknown
  readonly slots: TextSlot[]
  /** Path of each slot's text in `parsed`; unused for raw data. */
  readonly paths: Path[]
  readonly closes: readonly string[] | 'all'
  /** The event is a pure delta: once every slot is '' it carries nothing a client needs. */
  readonly droppable: boolean
  /** Set when the event matched a delta template instead of being parsed (`parsed` is then undefined). */
  readonly fast?: FastDelta
}

export const NOTHING_CLOSED: readonly string[] = Object.freeze([])

export function emptyInspection(parsed: unknown, closes: readonly string[] | 'all' = NOTHING_CLOSED): Inspection {
  return { parsed, slots: [], paths: [], closes, droppable: false }
}

/** The whole data of the event as one slot: non-JSON data, or JSON too deep to walk. */
export function rawInspection(ev: SseEvent, channel: string, kind: TextSlot['kind'], closes: readonly string[] | 'all' = NOTHING_CLOSED): Inspection {
  if (ev.data === '') return emptyInspection(undefined, closes)
  return { parsed: undefined, slots: [{ channel, kind, text: ev.data }], paths: [[]], closes, droppable: kind === 'delta' }
}

/**
 * An event of a known format that the codec does not know (a newer event type): every string
 * outside structural keys is a whole slot, so nothing a client could render passes
 * unmoderated. An error event (an `error` object, or type "error") ends the stream for the SDKs,
 * so it closes every channel; only its messages are text (codes and params are enums).
 */
export function unknownInspection(ev: SseEvent, parsed: unknown, channel: string): Inspection {
  if (isObject(parsed) && (isObject(parsed.error) || parsed.type === 'error')) return errorInspection(parsed, channel)
  const slots: TextSlot[] = []
  const paths: Path[] = []
  if (!pushScanned(slots, paths, parsed, [], channel)) return rawInspection(ev, channel, 'whole')
  return { parsed, slots, paths, closes: NOTHING_CLOSED, droppable: false }
}

function errorInspection(parsed: JsonObject, channel: string): Inspection {
  const slots: TextSlot[] = []
  const paths: Path[] = []
  if (typeof parsed.message === 'string' && parsed.message !== '') {
    slots.push({ channel, kind: 'whole', text: parsed.message })
    paths.push(['message'])
  }
  const err = parsed.error
  if (isObject(err) && typeof err.message === 'string' && err.message !== '') {
    slots.push({ channel, kind: 'whole', text: err.message })
    paths.push(['error', 'message'])
  }
  return { parsed, slots, paths, closes: 'all', droppable: false }
}

/** Adds whole slots for every non-structural string under `root` (found at `base`). */
export function pushScanned(slots: TextSlot[], paths: Path[], root: unknown, base: Path, channel: string): boolean {
  return scanStrings(root, base, (path, text) => {
    slots.push({ channel, kind: 'whole', text })
    paths.push(path)
  })
}

/** The parsed data with every changed text written at its path; `insp.parsed` when none changed. */
export function writeTexts(insp: Inspection, texts: readonly string[]): unknown {
  let out = insp.parsed
  const n = Math.min(texts.length, insp.slots.length)
  for (let i = 0; i < n; i++) {
    const text = texts[i]
    if (typeof text !== 'string' || text === insp.slots[i]!.text) continue
    out = setIn(out, insp.paths[i]!, text, true) ?? out
  }
  return out
}

/** Every slot's new text is '' (and there is at least one slot). */
export function allEmpty(insp: Inspection, texts: readonly string[]): boolean {
  if (insp.slots.length === 0) return false
  for (let i = 0; i < insp.slots.length; i++) if (texts[i] !== '') return false
  return true
}

/**
 * What is left of an event whose text was all held back: nothing, or a comment-only block when
 * the event also carried an id, a retry or comments (the client's Last-Event-ID and keep-alive
 * handling must not change because text was held).
 */
export function dropEvent(ev: SseEvent): SseEvent | null {
  if (ev.id === undefined && ev.retry === undefined && !ev.comments?.length) return null
  const out: SseEvent = { data: '', commentOnly: true }
  if (ev.comments?.length) out.comments = ev.comments
  if (ev.id !== undefined) out.id = ev.id
  if (ev.retry !== undefined) out.retry = ev.retry
  return out
}

/** Generic JSON rebuild: texts written back, a pure delta dropped when all of it was held. */
export function rebuildJson(ev: SseEvent, insp: Inspection, texts: readonly string[]): SseEvent | null {
  if (insp.parsed === undefined) return rebuildRaw(ev, insp, texts)
  const out = writeTexts(insp, texts)
  if (out === insp.parsed) return ev
  if (insp.droppable && allEmpty(insp, texts)) return dropEvent(ev)
  return { ...ev, data: JSON.stringify(out) }
}

export function rebuildRaw(ev: SseEvent, insp: Inspection, texts: readonly string[]): SseEvent | null {
  const slot = insp.slots[0]
  const text = texts[0]
  if (slot === undefined || typeof text !== 'string' || text === slot.text) return ev
  if (text === '' && insp.droppable) return dropEvent(ev)
  return { ...ev, data: text }
}

/** `data` as JSON when it can be an object (the only JSON any supported format sends). */
export function parseObject(data: string): unknown {
  let i = 0
  while (i < data.length && (data.charCodeAt(i) === 0x20 || data.charCodeAt(i) === 0x09 || data.charCodeAt(i) === 0x0a)) i++
  if (data.charCodeAt(i) !== 0x7b /* { */) return undefined
  try {
    return JSON.parse(data) as unknown
  } catch {
    return undefined
  }
}

/** The inspection of an event that matched a delta template of `cache`, or undefined. */
export function fastInspection(cache: TemplateCache, data: string): Inspection | undefined {
  const m = cache.match(data)
  if (m === undefined) return undefined
  m.template.touch()
  return { parsed: undefined, slots: [{ channel: m.template.channel, kind: 'delta', text: m.text }], paths: [], closes: NOTHING_CLOSED, droppable: m.template.droppable, fast: m }
}

/** Rebuild of a template-matched event: the text (and sequence number) spliced into the data. */
export function rebuildFast(ev: SseEvent, insp: Inspection, texts: readonly string[], seq?: number): SseEvent | null {
  const m = insp.fast!
  const text = texts[0]
  const changed = typeof text === 'string' && text !== m.text
  if (changed && text === '' && insp.droppable) return dropEvent(ev)
  const newSeq = seq !== undefined && seq !== m.seq ? seq : undefined
  if (!changed && newSeq === undefined) return ev
  return { ...ev, data: spliceDelta(ev.data, m, changed ? text : undefined, newSeq) }
}
