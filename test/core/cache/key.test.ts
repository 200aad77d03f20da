import t from 'tap'
import { createHash } from 'node:crypto'
import { cacheKey, DEFAULT_IGNORE_FIELDS, normalizeBody, type KeyInput, type KeyOptions } from '../../../src/core/cache/key.js'
import { createTextNormalizer } from '../../../src/core/cache/normalize-text.js'
import { canonicalJson } from '../../../src/core/formats/canonical-json.js'

const RAW: KeyOptions = { normalize: (s) => s, ignoreFields: DEFAULT_IGNORE_FIELDS }
const NORMALIZED: KeyOptions = {
  normalize: createTextNormalizer({ nfc: true, whitespace: true, caseFold: true, numbers: true, dates: 'ymd' }),
  ignoreFields: DEFAULT_IGNORE_FIELDS,
}

const chatBody = () => ({
  model: 'gpt-4o-mini',
  messages: [
    { role: 'system', content: 'You are terse.' },
    { role: 'user', content: 'What is 2+2?' },
  ],
  temperature: 0,
  top_p: 1,
  seed: 7,
  tools: [{ type: 'function', function: { name: 'add', parameters: { type: 'object', properties: { a: { type: 'number' } } } } }],
  tool_choice: 'auto',
  response_format: { type: 'text' },
  stream: false,
})

const anthropicBody = () => ({
  model: 'claude-sonnet-4-5',
  system: 'You are terse.',
  max_tokens: 100,
  messages: [{ role: 'user', content: [{ type: 'text', text: 'What is 2+2?' }] }],
})

const base = (body: unknown = chatBody()): KeyInput => ({
  namespace: 'v1',
  route: 'chat',
  method: 'POST',
  path: '/v1/chat/completions',
  query: '',
  scopeKind: 'user',
  scopeValue: 'alice',
  body,
})

const keyOf = (input: KeyInput, opts: KeyOptions = RAW) => cacheKey(input, opts).key

t.test('the key names its namespace, route and scope, and ends in the SHA-256 of the canonical material', async (t) => {
  const input = base()
  const { hash, key } = cacheKey(input, RAW)
  t.match(hash, /^[0-9a-f]{64}$/)
  t.equal(key, `v1/chat/user/alice/${hash}`)
  const body = chatBody()
  const material = { v: 1, ns: 'v1', route: 'chat', method: 'POST', path: '/v1/chat/completions', query: '', scope: ['user', 'alice'], body }
  t.equal(hash, createHash('sha256').update(canonicalJson(material)).digest('hex'))
  t.equal(keyOf({ ...base(), scopeKind: 'tenant', scopeValue: 'acme/eu west' }).split('/').slice(0, 4).join('/'), 'v1/chat/tenant/acme%2Feu%20west', 'the scope value is URI-encoded')
  t.equal(keyOf({ ...base(), scopeKind: 'shared', scopeValue: '' }).split('/')[3], '', 'shared: empty scope value')
  t.equal(keyOf(base()), keyOf(base()), 'stable')
})

t.test('each keyed input changes the key', async (t) => {
  const ref = keyOf(base())
  const variants: [string, KeyInput][] = []
  const body = (name: string, edit: (b: ReturnType<typeof chatBody>) => unknown) => variants.push([name, base(edit(chatBody()))])
  body('model', (b) => ({ ...b, model: 'gpt-4o' }))
  body('a user message', (b) => ({ ...b, messages: [b.messages[0], { role: 'user', content: 'What is 3+3?' }] }))
  body('the OpenAI system message', (b) => ({ ...b, messages: [{ role: 'system', content: 'You are verbose.' }, b.messages[1]] }))
  body('a message role', (b) => ({ ...b, messages: [b.messages[0], { role: 'assistant', content: 'What is 2+2?' }] }))
  body('an extra message', (b) => ({ ...b, messages: [...b.messages, { role: 'user', content: 'x' }] }))
  body('temperature', (b) => ({ ...b, temperature: 0.5 }))
  body('top_p', (b) => ({ ...b, top_p: 0.9 }))
  body('seed', (b) => ({ ...b, seed: 8 }))
  body('tools', (b) => ({ ...b, tools: [{ type: 'function', function: { name: 'sub', parameters: b.tools[0]!.function.parameters } }] }))
  body('a tool schema', (b) => ({ ...b, tools: [{ type: 'function', function: { name: 'add', parameters: { type: 'object', properties: { a: { type: 'string' } } } } }] }))
  body('no tools', (b) => ({ ...b, tools: [] }))
  body('tool_choice', (b) => ({ ...b, tool_choice: 'required' }))
  body('response_format', (b) => ({ ...b, response_format: { type: 'json_object' } }))
  body('stream', (b) => ({ ...b, stream: true }))
  body('max_tokens', (b) => ({ ...b, max_tokens: 5 }))
  body('an unknown field', (b) => ({ ...b, reasoning_effort: 'high' }))
  body('a __proto__ field', (b) => JSON.parse(JSON.stringify(b).replace('{', '{"__proto__":{"x":1},')) as unknown)
  variants.push(['scope kind', { ...base(), scopeKind: 'tenant' }])
  variants.push(['scope value', { ...base(), scopeValue: 'bob' }])
  variants.push(['route', { ...base(), route: 'chat2' }])
  variants.push(['namespace (key version bump)', { ...base(), namespace: 'v2' }])
  variants.push(['path', { ...base(), path: '/v1/completions' }])
  variants.push(['query', { ...base(), query: '?api-version=2' }])
  variants.push(['no body', { ...base(), body: undefined }])
  variants.push(['method', { ...base(), method: 'PUT' }])
  const hashes = new Set<string>([cacheKey(base(), RAW).hash])
  for (const [name, input] of variants) {
    t.not(keyOf(input), ref, name)
    t.not(keyOf(input, NORMALIZED), keyOf(base(), NORMALIZED), `${name} (normalized)`)
    hashes.add(cacheKey(input, RAW).hash)
  }
  t.equal(hashes.size, variants.length + 1, 'the hash itself differs for every variant, even those the key prefix spells out')
})

