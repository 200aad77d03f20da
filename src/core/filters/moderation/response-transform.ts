import type { ResponseTransform, ResponseUnit } from '../../chain/types.js'
import type { SseEvent } from '../../sse/types.js'
import { blockedBody, createStreamCodec, responseBodyCodec, type StreamCodec } from '../../formats/index.js'
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
  private done = false

  constructor(
    private readonly policy: CompiledModeration,
    private readonly opts: ModeratorOptions,
    private readonly blockMessage: string,
    path: string,
  ) {
    this.codec = createStreamCodec({ path })
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
      if (step.block) {
        // What was checked before the stop still reaches the client, in carriers of its channel.
        slots.forEach((s, i) => i < texts.length && s.kind === 'delta' && this.carry(emit, s.channel, texts[i]!))
        if (slot.kind === 'delta') this.carry(emit, slot.channel, step.text)
        return this.block(emit, step.retraction === true)
      }
      texts.push(step.text)
    }

    const closes = this.codec.closes(ev)
    const closing = closes === 'all' ? [...this.channels.keys()] : closes.filter((c) => this.channels.has(c))
    for (const channel of closing) {
      const step: Step = await this.channels.get(channel)!.end()
      this.channels.delete(channel)
      if (step.block) {
        slots.forEach((s, i) => s.kind === 'delta' && this.carry(emit, s.channel, texts[i]!))
        this.carry(emit, channel, step.text)
        return this.block(emit, step.retraction === true)
      }
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
    if (!this.streamed.has(channel)) return moderateWhole(this.policy, this.opts, text)
    const { onFinding: _f, metrics: _m, ...quiet } = this.opts
    return moderateWhole(this.policy, quiet, text)
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
      const r = await moderateWhole(this.policy, { ...this.opts, onFinding: () => {} }, ev.id)
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
