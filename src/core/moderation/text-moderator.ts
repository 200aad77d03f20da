import type { Classifier, ModerationAction, ModerationDirection, ModerationMetricsPort } from '../ports.js'
import { createNormalizer } from './normalize/index.js'
import { ClassifierWindows } from './classifier-windows.js'
import { classifyWithin, overThreshold } from './classify.js'
import type { CompiledModeration, ModerationRule, RuleRef } from './rules.js'
import type { CompiledMatcher, Hit, IncrementalNormalizer, StreamScanner, TextView } from './types.js'
import { stringView } from './string-view.js'

/** A rule that matched, with its span in the original text of the channel. */
export interface Finding {
  readonly rule: number
  readonly name: string
  readonly action: ModerationAction
  readonly shadow: boolean
  /** PII type, classifier label, or undefined. */
  readonly label?: string
  readonly score?: number
  /** [start, end) in original UTF-16 code units, absolute in this channel. */
  readonly start: number
  readonly end: number
  /** Only with captureExcerpts (the preview API): the span as normalized. */
  readonly normalized?: string
}

export interface Step {
  /** Original text that is now safe to send, with redactions applied; '' while all is held. */
  readonly text: string
  /** A block rule matched: nothing more of this channel (or its stream) may be sent. */
  readonly block?: Finding
  /** The block is a late classifier verdict on text already sent (async mode). */
  readonly retraction?: boolean
}

export interface ModeratorOptions {
  /** active[i] !== 0 when rule i applies to this text (direction, `when`). */
  readonly active: Uint8Array
  readonly direction: ModerationDirection
  readonly onFinding?: (f: Finding) => void
  readonly captureExcerpts?: boolean
  readonly metrics?: ModerationMetricsPort
}

interface BoundScanner {
  readonly scanner: StreamScanner
  readonly view: TextView
  readonly refs: readonly (readonly RuleRef[])[]
}

interface Span {
  readonly start: number
  readonly end: number
  readonly rule: number
  readonly label: string | undefined
}

/** A closed classifier window: its folded text and its span in the original text. */
interface Window {
  readonly text: string
  readonly start: number
  readonly end: number
  /** Set when the detector is confident of it. */
  language: string | undefined
}

function keywordHit(matcher: CompiledMatcher, text: string): boolean {
  const hits: Hit[] = []
  matcher.scanner().scan(stringView(text), true, hits)
  return hits.length > 0
}

const EMPTY: Step = Object.freeze({ text: '' })

/**
 * The hold-back stream for one text channel (one choice's content, one tool call's arguments,
 * one request message). Text is released only once no active rule can still match across what
 * is held: the normalizer's pending tail, each scanner's open suffix (a keyword prefix, a PII
 * candidate, a regex candidate within maxMatchLength) and, for inline classifiers, the open
 * window. Nothing else is held, so the first token is not delayed by a fixed window.
 *
 * push()/end() are synchronous unless an inline classifier has a window to score.
 */
export class TextModerator {
  private readonly norm: IncrementalNormalizer
  private readonly scanners: BoundScanner[] = []
  private readonly hits: Hit[] = []
  /** Held original text; held[0] is at absolute offset `base`. */
  private held = ''
  private base = 0
  private spans: Span[] = []
  private blocked: Finding | undefined
  private lateBlock: Finding | undefined
  /** A block was returned: the channel is over. */
  private stopped = false
  private ended = false
  /** The most text held at once, observed when the channel ends. */
  private maxHeld = 0
  private readonly inline: number[] = []
  private readonly async: number[] = []
  private readonly windows: ClassifierWindows | undefined
  private readonly closed: Array<readonly [number, number]> = []
  private readonly outstanding = new Set<Promise<void>>()
  /** Original text from absolute offset origBase: the open window's, for language detection. */
  private orig = ''
  private origBase = 0

  constructor(
    private readonly policy: CompiledModeration,
    private readonly opts: ModeratorOptions,
  ) {
    this.norm = createNormalizer({ decodeBase64: policy.decodeBase64 })
    for (const b of policy.matchers) {
      if (!b.refs.some((refs) => refs.some((r) => opts.active[r.rule]))) continue
      this.scanners.push({ scanner: b.matcher.scanner(), view: b.matcher.view === 'literal' ? this.norm.literal : this.norm.folded, refs: b.refs })
    }
    policy.rules.forEach((r, i) => {
      if (!r.classifier || !opts.active[i]) return
      ;(r.classifier.mode === 'inline' ? this.inline : this.async).push(i)
    })
    if (this.inline.length + this.async.length > 0) this.windows = new ClassifierWindows(policy.classifierWindow)
  }

