import { countTokens as countO200k, setMergeCacheSize as setO200kCache } from 'gpt-tokenizer/encoding/o200k_base'
import { countTokens as countCl100k, setMergeCacheSize as setCl100kCache } from 'gpt-tokenizer/encoding/cl100k_base'
import { isObject, type JsonObject } from '../formats/json.js'
import { requestBodyCodec } from '../formats/request-bodies.js'
import type { FormatName } from '../formats/types.js'

/**
 * The expected token cost of an LLM request, reserved against a token budget before the request
 * goes upstream: the prompt, counted with a real tokenizer, plus the output it may produce.
 * Other models' tokenizers (Claude, Gemini, Llama) differ from OpenAI's by some percent either
 * way: good enough for a reservation that is reconciled with the reported usage afterwards.
 */

export type Encoding = 'o200k_base' | 'cl100k_base'

export interface RequestEstimate {
  promptTokens: number
  /** The output allowance: the request's own limit per completion, times the completions it asks for. */
  maxTokens: number
  total: number
}

/**
 * OpenAI's cookbook (How_to_count_tokens_with_tiktoken) counts 3 framing tokens per chat message
 * plus the tokens of its role, and every role name (system, developer, user, assistant, tool,
 * function) is one token in both encodings: 4 per message.
 */
export const TOKENS_PER_MESSAGE = 4
/** The cookbook's 3 tokens that prime the reply (`<|start|>assistant<|message|>`). */
export const REPLY_PRIMING_TOKENS = 3
/**
 * The tokenizer's work is bounded per request (and per stream): the first 1 MiB of UTF-8 text is
 * tokenized; text beyond it is estimated at 1 token per 4 bytes, the usual rule of thumb for
 * English. Tokenizing runs at roughly 0.25-0.45 s per MiB depending on the script, on the event
 * loop, so this is also the longest a single request can hold it.
 */
export const TOKENIZED_BYTES = 1 << 20
const BYTES_PER_TOKEN = 4
/**
 * gpt-tokenizer merges each pre-tokenized piece in time quadratic in its length (a 100 000
 * character run of CJK or of spaces, one piece, takes over a minute). Text is therefore
 * tokenized in slices cut where no piece can span the cut (SAFE_CUT), and a run longer than
 * this without such a place is cut anyway: a forced cut splits one piece in two, over-counting
 * by about a token per MAX_RUN characters of such runs (CJK without punctuation, a long word).
 * A multiple of 3, so that a forced cut in a run of digits falls between two 3-digit pieces.
 */
const MAX_RUN = 63
/** Slices grow to about this many characters before they are cut: the budget's granularity. */
const SLICE_CHARS = 8192
/**
 * Places where neither encoding's pre-tokenizer (gpt-tokenizer's CL100K and O200K split
 * patterns) ever continues a piece, each matched as the character after the cut: a space after a
 * non-space; a symbol or punctuation after a letter or digit (not an apostrophe, which starts a
 * contraction suffix, nor a combining mark, which o200k keeps in the word); the first digit of a
 * run (digits are grouped by three from the run's start) after anything but whitespace (a
 * whitespace run at the end of a slice would be split differently); a letter after a digit. No
 * piece spans such a place and neither pattern looks behind, so the text on each side tokenizes
 * to exactly the pieces, and the count, it has in the whole.
 */