t.test('Anthropic: the system prompt and content parts are keyed', async (t) => {
  const ref = keyOf(base(anthropicBody()))
  t.not(keyOf(base({ ...anthropicBody(), system: 'You are verbose.' })), ref, 'system')
  t.not(keyOf(base({ ...anthropicBody(), system: [{ type: 'text', text: 'You are terse.' }] })), ref, 'system as blocks is another body')
  t.not(keyOf(base({ ...anthropicBody(), messages: [{ role: 'user', content: [{ type: 'text', text: 'What is 3+3?' }] }] })), ref, 'a text part')
  t.not(keyOf(base({ ...anthropicBody(), max_tokens: 101 })), ref, 'max_tokens')
})

t.test('reordered JSON keys, at any depth, give the same key', async (t) => {
  const reordered = {
    stream: false,
    response_format: { type: 'text' },
    tool_choice: 'auto',
    tools: [{ function: { parameters: { properties: { a: { type: 'number' } }, type: 'object' }, name: 'add' }, type: 'function' }],
    seed: 7,
    top_p: 1,
    temperature: 0,
    messages: [
      { content: 'You are terse.', role: 'system' },
      { content: 'What is 2+2?', role: 'user' },
    ],
    model: 'gpt-4o-mini',
  }
  t.equal(keyOf(base(reordered)), keyOf(base()))
  t.equal(keyOf(base(JSON.parse(JSON.stringify(chatBody(), null, 2)))), keyOf(base()), 'whitespace in the JSON text is not in the key')
  const swapped = chatBody()
  swapped.messages.reverse()
  t.not(keyOf(base(swapped)), keyOf(base()), 'but array order is')
})

t.test('ignored fields do not change the key; they are top-level only', async (t) => {
  const ref = keyOf(base())
  const extra = { user: 'u-123', metadata: { trace: 'abc' }, store: true, prompt_cache_key: 'pk', safety_identifier: 'sid' }
  t.equal(keyOf(base({ ...chatBody(), ...extra })), ref, 'user, metadata, store, prompt_cache_key, safety_identifier')
  t.equal(keyOf(base({ ...chatBody(), user: 'someone-else' })), ref)
  t.not(keyOf(base({ ...chatBody(), response_format: { type: 'text', user: 'x' } })), ref, 'a nested field named user is keyed')
  const custom: KeyOptions = { normalize: (s) => s, ignoreFields: new Set(['seed']) }
  t.equal(keyOf(base({ ...chatBody(), seed: 99 }), custom), keyOf(base(), custom), 'the ignore list is configurable')
  t.not(keyOf(base({ ...chatBody(), user: 'x' }), custom), keyOf(base(), custom), 'and then user is keyed')
  const body = { ...chatBody(), user: 'u' }
  cacheKey(base(body), RAW)
  t.equal(body.user, 'u', 'the body is not mutated')
})

