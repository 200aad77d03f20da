import type { SseEvent } from '../sse/types.js'
import { RETRACTED, type FormatStream } from './format-stream.js'
import { DeltaTemplate, TemplateCache } from './delta-template.js'
import { fastInspection, NOTHING_CLOSED, rawInspection, rebuildFast, rebuildJson, unknownInspection, type Inspection } from './inspection.js'
import { isObject, keyOf, type JsonObject } from './json.js'
import type { Path } from './json-strings.js'
import type { TextSlot } from './types.js'

/**
 * Legacy OpenAI completions (`text_completion`): `choices[].text` in stream chunks and bodies,
 * `prompt` (and `suffix`) in requests. Channel `c<choice>:text`.
 */

const TOP_KEYS = new Set(['id', 'object', 'created', 'model', 'system_fingerprint', 'usage', 'choices'])
const CHOICE_KEYS = new Set(['index', 'text', 'logprobs', 'finish_reason'])

export function isCompletion(v: unknown): v is JsonObject & { choices: unknown[] } {
  if (!isObject(v) || !Array.isArray(v.choices)) return false
  if (v.object === 'text_completion') return true
  if (v.object !== undefined && v.object !== '') return false
  return v.choices.some((c) => isObject(c) && typeof c.text === 'string')
}

/** The texts of a completion chunk or body; `kind` says which. */
export function locateCompletionTexts(root: JsonObject & { choices: unknown[] }, kind: TextSlot['kind'], slots: TextSlot[], paths: Path[]): void {
  const seen = new Set<number>()
  root.choices.forEach((c, pos) => {
    const index = keyOf(c, pos)
    if (!isObject(c) || seen.has(index)) return
    seen.add(index)
    if (typeof c.text === 'string' && c.text !== '') {
      slots.push({ channel: `c${index}:text`, kind, text: c.text })
      paths.push(['choices', pos, 'text'])
    }
  })
}

export class OpenAiCompletionsStream implements FormatStream {
  readonly name = 'openai-completions' as const
  /** Choices with text since they started or last finished. */
  private readonly open = new Set<number>()
  private readonly seen = new Set<number>()
  private readonly finished = new Set<number>()
  private template: JsonObject = { id: 'cmpl-chaperone', object: 'text_completion', created: 0, model: '' }
  private readonly deltas = new TemplateCache()

  fastInspect(ev: SseEvent): Inspection | undefined {
    return fastInspection(this.deltas, ev.data)
  }

  inspect(ev: SseEvent, parsed: unknown): Inspection {
    if (parsed === undefined) return rawInspection(ev, 'completions:raw', 'whole')
    if (!isCompletion(parsed)) return unknownInspection(ev, parsed, 'completions:other')
    if (typeof parsed.id === 'string' && parsed.id !== this.template.id) {
      this.template = { id: parsed.id, object: 'text_completion', created: parsed.created ?? 0, model: parsed.model ?? '' }
    }
    const slots: TextSlot[] = []
    const paths: Path[] = []
    locateCompletionTexts(parsed, 'delta', slots, paths)
    for (const s of slots) this.open.add(Number(s.channel.slice(1, s.channel.indexOf(':'))))
    let closes: string[] | undefined
    parsed.choices.forEach((c, pos) => {
      const index = keyOf(c, pos)
      this.seen.add(index)
      if (!isObject(c) || typeof c.finish_reason !== 'string') return
      this.finished.add(index)
      if (!this.open.delete(index)) return
      const channel = `c${index}:text`
      ;(closes ??= []).push(channel)
      if (!slots.some((s) => s.channel === channel)) {
        slots.push({ channel, kind: 'delta', text: '' })
        paths.push(['choices', pos, 'text'])
      }
    })
    const droppable = isPureDelta(parsed)
    const c = parsed.choices[0]
    if (droppable && slots.length === 1 && parsed.choices.length === 1 && isObject(c) && c.logprobs == null && this.deltas.learning) {
      const index = keyOf(c, 0)
      this.deltas.learn(() => DeltaTemplate.build(ev.data, parsed, paths[0]!, [], slots[0]!.channel, true, () => this.open.add(index)))
    }
    return { parsed, slots, paths, closes: closes ?? NOTHING_CLOSED, droppable }
  }

  rebuild(ev: SseEvent, insp: Inspection, texts: readonly string[]): SseEvent | null {
    return insp.fast ? rebuildFast(ev, insp, texts) : rebuildJson(ev, insp, texts)
  }

  carrier(channel: string, text: string): SseEvent {
    const index = Number(/^c(\d+):/.exec(channel)?.[1] ?? 0)
    return { data: JSON.stringify({ ...this.template, choices: [{ text, index, logprobs: null, finish_reason: null }] }) }
  }

  endEvents(message: string, opts: { retraction: boolean }): SseEvent[] {
    let targets = [...this.seen].filter((i) => !this.finished.has(i))
    // Every choice already finished (a late verdict): the notice goes to all of them.
    if (targets.length === 0) targets = this.seen.size > 0 ? [...this.seen] : [0]
    const chunk: JsonObject = {
      ...this.template,
      choices: targets.map((index) => ({ text: message, index, logprobs: null, finish_reason: 'content_filter' })),
    }
    if (opts.retraction) chunk.chaperone = RETRACTED
    return [{ data: JSON.stringify(chunk) }, { data: '[DONE]' }]
  }
}

function isPureDelta(chunk: JsonObject & { choices: unknown[] }): boolean {
  if (chunk.usage != null || chunk.choices.length === 0) return false
  for (const key of Object.keys(chunk)) if (!TOP_KEYS.has(key)) return false
  for (const c of chunk.choices) {
    if (!isObject(c) || c.finish_reason != null || typeof c.text !== 'string') return false
    for (const key of Object.keys(c)) if (!CHOICE_KEYS.has(key)) return false
  }
  return true
}

/** `prompt` (a string or an array of strings; token arrays carry no text) and `suffix`. */
export function locateCompletionRequest(body: JsonObject, slots: TextSlot[], paths: Path[]): void {
  const prompt = body.prompt
  if (typeof prompt === 'string') {
    if (prompt !== '') {
      slots.push({ channel: 'prompt', kind: 'whole', text: prompt, role: 'user' })
      paths.push(['prompt'])
    }
  } else if (Array.isArray(prompt)) {
    prompt.forEach((p, i) => {
      if (typeof p === 'string' && p !== '') {
        slots.push({ channel: `prompt:${i}`, kind: 'whole', text: p, role: 'user' })
        paths.push(['prompt', i])
      }
    })
  }
  if (typeof body.suffix === 'string' && body.suffix !== '') {
    slots.push({ channel: 'suffix', kind: 'whole', text: body.suffix, role: 'user' })
    paths.push(['suffix'])
  }
}
