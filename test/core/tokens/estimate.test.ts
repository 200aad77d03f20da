import t from 'tap'
import { countTokens as o200k } from 'gpt-tokenizer/encoding/o200k_base'
import { countTokens as cl100k } from 'gpt-tokenizer/encoding/cl100k_base'
import { estimateRequest, loadTokenizer, REPLY_PRIMING_TOKENS, TOKENIZED_BYTES, TOKENS_PER_MESSAGE, tokenizerReady, type Encoding } from '../../../src/core/tokens/estimate.js'
import { mulberry32 } from '../../helpers/prng.js'

const ENCODINGS: Encoding[] = ['o200k_base', 'cl100k_base']
const AS_TEXT = { disallowedSpecial: new Set<string>() }
/** The library's own count of one text, as plain text. */
const count = (enc: Encoding, ...texts: string[]) => texts.reduce((n, s) => n + (enc === 'o200k_base' ? o200k : cl100k)(s, AS_TEXT), 0)
const chatOverhead = (messages: number) => messages * TOKENS_PER_MESSAGE + REPLY_PRIMING_TOKENS
const CHAT = '/v1/chat/completions'
const opts = (encoding: Encoding, defaultMaxTokens = 1000) => ({ defaultMaxTokens, encoding })


t.test('before its tables load, an encoding estimates 4 bytes a token; after, it counts exactly', async (t) => {
  const text = 'How many people live in Zurich, roughly? '.repeat(10).trim()
  const body = { model: 'm', max_tokens: 10, messages: [{ role: 'user', content: text }] }
  t.equal(tokenizerReady('cl100k_base'), false, 'nothing loads an encoding on import')
  const rough = estimateRequest(body, '/v1/chat/completions', { defaultMaxTokens: 1, encoding: 'cl100k_base' })!
  t.equal(rough.promptTokens, Math.ceil(Buffer.byteLength(text) / 4) + TOKENS_PER_MESSAGE + REPLY_PRIMING_TOKENS)
  await loadTokenizer('cl100k_base')
  t.equal(estimateRequest(body, '/v1/chat/completions', { defaultMaxTokens: 1, encoding: 'cl100k_base' })!.promptTokens, cl100k(text) + TOKENS_PER_MESSAGE + REPLY_PRIMING_TOKENS)
})

await loadTokenizer('o200k_base')
await loadTokenizer('cl100k_base')

t.test('the documented overhead: 3 framing tokens and the role per message, 3 to prime the reply', async (t) => {
  t.equal(TOKENS_PER_MESSAGE, 4)
  t.equal(REPLY_PRIMING_TOKENS, 3)
})

t.test('chat: string contents and text parts, exactly the tokens plus the overhead, in both encodings', async (t) => {
  const system = 'You are a terse assistant. Answer in German.'
  const part = 'Wie viele Einwohner hat Zürich? Антworte kurz, bitte — 谢谢!'
  const answer = 'Etwa 420 000.'
  const body = {
    model: 'gpt-4o',
    messages: [
      { role: 'system', content: system },
      { role: 'user', content: [{ type: 'text', text: part }, { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } }] },
      { role: 'assistant', content: answer },
    ],
  }
  const got = ENCODINGS.map((enc) => estimateRequest(body, CHAT, opts(enc))!)
  ENCODINGS.forEach((enc, i) => {
    t.equal(got[i]!.promptTokens, count(enc, system, part, answer) + chatOverhead(3), enc)
    t.equal(got[i]!.maxTokens, 1000, 'the default allowance')
    t.equal(got[i]!.total, got[i]!.promptTokens + 1000)
  })
  t.not(got[0]!.promptTokens, got[1]!.promptTokens, 'the encoding option is the one used')
  t.equal(estimateRequest(body, CHAT, { defaultMaxTokens: 1 })!.promptTokens, got[0]!.promptTokens, 'o200k_base by default')
})

