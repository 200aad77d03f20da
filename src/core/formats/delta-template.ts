import { setIn } from './json.js'
import type { Path } from './json-strings.js'

/**
 * The fast path for the events that make up nearly all of a stream: text deltas whose JSON is,
 * byte for byte, the previous delta's except for the text (and a sequence number or an
 * obfuscation pad). JSON.parse of a 200-byte chunk costs several microseconds; comparing the
 * fixed parts of a known shape with startsWith and scanning the few characters of the text
 * costs a fraction of that, and the rebuilt event is spliced, not re-serialized.
 *
 * Safety: a template is only built from an event that was fully parsed and whose data is
 * exactly JSON.stringify of its parse (canonical), so its fixed parts are that object's own
 * serialization. An event matches only when every fixed part is equal at its place and each
 * hole is one well-formed JSON string (or integer) token; such an event parses to the template's
 * object with other values in the holes. Anything else takes the full path.
 */

const QUOTE = 0x22
const BACKSLASH = 0x5c

type HoleKind = 'string' | 'number'

export interface TemplateVar {
  path: Path
  kind: HoleKind
}

/** What one matching event holds: the decoded text, and where the text and number are in it. */
export interface FastDelta {
  readonly template: DeltaTemplate
  readonly text: string
  readonly textStart: number
  readonly textEnd: number
  /** The sequence number hole's value and span; seq is NaN when the shape has none. */
  readonly seq: number
  readonly seqStart: number
  readonly seqEnd: number
}

/** Markers no canonical JSON can contain unescaped: the serializer escapes control characters. */
const MARK = (i: number) => `\u0001${i}\u0001`

export class DeltaTemplate {
  private constructor(
    private readonly parts: readonly string[],
    private readonly kinds: readonly HoleKind[],
    private readonly textHole: number,
    private readonly seqHole: number,
    /** The channel and droppability every matching event shares. */
    readonly channel: string,
    readonly droppable: boolean,
    /** Replays the state change the full path makes for such an event (an opened channel). */
    readonly touch: () => void,
  ) {}

  /**
   * A template from a fully parsed event, or undefined when its data is not canonical JSON.
   * `vars` are the other values that change from one delta to the next (sequence_number,
   * obfuscation); `seqPath` names the one to expose as a number.
   */
  static build(
    data: string,
    parsed: unknown,
    textPath: Path,
    vars: readonly TemplateVar[],
    channel: string,
    droppable: boolean,
    touch: () => void,
  ): DeltaTemplate | undefined {
    let canonical: string
    try {
      canonical = JSON.stringify(parsed)
    } catch {
      return undefined
    }
    if (canonical !== data) return undefined
    const holes: { path: Path; kind: HoleKind; text: boolean }[] = [{ path: textPath, kind: 'string', text: true }, ...vars.map((v) => ({ ...v, text: false }))]
    let marked: unknown = parsed
    for (let i = 0; i < holes.length; i++) {
      marked = setIn(marked, holes[i]!.path, MARK(i))
      if (marked === undefined) return undefined
    }
    const s = JSON.stringify(marked)
    // Each marker appears once, as the escaped form JSON.stringify gives a control character.
    const found: { at: number; end: number; hole: number }[] = []
    for (let i = 0; i < holes.length; i++) {
      const inner = JSON.stringify(MARK(i)).slice(1, -1)
      const at = s.indexOf(inner)
      if (at === -1 || s.indexOf(inner, at + 1) !== -1) return undefined
      // A string hole keeps its quotes in the fixed parts; a number hole had none.
      found.push(holes[i]!.kind === 'string' ? { at, end: at + inner.length, hole: i } : { at: at - 1, end: at + inner.length + 1, hole: i })
    }
    found.sort((a, b) => a.at - b.at)
    const parts: string[] = []
    const kinds: HoleKind[] = []
    let textHole = -1
    let seqHole = -1
    let from = 0
    for (const f of found) {
      parts.push(s.slice(from, f.at))
      const h = holes[f.hole]!
      if (h.text) textHole = kinds.length
      else if (h.kind === 'number') seqHole = kinds.length
      kinds.push(h.kind)
      from = f.end
    }
    parts.push(s.slice(from))
    return new DeltaTemplate(parts, kinds, textHole, seqHole, channel, droppable, touch)
  }

