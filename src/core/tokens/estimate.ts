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
 * English. Tokenizing takes about 0.1-0.5 s per MiB depending on the script (random text of one
 * script each, Node 20), on the event loop: this bounds how long one request holds it.
 */
export const TOKENIZED_BYTES = 1 << 20
const BYTES_PER_TOKEN = 4
/**
 * Text is tokenized in slices of about this many characters, each ending before a space that
 * follows a non-space: neither encoding's pre-tokenizer (gpt-tokenizer's CL100K and O200K split
 * patterns) ever puts a non-space and a following space in one piece, and neither looks behind,
 * so each side of such a cut tokenizes to exactly the pieces, and the count, it has in the whole.
 * Text with no such place within twice this length is cut where it must (an over-count of about
 * a token). The slice is also the budget's granularity.
 */
const SLICE_CHARS = 8192
const SLICE_END = /\S /g
/**
 * gpt-tokenizer merges each pre-tokenized piece in time quadratic in its length (a 100 000
 * character run of CJK or of spaces, one piece, takes over a minute), so no piece may grow past
 * MAX_RUN characters: a run of 32 spaces or non-spaces (LONG_RUN) is read for the places where a
 * piece ends (PIECE_END), and where it goes on longer than MAX_RUN without one it is cut anyway.
 * Such a forced cut splits one piece in two, over-counting by about a token per MAX_RUN
 * characters of such runs (CJK without punctuation, a very long word). A multiple of 3, so that
 * a forced cut in a run of digits falls between two of the 3-digit pieces digits are split in.
 * Outside long runs, no stretch between two spaces-after-non-spaces is longer than 62.
 */
const MAX_RUN = 30
const LONG_RUN = / {32,}|[^ ]{32,}/g
/**
 * Places where a piece always ends in both encodings, each matched as the character after the
 * end: a space after a non-space; after a letter or digit, anything but a letter, digit,
 * combining mark (o200k keeps marks in the word) or the apostrophe of a contraction suffix
 * ('s 't 'd 'm 'll 've 're, which o200k keeps too); whitespace other than a line break after a
 * symbol; a symbol after whitespace other than a space or line break (a space prefixes the
 * symbol; o200k's symbol pieces take the line breaks and slashes after them); a letter after a
 * line break; a digit after anything but a digit; a letter after a digit.
 */
const PIECE_END = /(?<=\S) |(?<=[\p{L}\p{N}])(?:[^\p{L}\p{N}\p{M}']|'(?![sdmtSDMT]|[lL][lL]|[vV][eE]|[rR][eE]))|(?<=[^\s\p{L}\p{N}])[^\S\r\n]|(?<=[^\S \r\n])[^\s\p{L}\p{N}\p{M}]|(?<=[\r\n])\p{L}|(?<!\p{N})\p{N}|(?<=\p{N})\p{L}/gu
/** User text is text: `<|endoftext|>` typed by a client is counted as characters, not refused. */
const AS_TEXT = { disallowedSpecial: new Set<string>() }
/**
 * The library's merge cache keeps up to 100 000 pieces per encoding whatever their size;
 * adversarial text could pin tens of MB in it. A tenth keeps ordinary text as fast.
 */
const MERGE_CACHE_ENTRIES = 10_000

type Count = (text: string, opts: typeof AS_TEXT) => number
const COUNTERS: Partial<Record<Encoding, Count>> = {}
const loading = new Map<Encoding, Promise<void>>()

/**
 * Loads an encoding's tables. They cost about 55 MB and most of a second each, so nothing loads
 * them until a policy has a token budget (the rate-limit filter starts this when it compiles);
 * until they are in, counts fall back to the 4-bytes-per-token estimate, and reconciliation with
 * the reported usage corrects what that gets wrong.
 */
export function loadTokenizer(encoding: Encoding = 'o200k_base'): Promise<void> {
  let p = loading.get(encoding)
  if (!p) {
    const mod = encoding === 'o200k_base' ? import('gpt-tokenizer/encoding/o200k_base') : import('gpt-tokenizer/encoding/cl100k_base')
    p = mod.then((m) => {
      m.setMergeCacheSize(MERGE_CACHE_ENTRIES)
      COUNTERS[encoding] = m.countTokens as Count
    })
    loading.set(encoding, p)
  }
  return p
}

/** Whether counts with this encoding are exact yet (see loadTokenizer). */
export function tokenizerReady(encoding: Encoding = 'o200k_base'): boolean {
  return COUNTERS[encoding] !== undefined
}

/** Counts the tokens of successive texts within one tokenizing budget (see TOKENIZED_BYTES). */
export class TokenCounter {
  private readonly count: Count
  private budget: number
  private tokens = 0

  constructor(encoding: Encoding = 'o200k_base', budgetBytes = TOKENIZED_BYTES) {
    const count = COUNTERS[encoding]
    // Not loaded yet: everything is estimated, as text past the budget is, so count is never called.
    this.count = count ?? (() => 0)
    this.budget = count ? budgetBytes : 0
  }

  get total(): number {
    return this.tokens
  }

  add(text: string): void {
    let start = 0
    while (start < text.length) {
      if (this.budget === 0) return this.estimate(text.slice(start))
      const end = sliceEnd(text, start)
      const slice = text.slice(start, end)
      const bytes = Buffer.byteLength(slice, 'utf8')
      if (bytes > this.budget) {
        this.budget = 0
        continue
      }
      this.budget -= bytes
      this.tokens += this.countSlice(slice)
      start = end
    }
  }

  /** Counts a slice, in parts split at its forced cuts (see MAX_RUN). */
  private countSlice(text: string): number {
    let tokens = 0
    let start = 0
    LONG_RUN.lastIndex = 0
    for (let long = LONG_RUN.exec(text); long !== null; long = LONG_RUN.exec(text)) {
      const region = long[0]
      let run = 0
      PIECE_END.lastIndex = 0
      for (;;) {
        const m = PIECE_END.exec(region)
        const next = m === null ? region.length : m.index
        while (next - run > MAX_RUN) {
          let cut = run + MAX_RUN
          if (isHighSurrogate(region.charCodeAt(cut - 1))) cut--
          tokens += this.count(text.slice(start, long.index + cut), AS_TEXT)
          start = long.index + cut
          run = cut
        }
        if (m === null) break
        run = next
      }
    }
    return tokens + this.count(start === 0 ? text : text.slice(start), AS_TEXT)
  }

  private estimate(text: string): void {
    this.tokens += Math.ceil(Buffer.byteLength(text, 'utf8') / BYTES_PER_TOKEN)
  }
}

/** The end of the slice that starts at `start` (see SLICE_CHARS). */
function sliceEnd(text: string, start: number): number {
  if (text.length - start <= SLICE_CHARS) return text.length
  const from = start + SLICE_CHARS - 1
  SLICE_END.lastIndex = 0
  const m = SLICE_END.exec(text.slice(from, from + SLICE_CHARS))
  if (m !== null) return from + m.index + 1
  const cut = start + SLICE_CHARS
  return isHighSurrogate(text.charCodeAt(cut - 1)) ? cut - 1 : cut
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