t.test('chat: tool definitions as JSON text, and the tool calls of the history', async (t) => {
  const tools = [{ type: 'function', function: { name: 'get_weather', description: 'Weather of a city', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } } }]
  const body = {
    messages: [
      { role: 'user', content: 'Weather in Paris?' },
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
      { role: 'tool', tool_call_id: 'call_1', content: '{"temp":21}' },
    ],
    tools,
    functions: [{ name: 'legacy_fn', parameters: {} }],
  }
  for (const enc of ENCODINGS) {
    const want = count(enc, 'Weather in Paris?', '{"temp":21}', 'get_weather', '{"city":"Paris"}', JSON.stringify(tools), JSON.stringify(body.functions)) + chatOverhead(3)
    t.equal(estimateRequest(body, CHAT, opts(enc))!.promptTokens, want, enc)
  }
})

t.test('Anthropic: system (string or blocks), text blocks, tool_use input, tool_result, plain-text documents', async (t) => {
  const tools = [{ name: 'lookup', description: 'Look a word up', input_schema: { type: 'object', properties: { word: { type: 'string' } } } }]
  const messages = [
    { role: 'user', content: [{ type: 'text', text: 'Define serendipity.' }, { type: 'document', source: { type: 'text', media_type: 'text/plain', data: 'A dictionary page.' } }] },
    { role: 'assistant', content: [{ type: 'text', text: 'Let me look.' }, { type: 'tool_use', id: 'tu_1', name: 'lookup', input: { word: 'serendipity' } }] },
    { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'tu_1', content: 'Luck in finding good things.' }] },
  ]
  const texts = ['Define serendipity.', 'A dictionary page.', 'Let me look.', 'Luck in finding good things.', 'lookup', '{"word":"serendipity"}', JSON.stringify(tools)]
  for (const enc of ENCODINGS) {
    const asString = estimateRequest({ model: 'claude', max_tokens: 300, system: 'Be brief.', messages, tools }, '/v1/messages', opts(enc))!
    t.equal(asString.promptTokens, count(enc, 'Be brief.', ...texts) + chatOverhead(4), `${enc}: the system prompt is a message`)
    t.equal(asString.maxTokens, 300)
    const asBlocks = estimateRequest({ max_tokens: 300, system: [{ type: 'text', text: 'Be brief.' }], messages, tools }, '/v1/messages', opts(enc))!
    t.equal(asBlocks.promptTokens, asString.promptTokens, `${enc}: system as text blocks`)
    const none = estimateRequest({ max_tokens: 300, messages, tools }, '/v1/messages', opts(enc))!
    t.equal(none.promptTokens, count(enc, ...texts) + chatOverhead(3), `${enc}: no system, no system message`)
  }
})

t.test('Responses: instructions and input, as a string or items', async (t) => {
  for (const enc of ENCODINGS) {
    const simple = estimateRequest({ model: 'gpt-4.1', instructions: 'Talk like a pirate.', input: 'Are semicolons optional in JavaScript?' }, '/v1/responses', opts(enc))!
    t.equal(simple.promptTokens, count(enc, 'Talk like a pirate.', 'Are semicolons optional in JavaScript?') + chatOverhead(2), enc)
    const tools = [{ type: 'function', name: 'get_weather', parameters: { type: 'object', properties: {} } }]
    const items = estimateRequest(
      {
        input: [
          { role: 'user', content: [{ type: 'input_text', text: 'Weather in Oslo?' }, { type: 'input_image', image_url: 'https://example.com/x.png' }] },
          { type: 'function_call', call_id: 'c1', name: 'get_weather', arguments: '{"city":"Oslo"}' },
          { type: 'function_call_output', call_id: 'c1', output: '{"temp":-3}' },
          { role: 'assistant', content: 'It is cold.' },
        ],
        tools,
      },
      '/v1/responses',
      opts(enc),
    )!
    t.equal(items.promptTokens, count(enc, 'Weather in Oslo?', '{"temp":-3}', 'It is cold.', 'get_weather', '{"city":"Oslo"}', JSON.stringify(tools)) + chatOverhead(4), `${enc}: every item is a message`)
  }
})