  push(text: string): Step | Promise<Step> {
    if (this.stopped || this.ended) return EMPTY
    // Verdicts that arrived between pushes (async classifiers) are delivered first.
    if (this.blocked) return this.stop(this.blocked, false)
    if (this.lateBlock) return this.stop(this.lateBlock, true)
    this.held += text
    if (this.policy.languageDetector && this.windows) this.keepOriginal(text)
    this.norm.push(text)
    return this.advance(false)
  }

  end(): Step | Promise<Step> {
    if (this.stopped || this.ended) return EMPTY
    if (this.blocked) return this.stop(this.blocked, false)
    if (this.lateBlock) return this.stop(this.lateBlock, true)
    this.norm.end()
    const step = this.advance(true)
    // A late verdict still counts while the stream has not ended for the client.
    if (!(step instanceof Promise) && this.outstanding.size === 0) return this.finish(step)
    return Promise.resolve(step).then(async (s) => {
      while (this.outstanding.size > 0) await Promise.all(this.outstanding)
      return this.finish(s)
    })
  }

  /**
   * The original text of the open window, for language detection. Bounded: past a few windows'
   * worth (text that normalization drops, such as invisible characters) the oldest part goes,
   * and detection then reads the folded window instead.
   */
  private keepOriginal(text: string): void {
    this.orig += text
    const max = 4 * this.policy.classifierWindow + 1024
    if (this.orig.length > max) {
      const drop = this.orig.length - max
      this.orig = this.orig.slice(drop)
      this.origBase += drop
    }
  }

  /** Code units currently held back from the client. */
  get holding(): number {
    return this.held.length
  }

  private finish(step: Step): Step {
    this.ended = true
    this.opts.metrics?.holdback(this.maxHeld)
    if (step.block || this.stopped) return step
    if (this.blocked) return { ...this.stop(this.blocked, false), text: step.text }
    if (this.lateBlock) return { ...this.stop(this.lateBlock, true), text: step.text }
    return step
  }

  private advance(final: boolean): Step | Promise<Step> {
    const hits = this.hits
    for (let i = 0; i < this.scanners.length; i++) {
      const s = this.scanners[i]!
      s.scanner.scan(s.view, final, hits)
      if (hits.length === 0) continue
      for (const h of hits) {
        for (const ref of s.refs[h.id]!) {
          if (this.opts.active[ref.rule]) this.record(ref.rule, ref.label, s.view, h.start, h.end)
        }
      }
      hits.length = 0
    }
    if (!this.windows) return this.release(final)
    const folded = this.norm.folded
    this.windows.advance(folded, final, this.closed)
    if (this.closed.length === 0) return this.release(final)
    const closed = this.closed.splice(0)
    // Window offsets are mapped to the original now: the view may be trimmed before the verdict.
    const windows: Window[] = closed.map(([a, b]) => ({ text: folded.slice(a, b), start: folded.origStart(a), end: folded.origEnd(b - 1), language: undefined }))
    const detector = this.policy.languageDetector
    if (detector) {
      for (const w of windows) {
        // The original text, not the folded one: folding maps Cyrillic look-alikes to Latin.
        const d = detector.detect(this.orig.slice(Math.max(0, w.start - this.origBase), Math.max(0, w.end - this.origBase)) || w.text)
        // A guess the detector is not sure of (a short window) stays with the model.
        if (d.reliable && d.language) w.language = d.language
      }
      const open = this.windows.openFrom()
      const keepFrom = open < folded.length ? folded.origStart(open) : this.base + this.held.length
      if (keepFrom > this.origBase) {
        this.orig = this.orig.slice(Math.min(this.orig.length, keepFrom - this.origBase))
        this.origBase = keepFrom
      }
    }
    if (this.async.length > 0) this.scoreAsync(windows)
    if (this.inline.length === 0) return this.release(final)
    return this.scoreInline(windows).then(() => this.release(final))
  }

  private async scoreInline(windows: readonly Window[]): Promise<void> {
    await Promise.all(this.inline.map((i) => this.score(i, windows)))
  }

  private scoreAsync(windows: readonly Window[]): void {
    for (const i of this.async) {
      const p: Promise<void> = this.score(i, windows).finally(() => this.outstanding.delete(p))
      this.outstanding.add(p)
    }
  }

