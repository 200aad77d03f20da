import type { ResponseTransform, ResponseUnit } from '../../chain/types.js'
import type { SseEvent } from '../../sse/types.js'
import { blockedBody, createStreamCodec, responseBodyCodec, type StreamCodec, type TextSlot } from '../../formats/index.js'
import type { CompiledModeration } from '../../moderation/rules.js'
import { moderateWhole, TextModerator, type ModeratorOptions, type Step } from '../../moderation/text-moderator.js'

type Emit = (u: ResponseUnit) => void

/**
 * Moderates one response. Each text channel of the stream (a choice's content, a tool call's
 * arguments…) has its own hold-back moderator; released text is written back into the
 * upstream's own events, held text rides on a later event of its channel (or on a synthetic
 * one in the same format before the event that closes the channel). A block ends the stream
 * with the format's own final events and cuts the upstream.
 */
export class ResponseModeration implements ResponseTransform {
  private readonly codec: StreamCodec
  private readonly channels = new Map<string, TextModerator>()
  /** Channels that had deltas: their done events repeat text already counted. */
  private readonly streamed = new Set<string>()
  /** For done events, whose text was counted when its deltas were checked: not counted again. */
  private readonly quiet: ModeratorOptions
  /** For `id:` values: counted, but not logged as a match of the answer. */
  private readonly unlogged: ModeratorOptions
  private done = false

  constructor(
    private readonly policy: CompiledModeration,
    private readonly opts: ModeratorOptions,
    private readonly blockMessage: string,
    path: string,
  ) {
    this.codec = createStreamCodec({ path })
    const { onFinding: _f, ...unlogged } = opts
    const { metrics: _m, ...quiet } = unlogged
    this.unlogged = unlogged
    this.quiet = quiet
  }

  async transform(unit: ResponseUnit, emit: Emit): Promise<void> {
    if (this.done) return
    if (unit.kind === 'json') return this.json(unit.body, emit)
    if (unit.kind !== 'sse') return emit(unit)
    const ev = await this.sanitize(unit.event)
    if (ev === undefined) return this.block(emit, false)
    if (ev.commentOnly) return emit({ kind: 'sse', event: ev })

    const slots = this.codec.extract(ev)
    const texts: string[] = []
    for (const slot of slots) {
      const step = slot.kind === 'delta' ? await this.channel(slot.channel).push(slot.text) : await this.whole(slot.channel, slot.text)
      if (step.block) return this.stopAfter(emit, slots, texts, slot.kind === 'delta' ? slot.channel : undefined, step)
      texts.push(step.text)
    }

    const closes = this.codec.closes(ev)
    const closing = closes === 'all' ? [...this.channels.keys()] : closes.length === 0 ? closes : closes.filter((c) => this.channels.has(c))
    for (const channel of closing) {
      const step: Step = await this.channels.get(channel)!.end()
      this.channels.delete(channel)
      if (step.block) return this.stopAfter(emit, slots, texts, channel, step)
      if (step.text === '') continue
      // Held text goes out before the event that closes its channel: in it when it has a slot
      // of that channel, else in a carrier event of the same format just before it.
      const own = slots.findIndex((s) => s.kind === 'delta' && s.channel === channel)
      if (own !== -1) texts[own] += step.text
      else emit({ kind: 'sse', event: this.codec.carrier(channel, step.text) })
    }

    // rebuild runs on every event: a format that numbers its events renumbers after a carrier.
    const out = this.codec.rebuild(ev, texts)
    if (out) emit({ kind: 'sse', event: out })
  }

  async flush(emit: Emit): Promise<void> {
    if (this.done) return
    for (const [channel, m] of [...this.channels]) {
      const step = await m.end()
      this.channels.delete(channel)
      this.carry(emit, channel, step.text)
      if (step.block) return this.block(emit, step.retraction === true)
    }
  }

  /**
   * A complete text: a done event repeating what its deltas said (counted once, when the deltas
   * were checked, so it is re-checked quietly), or a text that was never streamed.
   */
  private whole(channel: string, text: string): Step | Promise<Step> {
    return moderateWhole(this.policy, this.streamed.has(channel) ? this.quiet : this.opts, text)
  }

  /**
   * A block in the middle of an event: what was checked before it still reaches the client, in
   * carriers of its channels (the event's earlier slots, then the blocked channel's released
   * text), and then the stream ends.
   */
  private stopAfter(emit: Emit, slots: readonly TextSlot[], texts: readonly string[], channel: string | undefined, step: Step): void {
    texts.forEach((text, i) => slots[i]!.kind === 'delta' && this.carry(emit, slots[i]!.channel, text))
    if (channel !== undefined) this.carry(emit, channel, step.text)
    this.block(emit, step.retraction === true)
  }

  private carry(emit: Emit, channel: string, text: string): void {
    if (text !== '') emit({ kind: 'sse', event: this.codec.carrier(channel, text) })
  }

  private channel(name: string): TextModerator {
    let m = this.channels.get(name)
    if (!m) {
      this.channels.set(name, (m = new TextModerator(this.policy, this.opts)))
      this.streamed.add(name)
    }
    return m
  }

  /**
   * Comments and `id:` values reach a client's event handlers without being content, so they
   * could carry text around the moderator: comments become empty keep-alives, and an id that
   * matches any acting rule is dropped. undefined means the id itself must block the stream.
   */
  private async sanitize(ev: SseEvent): Promise<SseEvent | undefined> {
    let out = ev
    if (ev.comments && ev.comments.some((c) => c !== '')) out = { ...out, comments: [''] }
    if (ev.id !== undefined && ev.id !== '') {
      const r = await moderateWhole(this.policy, this.unlogged, ev.id)
      if (r.block) return undefined
      if (r.text !== ev.id) {
        const { id: _drop, ...rest } = out
        out = rest
        if (out.commentOnly && !out.comments && out.retry === undefined) out = { ...out, comments: [''] }
      }
    }
    return out
  }

  private async json(body: unknown, emit: Emit): Promise<void> {
    const codec = responseBodyCodec(body)
    if (!codec) return emit({ kind: 'json', body })
    const slots = codec.extract(body)
    const texts: string[] = []
    for (const slot of slots) {
      const step = await moderateWhole(this.policy, this.opts, slot.text)
      if (step.block) {
        this.done = true
        return emit({ kind: 'json', body: blockedBody(body, this.blockMessage) })
      }
      texts.push(step.text)
    }
    emit({ kind: 'json', body: slots.length === 0 ? body : codec.rebuild(body, texts) })
  }

  private block(emit: Emit, retraction: boolean): void {
    this.done = true
    this.channels.clear()
    for (const event of this.codec.endEvents(this.blockMessage, { retraction })) emit({ kind: 'sse', event })
    emit({ kind: 'end', reason: retraction ? 'moderation retraction' : 'moderation block' })
  }
}