t.test('legacy completions: prompt strings, batches and token ids, no chat framing', async (t) => {
  const path = '/v1/completions'
  for (const enc of ENCODINGS) {
    const one = estimateRequest({ model: 'gpt-3.5-turbo-instruct', prompt: 'Say this is a test', suffix: ' -- end', max_tokens: 7 }, path, opts(enc))!
    t.same(one, { promptTokens: count(enc, 'Say this is a test', ' -- end'), maxTokens: 7, total: count(enc, 'Say this is a test', ' -- end') + 7 }, enc)
    const batch = estimateRequest({ prompt: ['First prompt', 'Second one'], max_tokens: 10 }, path, opts(enc))!
    t.equal(batch.promptTokens, count(enc, 'First prompt', 'Second one'))
    t.equal(batch.maxTokens, 20, 'one completion per prompt')
  }
  const ids = estimateRequest({ prompt: [1212, 318, 257, 1332], max_tokens: 5 }, path, opts('o200k_base'))!
  t.same([ids.promptTokens, ids.maxTokens], [4, 5], 'token ids are tokens; one prompt')
  const idBatch = estimateRequest({ prompt: [[1, 2, 3], [4, 5]], max_tokens: 5 }, path, opts('o200k_base'))!
  t.same([idBatch.promptTokens, idBatch.maxTokens], [5, 10], 'a batch of token-id prompts')
})

t.test('a special token typed in the text is counted as text, not refused', async (t) => {
  const text = 'ignore this <|endoftext|> and <|im_start|>system'
  t.throws(() => o200k(text), 'the library refuses it by default')
  const e = estimateRequest({ messages: [{ role: 'user', content: text }] }, CHAT, opts('o200k_base'))!
  t.equal(e.promptTokens, count('o200k_base', text) + chatOverhead(1))
})

t.test('not a request of a known shape: undefined', async (t) => {
  for (const body of [null, undefined, 'text', 42, [{ role: 'user', content: 'x' }], {}, { model: 'gpt-4o' }, { messages: 'hello' }]) {
    t.equal(estimateRequest(body, CHAT, opts('o200k_base')), undefined, JSON.stringify(body) ?? 'undefined')
  }
  t.equal(estimateRequest({ model: 'x' }, '/v1/other', opts('o200k_base')), undefined)
})

t.test('output allowance: max_completion_tokens, then max_tokens, then max_output_tokens, then the default', async (t) => {
  const cases: [Record<string, unknown>, number][] = [
    [{ max_completion_tokens: 10, max_tokens: 20, max_output_tokens: 30 }, 10],
    [{ max_tokens: 20, max_output_tokens: 30 }, 20],
    [{ max_output_tokens: 30 }, 30],
    [{}, 500],
    [{ max_completion_tokens: null, max_tokens: 20 }, 20],
    [{ max_tokens: 0 }, 0],
    [{ max_tokens: 10_000_000 }, 10_000_000],
  ]
  for (const [fields, want] of cases) {
    const e = estimateRequest({ messages: [{ role: 'user', content: 'hi' }], ...fields }, CHAT, opts('o200k_base', 500))!
    t.equal(e.maxTokens, want, JSON.stringify(fields))
    t.equal(e.total, e.promptTokens + want)
  }
})

t.test('absurd output limits fall back to the default', async (t) => {
  for (const v of [-1, 1.5, 10_000_001, 1e300, Infinity, NaN, '100', true, { n: 1 }]) {
    const e = estimateRequest({ messages: [{ role: 'user', content: 'hi' }], max_completion_tokens: v, max_tokens: 20 }, CHAT, opts('o200k_base', 500))!
    t.equal(e.maxTokens, 500, String(v))
  }
})

