import { createStreamCodec, type StreamCodec } from '../formats/index.js'
import { isObject, parseJson } from '../formats/json.js'
import type { SseEvent } from '../sse/types.js'
import { TokenCounter, type Encoding } from './estimate.js'

/**
 * The tokens a response used, as the upstream reports them. `input` is the whole prompt in every
 * format: OpenAI's prompt_tokens and input_tokens include cached tokens, Anthropic's input_tokens
 * does not, so its cache writes and reads are added back.
 */
export interface Usage {
  input: number
  output: number
}

/** The usage of a whole JSON response (chat, legacy, Responses, Anthropic); undefined when it reports none. */
export function usageFromBody(body: unknown): Usage | undefined {
  return isObject(body) ? usageOf(body.usage) : undefined
}

function usageOf(u: unknown): Usage | undefined {
  if (!isObject(u)) return undefined
  const prompt = tokens(u.prompt_tokens)
  const completion = tokens(u.completion_tokens)
  // Either of a pair is enough: embeddings report prompt_tokens alone.
  if (prompt !== undefined || completion !== undefined) return { input: prompt ?? 0, output: completion ?? 0 }
  const input = tokens(u.input_tokens)
  const output = tokens(u.output_tokens)
  if (input === undefined && output === undefined) return undefined
  return { input: (input ?? 0) + (tokens(u.cache_creation_input_tokens) ?? 0) + (tokens(u.cache_read_input_tokens) ?? 0), output: output ?? 0 }
}

function tokens(v: unknown): number | undefined {
  return Number.isSafeInteger(v) && (v as number) >= 0 ? (v as number) : undefined
}

export interface StreamUsageResult {
  /** The prompt tokens the stream reported; undefined when it reported none (yet). */
  input: number | undefined
  /** The reported output tokens (plus those of text streamed after the report), or, until the stream reports them, the tokens of the text it streamed. */
  output: number
  /** Whether `output` is the stream's own report, nothing streamed after it. */
  reported: boolean
}

/**
 * Usage of a response stream, fed every event in order. Reported usage wins: OpenAI chat and
 * legacy chunks with a `usage` object (the include_usage chunk, or the running totals some
 * compatible servers put on every chunk), `response.usage` of a Responses event (completed,
 * incomplete and failed carry it), Anthropic's message_start (input) and message_delta
 * (cumulative output, and input fields when it has them).
 *
 * Until then, and for a stream cut before its report, the output is the tokens of every delta
 * streamed (text, reasoning, refusals, tool-call arguments), as the moderation codecs locate
 * them; text streamed after a report (a server that reports early) is added to it. Each delta
 * is tokenized on its own and nothing else is kept; a word split across two deltas counts as
 * two tokens, so this over-counts slightly, and it cannot see the hidden reasoning tokens of
 * reasoning models nor use Claude's own tokenizer. Streams of no known LLM format (plain SSE)
 * are not counted.
 */
export class StreamUsage {
  private readonly codec: StreamCodec = createStreamCodec()
  private readonly counter: TokenCounter
  private reportedOutput: number | undefined
  /** The counted output when the output was last reported. */
  private countedAtReport = 0
  private reportedInput: number | undefined
  /** Anthropic's input fields, each updated by whichever event last carried it. */
  private readonly anthropicInput = new Map<string, number>()

  constructor(opts: { encoding?: Encoding } = {}) {
    this.counter = new TokenCounter(opts.encoding)
  }

  push(ev: SseEvent): void {
    if (ev.commentOnly || ev.data === '[DONE]') return
    const slots = this.codec.extract(ev)
    if (this.codec.format !== 'plain') for (const s of slots) if (s.kind === 'delta') this.counter.add(s.text)
    // Most events carry no usage at all; only those that name it are parsed a second time.
    if (ev.data.includes('"usage"')) this.readUsage(parseJson(ev.data))
  }

  result(): StreamUsageResult {
    if (this.reportedOutput === undefined) return { input: this.reportedInput, output: this.counter.total, reported: false }
    const since = this.counter.total - this.countedAtReport
    return { input: this.reportedInput, output: this.reportedOutput + since, reported: since === 0 }
  }

  private readUsage(parsed: unknown): void {
    if (!isObject(parsed)) return
    if (parsed.type === 'message_start') {
      if (isObject(parsed.message)) this.readAnthropic(parsed.message.usage, false)
      return
    }
    if (parsed.type === 'message_delta') return this.readAnthropic(parsed.usage, true)
    const u = usageOf(typeof parsed.type === 'string' && parsed.type.startsWith('response.') && isObject(parsed.response) ? parsed.response.usage : parsed.usage)
    if (u === undefined) return
    this.reportedInput = u.input
    this.reportOutput(u.output)
  }

  /** message_start's output_tokens is a placeholder (1): only message_delta reports the output. */
  private readAnthropic(usage: unknown, final: boolean): void {
    if (!isObject(usage)) return
    for (const field of ANTHROPIC_INPUT_FIELDS) {
      const n = tokens(usage[field])
      if (n !== undefined) this.anthropicInput.set(field, n)
    }
    if (this.anthropicInput.size > 0) this.reportedInput = [...this.anthropicInput.values()].reduce((a, b) => a + b, 0)
    const output = tokens(usage.output_tokens)
    if (final && output !== undefined) this.reportOutput(output)
  }

  private reportOutput(output: number): void {
    this.reportedOutput = output
    this.countedAtReport = this.counter.total
  }
}

const ANTHROPIC_INPUT_FIELDS = ['input_tokens', 'cache_creation_input_tokens', 'cache_read_input_tokens'] as const
