import { pushScanned } from './inspection.js'
import { isObject, type JsonObject } from './json.js'
import type { Path } from './json-strings.js'
import type { TextSlot } from './types.js'

/**
 * Where the text is in OpenAI Responses output items, shared by stream events (output_item.*,
 * content_part.*, response.completed) and non-streamed `response` bodies.
 *
 * Channel names are `resp:<output_index>:<part>:<stream>`, where <stream> is the name the delta
 * events use (`response.<stream>.delta`) and <part> is the content index, `s<summary index>`, or
 * empty. Annotations (citations: titles and URLs of sources) are not moderated: they come from
 * tools, not from the model, and a rewritten URL is a broken link.
 */

export function respChannel(output: number | string, part: string | number, stream: string): string {
  return `resp:${output}:${part}:${stream}`
}

/** The key of an output item in channel names: its output_index, else its id. */
export function outputKey(ev: JsonObject): number | string {
  if (Number.isSafeInteger(ev.output_index)) return ev.output_index as number
  return typeof ev.item_id === 'string' ? ev.item_id : '?'
}

/** The <part> of a channel name for an event that addresses a content part or a summary part. */
export function partKey(ev: JsonObject): string | number {
  if (Number.isSafeInteger(ev.content_index)) return ev.content_index as number
  if (Number.isSafeInteger(ev.summary_index)) return `s${ev.summary_index as number}`
  return ''
}

/** A content part (`output_text`, `refusal`, `reasoning_text`, `summary_text`): its text field and stream. */
export function partText(part: unknown): { field: string; stream: string } | undefined {
  if (!isObject(part)) return undefined
  switch (part.type) {
    case 'output_text':
      return { field: 'text', stream: 'output_text' }
    case 'refusal':
      return { field: 'refusal', stream: 'refusal' }
    case 'reasoning_text':
      return { field: 'text', stream: 'reasoning_text' }
    case 'summary_text':
      return { field: 'text', stream: 'reasoning_summary_text' }
    default:
      return undefined
  }
}

/** Pushes one part's text (or, for an unknown part type, every non-structural string). */
export function pushPart(slots: TextSlot[], paths: Path[], part: unknown, base: Path, output: number | string, key: string | number, kind: TextSlot['kind']): boolean {
  const t = partText(part)
  if (t === undefined) return pushScanned(slots, paths, part, base, respChannel(output, key, 'part'))
  const text = (part as JsonObject)[t.field]
  if (typeof text === 'string' && text !== '') {
    slots.push({ channel: respChannel(output, key, t.stream), kind, text })
    paths.push([...base, t.field])
  }
  return true
}

/** Item fields that stream as deltas: item type → [field, stream name]. */
const ITEM_FIELDS: Record<string, readonly (readonly [string, string])[]> = {
  function_call: [['arguments', 'function_call_arguments']],
  custom_tool_call: [['input', 'custom_tool_call_input']],
  mcp_call: [
    ['arguments', 'mcp_call_arguments'],
    ['output', 'mcp_call_output'],
    ['error', 'mcp_call_error'],
  ],
  code_interpreter_call: [['code', 'code_interpreter_call_code']],
}

/** Item types without text: their strings are ids, statuses or opaque payloads. */
const SILENT_ITEMS = new Set(['image_generation_call', 'computer_call', 'computer_call_output', 'file_search_call', 'mcp_list_tools', 'mcp_approval_request'])

/**
 * Pushes the texts of one output item found at `base`. `kind` is 'delta' for the initial text
 * of a just-added item (it starts the channel the deltas continue) and 'whole' otherwise.
 * Returns false when an unknown item nests too deep to walk.
 */
export function pushItem(slots: TextSlot[], paths: Path[], item: unknown, base: Path, output: number | string, kind: TextSlot['kind']): boolean {
  if (!isObject(item)) return true
  const type = typeof item.type === 'string' ? item.type : ''
  if (type === 'message' || type === 'reasoning') {
    let ok = true
    if (type === 'reasoning' && Array.isArray(item.summary)) {
      item.summary.forEach((p, k) => {
        ok = pushPart(slots, paths, p, [...base, 'summary', k], output, `s${k}`, kind) && ok
      })
    }
    if (Array.isArray(item.content)) {
      item.content.forEach((p, k) => {
        ok = pushPart(slots, paths, p, [...base, 'content', k], output, k, kind) && ok
      })
    }
    return ok
  }
  const fields = ITEM_FIELDS[type]
  if (fields !== undefined) {
    for (const [field, stream] of fields) {
      const text = item[field]
      if (typeof text === 'string' && text !== '') {
        slots.push({ channel: respChannel(output, '', stream), kind, text })
        paths.push([...base, field])
      }
    }
    if (type === 'code_interpreter_call' && Array.isArray(item.outputs)) {
      item.outputs.forEach((o, k) => {
        if (isObject(o) && typeof o.logs === 'string' && o.logs !== '') {
          slots.push({ channel: respChannel(output, '', 'code_interpreter_call_logs'), kind: 'whole', text: o.logs })
          paths.push([...base, 'outputs', k, 'logs'])
        }
      })
    }
    return true
  }
  if (SILENT_ITEMS.has(type)) return true
  // web_search_call queries, newer item types: whatever string is not structural.
  return pushScanned(slots, paths, item, base, respChannel(output, '', type || 'item'))
}

/** The texts of a `response` object's output (and the `output_text` some servers add). */
export function pushResponse(slots: TextSlot[], paths: Path[], response: unknown, base: Path): boolean {
  if (!isObject(response)) return true
  let ok = true
  if (Array.isArray(response.output)) {
    response.output.forEach((item, i) => {
      ok = pushItem(slots, paths, item, [...base, 'output', i], i, 'whole') && ok
    })
  }
  if (typeof response.output_text === 'string' && response.output_text !== '') {
    slots.push({ channel: 'resp:output_text', kind: 'whole', text: response.output_text })
    paths.push([...base, 'output_text'])
  }
  if (isObject(response.error) && typeof response.error.message === 'string' && response.error.message !== '') {
    slots.push({ channel: 'resp:error', kind: 'whole', text: response.error.message })
    paths.push([...base, 'error', 'message'])
  }
  return ok
}