t.test('the allowance covers every completion asked for: n, best_of', async (t) => {
  const chat = (extra: object) => estimateRequest({ messages: [{ role: 'user', content: 'hi' }], max_tokens: 100, ...extra }, CHAT, opts('o200k_base'))!.maxTokens
  t.equal(chat({ n: 3 }), 300)
  t.equal(chat({ n: 0 }), 100, 'an invalid n is one completion')
  t.equal(chat({ n: 1000 }), 100, 'beyond the API maximum: the upstream refuses it')
  const legacy = estimateRequest({ prompt: 'hi', max_tokens: 100, n: 2, best_of: 5 }, '/v1/completions', opts('o200k_base'))!
  t.equal(legacy.maxTokens, 500, 'every best_of candidate is generated and billed')
  const responses = estimateRequest({ input: 'hi', max_output_tokens: 100, n: 4 }, '/v1/responses', opts('o200k_base'))!
  t.equal(responses.maxTokens, 100, 'Responses has no n')
})

/** Random prose: words of several scripts, digits, emoji and punctuation between ordinary separators. */
function prose(seed: number, chars: number): string {
  const rnd = mulberry32(seed)
  const words = [
    ...['the', 'Tokenizer', 'counts', "don't", "WE'LL", "''", 'naïve', 'e\u0301', 'x\u0301!', '9\u0301', 'Zürich', 'привет', 'мир', '𝐀𝐁c', 'ǅemal'],
    ...['東京は晴れ。明日も、たぶん晴れです！', '数据库里有１２３个表。', '😀', '🇫🇷', '👍🏽', '42', '3.14159', '1234567890123', '٣٤٥', 'v2beta3', 'A1B2c3'],
    ...['{"city":"Paris","unit":"c","days":[1,2,3]}', 'iVBORw0KGgoAAAANSUhEUg+AAAAEAAAABCAYAAAAf/FcSJ==', 'snake_case', 'https://x.io/a?b=1&c=%20', '«quoted»', '—', '====', '...', 'HTTP/1.1', '<|endoftext|>'],
  ]
  const seps = [' ', ' ', ' ', ', ', '. ', '  ', '\n', '\n\n', ' \n', '!\n', '/', '\t', '\u00a0', ':\n  ', ' - ', '\r\n', '-', '.', '"', "'"]
  let s = ''
  while (s.length < chars) s += words[Math.floor(rnd() * words.length)]! + seps[Math.floor(rnd() * seps.length)]!
  return s
}

t.test('long text is tokenized in slices without changing the count', async (t) => {
  for (let seed = 1; seed <= 16; seed++) {
    const text = prose(seed, 12_000 + seed * 1500)
    for (const enc of ENCODINGS) {
      const e = estimateRequest({ messages: [{ role: 'user', content: text }] }, CHAT, opts(enc))!
      t.equal(e.promptTokens, count(enc, text) + chatOverhead(1), `seed ${seed}, ${enc}`)
    }
  }
})

/** Random text with no plain space, with ordinary word boundaries in it. */
function dense(seed: number, chars: number): string {
  const rnd = mulberry32(seed)
  const words = [
    ...['the', 'Tokenizer', "don't", "WE'LL", "''", "'s", "'T", 'naïve', 'e\u0301', 'x\u0301!', '9\u0301', 'Zürich', 'привет', '𝐀𝐁c', 'ǅemal', 'ß', 'İ', 'ﬁ'],
    ...['東京は晴れ。明日も、', '数据库里有１２３个表。', '😀', '🇫🇷', '👍🏽', '42', '3.14159', '1234567890123', '٣٤٥', 'x²', 'Ⅻ', '¹²³', 'v2beta3', 'A1B2c3'],
    ...['{"city":"Paris","days":[1,2,3]}', 'iVBORw0KGgo+/==', 'snake_case', 'a?b=1&c=%20', '«q»', '—', '====', '...', 'HTTP/1.1', '<|endoftext|>', '\u0000', '\ud800', 'ab\udc00'],
  ]
  const seps = [',', '.', '\n', '\n\n', '!\n', '/', '\t', '\t\t', '\u3000\u3000', '\u00a0', ':\n', '-', '"', "'", '\r', '\r\n', '\u2028', '\u3000']
  let s = ''
  while (s.length < chars) s += words[Math.floor(rnd() * words.length)]! + seps[Math.floor(rnd() * seps.length)]!
  return s
}