const SAFE_CUT = /(?<=\S) |(?<=[\p{L}\p{N}])[^\s\p{L}\p{N}\p{M}']|(?<=[^\s\p{N}])\p{N}|(?<=\p{N})\p{L}/gu
/** User text is text: `<|endoftext|>` typed by a client is counted as characters, not refused. */
const AS_TEXT = { disallowedSpecial: new Set<string>() }
/**
 * The library's merge cache keeps up to 100 000 pieces per encoding whatever their size;
 * adversarial text (random CJK) could pin some 100 MB in it. A tenth keeps ordinary text as fast.
 */
const MERGE_CACHE_ENTRIES = 10_000
setO200kCache(MERGE_CACHE_ENTRIES)
setCl100kCache(MERGE_CACHE_ENTRIES)

const COUNTERS: Record<Encoding, (text: string, opts: typeof AS_TEXT) => number> = { o200k_base: countO200k, cl100k_base: countCl100k }

/** Counts the tokens of successive texts within one tokenizing budget (see TOKENIZED_BYTES). */
export class TokenCounter {
  private readonly count: (text: string, opts: typeof AS_TEXT) => number
  private budget: number
  total = 0

  constructor(encoding: Encoding = 'o200k_base', budgetBytes = TOKENIZED_BYTES) {
    this.count = COUNTERS[encoding]
    this.budget = budgetBytes
  }

  add(text: string): void {
    if (this.budget === 0) return this.estimate(text)
    let start = 0
    let run = 0
    const take = (end: number): boolean => {
      const slice = text.slice(start, end)
      const bytes = utf8Length(slice)
      if (bytes > this.budget) {
        this.budget = 0
        this.estimate(text.slice(start))
        return false
      }
      this.budget -= bytes
      this.total += this.count(slice, AS_TEXT)
      start = end
      return true
    }
    SAFE_CUT.lastIndex = 0
    for (;;) {
      const m = SAFE_CUT.exec(text)
      const next = m === null ? text.length : m.index
      while (next - run > MAX_RUN) {
        let cut = run + MAX_RUN
        if (isHighSurrogate(text.charCodeAt(cut - 1))) cut--
        if (!take(cut)) return
        run = cut
      }
      if (m === null) break
      run = next
      if (next - start >= SLICE_CHARS && !take(next)) return
    }
    if (start < text.length) take(text.length)
  }

  private estimate(text: string): void {
    this.total += Math.ceil(utf8Length(text) / BYTES_PER_TOKEN)
  }
}

/**
 * The expected cost of a request: the prompt (every text the model reads, tool definitions as
 * JSON text, plus the chat framing of each message) and the output allowance
 * (`max_completion_tokens` ?? `max_tokens` ?? `max_output_tokens` ?? the default, an absurd
 * value replaced by the default), times the completions the request asks for (`n`, `best_of`,
 * and one per prompt of a legacy batch). Undefined when the body is no request of a known API.
 *
 * Not counted, for want of a way to know: images, audio and files, and the server-side history
 * a Responses request names by `previous_response_id` or `conversation`.
 */
export function estimateRequest(body: unknown, path: string, opts: { defaultMaxTokens: number; encoding?: Encoding }): RequestEstimate | undefined {
  const codec = requestBodyCodec(body, path)
  if (codec === undefined || !isObject(body)) return undefined
  const format = codec.format
  const counter = new TokenCounter(opts.encoding)
  for (const slot of codec.extract(body)) counter.add(slot.text)
  addHistoryToolCalls(body, format, counter)
  for (const defs of [body.tools, body.functions]) if (Array.isArray(defs) && defs.length > 0) counter.add(jsonText(defs))
  let promptTokens = counter.total
  if (format === 'openai-completions') promptTokens += tokenIdPrompts(body.prompt)
  else promptTokens += messageCount(body, format) * TOKENS_PER_MESSAGE + REPLY_PRIMING_TOKENS
  const perCompletion = outputLimit(body.max_completion_tokens ?? body.max_tokens ?? body.max_output_tokens, opts.defaultMaxTokens)
  const maxTokens = perCompletion * completions(body, format)
  return { promptTokens, maxTokens, total: promptTokens + maxTokens }
}

const MAX_OUTPUT_TOKENS = 10_000_000

function outputLimit(v: unknown, fallback: number): number {
  return Number.isSafeInteger(v) && (v as number) >= 0 && (v as number) <= MAX_OUTPUT_TOKENS ? (v as number) : fallback
}

/** OpenAI's limits on `n` (chat, legacy) and `best_of` (legacy, where every candidate is billed). */
const MAX_N = 128
const MAX_BEST_OF = 20

function completions(body: JsonObject, format: FormatName): number {
  if (format !== 'openai-chat' && format !== 'openai-completions') return 1
  const n = boundedCount(body.n, MAX_N)
  if (format === 'openai-chat') return n
  const prompts = Array.isArray(body.prompt) && body.prompt.length > 0 && body.prompt.every((p) => typeof p === 'string' || Array.isArray(p)) ? body.prompt.length : 1
  return Math.max(n, boundedCount(body.best_of, MAX_BEST_OF)) * prompts
}

function boundedCount(v: unknown, max: number): number {
  return Number.isSafeInteger(v) && (v as number) >= 1 && (v as number) <= max ? (v as number) : 1
}

function messageCount(body: JsonObject, format: FormatName): number {
  const objects = (v: unknown): number => (Array.isArray(v) ? v.filter(isObject).length : 0)
  if (format === 'openai-responses') {
    const instructions = typeof body.instructions === 'string' && body.instructions !== '' ? 1 : 0
    return instructions + (typeof body.input === 'string' ? 1 : objects(body.input))
  }
  const system = format === 'anthropic' && ((typeof body.system === 'string' && body.system !== '') || objects(body.system) > 0) ? 1 : 0
  return system + objects(body.messages)
}

/** A legacy prompt given as token ids (one array, or an array of them): its tokens are its length. */
function tokenIdPrompts(prompt: unknown): number {
  if (!Array.isArray(prompt)) return 0
  if (prompt.length > 0 && prompt.every((p) => typeof p === 'number')) return prompt.length
  let ids = 0
  for (const p of prompt) if (Array.isArray(p)) ids += p.length
  return ids
}

/**
 * Tool calls the assistant made earlier in the conversation: the request codec leaves them out
 * (moderation does not re-check the model's own output) but the model reads them again.
 */
function addHistoryToolCalls(body: JsonObject, format: FormatName, counter: TokenCounter): void {
  if (format === 'openai-responses') {
    if (!Array.isArray(body.input)) return
    for (const item of body.input) {
      if (!isObject(item) || (item.type !== 'function_call' && item.type !== 'custom_tool_call')) continue
      addStrings(counter, item.name, item.arguments, item.input)
    }
    return
  }
  if (!Array.isArray(body.messages)) return
  for (const msg of body.messages) {
    if (!isObject(msg)) continue
    if (Array.isArray(msg.tool_calls)) {
      for (const call of msg.tool_calls) if (isObject(call) && isObject(call.function)) addStrings(counter, call.function.name, call.function.arguments)
    }
    if (isObject(msg.function_call)) addStrings(counter, msg.function_call.name, msg.function_call.arguments)
    if (!Array.isArray(msg.content)) continue
    for (const block of msg.content) {
      if (isObject(block) && typeof block.type === 'string' && block.type.endsWith('tool_use')) addStrings(counter, block.name, block.input === undefined ? undefined : jsonText(block.input))
    }
  }
}

function addStrings(counter: TokenCounter, ...texts: unknown[]): void {
  for (const t of texts) if (typeof t === 'string' && t !== '') counter.add(t)
}

function jsonText(v: unknown): string {
  try {
    return JSON.stringify(v) ?? ''
  } catch {
    // Nested too deep to stringify (JSON.parse accepts deeper than stringify recurses): no text to count.
    return ''
  }
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff
}

/** The UTF-8 size of a string (a lone surrogate is sent as U+FFFD, 3 bytes), without encoding it. */
function utf8Length(s: string): number {
  let bytes = 0
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x80) bytes += 1
    else if (c < 0x800) bytes += 2
    else if (isHighSurrogate(c) && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      bytes += 4
      i++
    } else bytes += 3
  }
  return bytes
}