  /**
   * The cascade: a window that a cheaper rule (keyword, regex, PII) already blocked is not
   * scored, since none of it can be sent. Windows in a language the classifier does not cover go
   * to the rule's fallback; the rest go to the classifier in one call.
   */
  private async score(ruleIndex: number, windows: readonly Window[]): Promise<void> {
    const rule = this.policy.rules[ruleIndex]!
    const c = rule.classifier!
    const metrics = this.opts.metrics
    const toModel: Window[] = []
    const other: Window[] = []
    for (const w of windows) {
      if (this.blocked && !this.blocked.shadow && w.end > this.blocked.start) {
        metrics?.window?.(rule.name, c.classifier.name, 'cascade_blocked')
        continue
      }
      if (c.languages && w.language !== undefined && !c.languages.has(w.language)) {
        metrics?.window?.(rule.name, c.classifier.name, 'unsupported_language')
        other.push(w)
        continue
      }
      metrics?.window?.(rule.name, c.classifier.name, 'model')
      toModel.push(w)
    }
    await Promise.all([
      toModel.length > 0 ? this.classifyWindows(ruleIndex, c.classifier, c.thresholds, toModel) : undefined,
      other.length > 0 ? this.otherLanguages(ruleIndex, other) : undefined,
    ])
  }

  private async classifyWindows(ruleIndex: number, classifier: Classifier, thresholds: Readonly<Record<string, number>>, windows: readonly Window[]): Promise<void> {
    const rule = this.policy.rules[ruleIndex]!
    const c = rule.classifier!
    const out = await classifyWithin(classifier, windows.map((w) => w.text), c.timeoutMs)
    if (out.kind !== 'scores') {
      this.opts.metrics?.onError(rule.name, c.onError, out.kind)
      if (c.onError === 'block') this.recordOriginal(ruleIndex, out.kind, windows[0]!.start, windows[windows.length - 1]!.end, undefined, undefined)
      return
    }
    out.scores.forEach((scores, i) => {
      const over = overThreshold(scores, thresholds)
      const w = windows[i]!
      if (over) this.recordOriginal(ruleIndex, over.label, w.start, w.end, over.score, this.opts.captureExcerpts ? w.text : undefined)
    })
  }

  /**
   * Windows the rule's classifier was not trained for: the keyword lists and the fallback
   * classifier of the rule decide; where neither covers the language, the window is flagged so
   * that it is never passed as clean without a trace.
   */
  private async otherLanguages(ruleIndex: number, windows: readonly Window[]): Promise<void> {
    const o = this.policy.rules[ruleIndex]!.classifier!.otherLanguages
    const byClassifier = o?.classifier ? windows.filter((w) => !o.classifier!.languages || o.classifier!.languages.has(w.language!)) : []
    for (const w of windows) {
      const covered = byClassifier.includes(w)
      if (o?.keywords && keywordHit(o.keywords, w.text)) this.recordOriginal(ruleIndex, `language:${w.language}`, w.start, w.end, undefined, this.opts.captureExcerpts ? w.text : undefined)
      else if (!covered && !o?.keywords) this.recordOriginal(ruleIndex, 'unsupported_language', w.start, w.end, undefined, this.opts.captureExcerpts ? w.text : undefined, 'flag')
    }
    if (byClassifier.length > 0) await this.classifyWindows(ruleIndex, o!.classifier!.classifier, o!.classifier!.thresholds, byClassifier)
  }

  private record(ruleIndex: number, label: string | undefined, view: TextView, a: number, b: number): void {
    this.recordOriginal(ruleIndex, label, view.origStart(a), view.origEnd(b - 1), undefined, this.opts.captureExcerpts ? view.slice(a, b) : undefined)
  }

  private recordOriginal(ruleIndex: number, label: string | undefined, start: number, end: number, score: number | undefined, normalized: string | undefined, action?: ModerationAction): void {
    const rule: ModerationRule = this.policy.rules[ruleIndex]!
    const f: Finding = {
      rule: ruleIndex,
      name: rule.name,
      action: action ?? rule.action,
      shadow: rule.shadow,
      ...(label !== undefined ? { label } : {}),
      ...(score !== undefined ? { score } : {}),
      start,
      end,
      ...(normalized !== undefined ? { normalized } : {}),
    }
    this.opts.metrics?.hit(rule.name, f.action, rule.shadow, this.opts.direction)
    this.opts.onFinding?.(f)
    if (rule.shadow || f.action === 'flag') return
    if (f.action === 'block') {
      // A verdict on text that has already left (an async classifier) can only retract.
      if (start < this.base) this.lateBlock ??= f
      else this.blocked ??= f
      return
    }
    if (start < this.base) return // redacting text already sent is impossible; async redaction is refused at load
    this.addSpan({ start, end, rule: ruleIndex, label })
  }