  match(data: string): FastDelta | undefined {
    const parts = this.parts
    const kinds = this.kinds
    let pos = 0
    let textStart = 0
    let textEnd = 0
    let escaped = false
    let seqStart = 0
    let seqEnd = 0
    for (let i = 0; i < kinds.length; i++) {
      const lit = parts[i]!
      if (!fixedAt(data, pos, lit)) return undefined
      pos += lit.length
      const start = pos
      if (kinds[i] === 'string') {
        let esc = false
        for (;;) {
          if (pos >= data.length) return undefined
          const c = data.charCodeAt(pos)
          if (c === QUOTE) break
          if (c < 0x20) return undefined
          if (c === BACKSLASH) {
            esc = true
            pos += 2
          } else pos++
        }
        if (i === this.textHole) {
          textStart = start
          textEnd = pos
          escaped = esc
        }
      } else {
        while (pos < data.length) {
          const c = data.charCodeAt(pos)
          if (c < 0x30 || c > 0x39) break
          pos++
        }
        if (pos === start || pos - start > 15) return undefined
        if (i === this.seqHole) {
          seqStart = start
          seqEnd = pos
        }
      }
    }
    const last = parts[kinds.length]!
    if (data.length !== pos + last.length || !fixedAt(data, pos, last)) return undefined
    let text = data.slice(textStart, textEnd)
    if (escaped) {
      try {
        text = JSON.parse('"' + text + '"') as string
      } catch {
        return undefined
      }
    }
    const seq = this.seqHole === -1 ? NaN : Number(data.slice(seqStart, seqEnd))
    return { template: this, text, textStart, textEnd, seq, seqStart, seqEnd }
  }
}

/**
 * Whether `data` holds `lit` at `pos`. Comparing a slice is several times faster in V8 than
 * startsWith with a position, which walks the characters one by one.
 */
function fixedAt(data: string, pos: number, lit: string): boolean {
  return data.slice(pos, pos + lit.length) === lit
}

/** The event's data with a new text and, when given, a new sequence number spliced in. */
export function spliceDelta(data: string, m: FastDelta, text: string | undefined, seq: number | undefined): string {
  const t = text === undefined ? undefined : JSON.stringify(text).slice(1, -1)
  const s = seq === undefined || Number.isNaN(m.seq) ? undefined : String(seq)
  if (t !== undefined && s !== undefined) {
    return m.seqStart < m.textStart
      ? data.slice(0, m.seqStart) + s + data.slice(m.seqEnd, m.textStart) + t + data.slice(m.textEnd)
      : data.slice(0, m.textStart) + t + data.slice(m.textEnd, m.seqStart) + s + data.slice(m.seqEnd)
  }
  if (t !== undefined) return data.slice(0, m.textStart) + t + data.slice(m.textEnd)
  if (s !== undefined) return data.slice(0, m.seqStart) + s + data.slice(m.seqEnd)
  return data
}

/**
 * The few delta shapes of one stream (one per channel, usually one in all), most recent first.
 * Stops learning after a run of deltas that no template matched: an upstream whose deltas
 * differ in more than the text (a per-event timestamp), or that formats its JSON its own way,
 * would otherwise pay for building a template on every event.
 */
export class TemplateCache {
  private readonly templates: DeltaTemplate[] = []
  private misses = 0

  match(data: string): FastDelta | undefined {
    const list = this.templates
    for (let i = 0; i < list.length; i++) {
      const m = list[i]!.match(data)
      if (m === undefined) continue
      if (i > 0) {
        list.splice(i, 1)
        list.unshift(m.template)
      }
      this.misses = 0
      return m
    }
    return undefined
  }

  /** Called for a pure delta that took the full path; `build` runs only while worth it. */
  learn(build: () => DeltaTemplate | undefined): void {
    if (this.misses >= 8) return
    if (++this.misses === 8) {
      // Nothing matched for a while: the shapes held are stale, stop paying to try them.
      this.templates.length = 0
      return
    }
    const t = build()
    if (t === undefined) return
    this.templates.unshift(t)
    if (this.templates.length > 4) this.templates.pop()
  }

  /** Whether learn() would still try: lets a caller skip gathering what build needs. */
  get learning(): boolean {
    return this.misses < 8
  }
}