t.test('text without spaces but with word boundaries is not cut: JSON, CJK with punctuation, mixed scripts', async (t) => {
  let checked = 0
  for (let seed = 1; seed <= 300; seed++) {
    const text = dense(seed, 1500)
    for (const enc of ENCODINGS) {
      const e = estimateRequest({ prompt: text }, '/v1/completions', opts(enc))!
      if (e.promptTokens !== count(enc, text)) t.fail(`seed ${seed}, ${enc}: ${e.promptTokens} vs ${count(enc, text)}`)
      else checked++
    }
  }
  t.equal(checked, 600)
})

t.test('a long run without spaces is cut: about the same count, in bounded work', async (t) => {
  const rnd = mulberry32(7)
  const cjk = (n: number) => Array.from({ length: n }, () => String.fromCharCode(0x4e00 + Math.floor(rnd() * 20_000))).join('')
  const run = cjk(3000)
  const exact = count('o200k_base', run)
  const e = estimateRequest({ messages: [{ role: 'user', content: run }] }, CHAT, opts('o200k_base'))!.promptTokens - chatOverhead(1)
  // A forced cut every 30 characters splits one piece: off by no more than a token per cut.
  t.ok(Math.abs(e - exact) <= Math.ceil(3000 / 30), `${e} vs ${exact}`)
  const emoji = '😀😀😀!'.repeat(300)
  const em = estimateRequest({ messages: [{ role: 'user', content: emoji }] }, CHAT, opts('o200k_base'))!.promptTokens - chatOverhead(1)
  // Each emoji and each '!' is one token: cut between two of them, the count is exact; a cut
  // through a surrogate pair would make two U+FFFD of it.
  t.equal(em, count('o200k_base', emoji), 'no forced cut splits a surrogate pair')
  const wide = 'x' + '😀'.repeat(20_000)
  const w = estimateRequest({ prompt: wide }, '/v1/completions', opts('o200k_base'))!.promptTokens
  t.equal(w, 20_001, 'nor does a slice cut in text with no space')
  // Whole, these take minutes in gpt-tokenizer (quadratic merges per piece); cut, a fraction of a second.
  const huge = estimateRequest({ messages: [{ role: 'user', content: cjk(100_000) }, { role: 'user', content: ' '.repeat(100_000) }] }, CHAT, opts('o200k_base'))!
  t.ok(huge.promptTokens > 100_000, 'counted')
})

t.test('text beyond 1 MiB is estimated at one token per 4 bytes', async (t) => {
  t.equal(TOKENIZED_BYTES, 1024 * 1024)
  const unit = 'hello world '
  const first = unit.repeat(Math.floor(TOKENIZED_BYTES / unit.length)) + 'abcd'
  t.equal(first.length, TOKENIZED_BYTES, 'exactly the budget, all ASCII')
  const rest = unit.repeat(100)
  t.ok(count('o200k_base', rest) < 1200 / 4, 'tokenized, the rest would be fewer tokens')
  const e = estimateRequest({ messages: [{ role: 'user', content: first }, { role: 'user', content: rest }] }, CHAT, opts('o200k_base'))!
  t.equal(e.promptTokens, count('o200k_base', first) + 1200 / 4 + chatOverhead(2))

  const multi = 'é'.repeat(10)
  const after = estimateRequest({ messages: [{ role: 'user', content: first }, { role: 'user', content: multi }] }, CHAT, opts('o200k_base'))!
  t.equal(after.promptTokens, count('o200k_base', first) + 20 / 4 + chatOverhead(2), 'bytes of UTF-8, not characters')

  const twice = unit.repeat(Math.ceil((2 * TOKENIZED_BYTES) / unit.length))
  const whole = count('o200k_base', twice)
  const big = estimateRequest({ messages: [{ role: 'user', content: twice }] }, CHAT, opts('o200k_base'))!.promptTokens - chatOverhead(1)
  // Tokenized, this text is 2 tokens per 12 bytes; estimated, 3: the second MiB shows it.
  t.ok(big > whole + TOKENIZED_BYTES / 12 - 2000 && big < whole + TOKENIZED_BYTES / 12 + 2000, `${big} vs ${whole}`)
})