  private addSpan(s: Span): void {
    const spans = this.spans
    let i = spans.length
    while (i > 0 && spans[i - 1]!.start > s.start) i--
    spans.splice(i, 0, s)
  }

  private release(final: boolean): Step {
    if (this.lateBlock) return this.stop(this.lateBlock, true)
    const total = this.base + this.held.length
    let r = final ? total : Math.min(total, this.norm.pending)
    let foldedFloor = this.norm.folded.length
    let literalFloor = this.norm.literal.length
    if (!final) {
      for (const s of this.scanners) {
        const h = s.scanner.holdFrom()
        if (h < s.view.length) r = Math.min(r, s.view.origStart(h))
        if (s.view === this.norm.folded) foldedFloor = Math.min(foldedFloor, h)
        else literalFloor = Math.min(literalFloor, h)
      }
      if (this.windows) {
        const open = this.windows.openFrom()
        foldedFloor = Math.min(foldedFloor, open)
        if (this.inline.length > 0 && open < this.norm.folded.length) r = Math.min(r, this.norm.folded.origStart(open))
      }
    }
    // Checked text before a blocked span still goes out, then the block.
    const block = this.blocked
    if (block) r = Math.min(r, block.start)
    // A redaction is released whole or not at all.
    for (let moved = this.spans.length > 0; moved; ) {
      moved = false
      for (const sp of this.spans) {
        if (sp.start < r && sp.end > r) {
          r = sp.start
          moved = true
        }
      }
    }
    if (r <= this.base) {
      if (this.held.length > this.maxHeld) this.maxHeld = this.held.length
      return block ? this.stop(block, false) : EMPTY
    }
    const out = this.cut(r)
    if (block) return { ...this.stop(block, false), text: out }
    this.norm.folded.trim(foldedFloor)
    this.norm.literal.trim(literalFloor)
    if (this.held.length > this.maxHeld) this.maxHeld = this.held.length
    return { text: out }
  }

  /** Removes held[base, r) and returns it with its redactions applied. */
  private cut(r: number): string {
    if (this.spans.length === 0) {
      const n = r - this.base
      const out = n === this.held.length ? this.held : this.held.slice(0, n)
      this.held = n === this.held.length ? '' : this.held.slice(n)
      this.base = r
      return out
    }
    let out = ''
    let at = this.base
    let n = 0
    const spans = this.spans
    while (n < spans.length && spans[n]!.start < r) {
      const first = spans[n]!
      let end = first.end
      n++
      // Overlapping spans merge: the union is masked once, with the first rule's mask.
      while (n < spans.length && spans[n]!.start < end) end = Math.max(end, spans[n++]!.end)
      const start = Math.max(first.start, at)
      if (end <= start) continue
      out += this.held.slice(at - this.base, start - this.base)
      out += this.policy.rules[first.rule]!.mask(this.held.slice(start - this.base, end - this.base), first.label)
      at = end
    }
    if (n > 0) this.spans = spans.slice(n)
    out += this.held.slice(at - this.base, r - this.base)
    this.held = this.held.slice(r - this.base)
    this.base = r
    return out
  }

  private stop(f: Finding, retraction: boolean): Step {
    this.stopped = true
    this.blocked = f
    this.held = ''
    this.spans = []
    return retraction ? { text: '', block: f, retraction: true } : { text: '', block: f }
  }
}

/** Moderates one complete text (a request message, a JSON body field, a done event). */
export function moderateWhole(policy: CompiledModeration, opts: ModeratorOptions, text: string): Step | Promise<Step> {
  const m = new TextModerator(policy, opts)
  const first = m.push(text)
  const join = (a: Step, b: Step): Step => (a.block ? a : b.block ? { ...b, text: a.text + b.text } : { text: a.text + b.text })
  if (first instanceof Promise) {
    return first.then((a) => {
      const b = m.end()
      return b instanceof Promise ? b.then((bb) => join(a, bb)) : join(a, b)
    })
  }
  const second = m.end()
  return second instanceof Promise ? second.then((b) => join(first, b)) : join(first, second)
}