t.test('normalizer-equivalent prose shares a key only when the normalizer is on', async (t) => {
  const messy = chatBody()
  messy.messages = [
    { role: 'system', content: '  you ARE terse.' },
    { role: 'user', content: 'What  is\u00a02+2?\n' },
  ]
  t.not(keyOf(base(messy)), keyOf(base()), 'off: different')
  t.equal(keyOf(base(messy), NORMALIZED), keyOf(base(), NORMALIZED), 'on: the same')

  const a = anthropicBody()
  const b = { ...anthropicBody(), system: 'YOU are   terse.', messages: [{ role: 'user', content: [{ type: 'text', text: ' what is 2+2? ' }] }] }
  t.not(keyOf(base(b)), keyOf(base(a)))
  t.equal(keyOf(base(b), NORMALIZED), keyOf(base(a), NORMALIZED), 'Anthropic system and text parts')

  const responses = (input: unknown, instructions: string) => ({ model: 'gpt-4o', instructions, input })
  t.equal(
    keyOf(base(responses([{ role: 'user', content: [{ type: 'input_text', text: 'Ship 007 on Nov 5, 2026' }] }], 'Be Brief'))),
    keyOf(base(responses([{ role: 'user', content: [{ type: 'input_text', text: 'Ship 007 on Nov 5, 2026' }] }], 'Be Brief'))),
  )
  t.equal(
    keyOf(base(responses([{ role: 'user', content: [{ type: 'input_text', text: 'Ship 007 on Nov 5, 2026' }] }], 'Be Brief')), NORMALIZED),
    keyOf(base(responses([{ role: 'user', content: [{ type: 'input_text', text: 'ship 7 on 2026-11-05' }] }], 'be brief')), NORMALIZED),
    'Responses: input parts and instructions',
  )
  t.equal(keyOf(base(responses('  Hi', 'x')), NORMALIZED), keyOf(base(responses('hi', 'x')), NORMALIZED), 'string input')
  t.equal(keyOf(base({ model: 'm', prompt: ['A ', 'B'] }), NORMALIZED), keyOf(base({ model: 'm', prompt: ['a', 'b'] }), NORMALIZED), 'completions prompt array')
})

t.test('only prose is normalized; identifiers, enums and tool payloads are verbatim', async (t) => {
  const calls: string[] = []
  const spy: KeyOptions = { normalize: (s) => (calls.push(s), s.toLowerCase()), ignoreFields: DEFAULT_IGNORE_FIELDS }
  const body = {
    model: 'GPT-4o',
    input: 'In',
    text: { format: { type: 'JSON_SCHEMA' } },
    messages: [
      { role: 'user', content: 'Hello', name: 'Al' },
      { role: 'assistant', content: null, tool_calls: [{ id: 'C1', function: { name: 'Add', arguments: '{"A":1}' } }] },
      { role: 'tool', tool_call_id: 'C1', content: [{ type: 'text', text: 'Two' }] },
    ],
    system: [{ type: 'text', text: 'Sys', cache_control: { type: 'EPHEMERAL' } }],
    prompt: [['Nested'], 'Flat'],
    stop: ['END'],
  }
  const out = normalizeBody(body, spy) as Record<string, unknown>
  t.same(calls.sort(), ['Flat', 'Hello', 'In', 'Sys', 'Two'].sort(), 'exactly the prose strings')
  t.equal(out.model, 'GPT-4o')
  t.same(out.text, { format: { type: 'JSON_SCHEMA' } }, 'a `text` object is walked, its enum untouched')
  t.same(out.prompt, [['Nested'], 'flat'], 'only direct array elements of a prose key')
  t.same(out.stop, ['END'])
  t.same((out.messages as unknown[])[1], body.messages[1], 'tool calls verbatim')
  t.equal(normalizeBody(undefined, RAW), null)
  t.equal(normalizeBody('text', spy), 'text', 'a bare string body is not prose')
  t.same(normalizeBody([1, { content: 'X' }], spy), [1, { content: 'x' }])
})

t.test('hostile bodies: deep nesting works, cycles throw instead of hanging', async (t) => {
  let deep: unknown = { content: 'Deep' }
  for (let i = 0; i < 100_000; i++) deep = i % 2 ? [deep] : { x: deep }
  const a = cacheKey(base({ model: 'm', deep }), NORMALIZED)
  t.match(a.hash, /^[0-9a-f]{64}$/)
  let deep2: unknown = { content: 'deep' }
  for (let i = 0; i < 100_000; i++) deep2 = i % 2 ? [deep2] : { x: deep2 }
  t.equal(cacheKey(base({ model: 'm', deep: deep2 }), NORMALIZED).hash, a.hash, 'prose at depth 100k is normalized')
  t.not(cacheKey(base({ model: 'm', deep: deep2 }), RAW).hash, cacheKey(base({ model: 'm', deep }), RAW).hash)
  const cyclic: Record<string, unknown> = { model: 'm' }
  cyclic.messages = [{ content: 'x', self: cyclic }]
  t.throws(() => cacheKey(base(cyclic), RAW), TypeError)
  const shared = { role: 'user', content: 'x' }
  t.equal(keyOf(base({ model: 'm', messages: [shared, shared] })), keyOf(base({ model: 'm', messages: [{ ...shared }, { ...shared }] })), 'shared (acyclic) objects are fine')
})
