import t from 'tap'
import { createHash } from 'node:crypto'
import OpenAI from 'openai'
import { startDemoChatbot, type DemoChatbot } from '../../src/demo/chatbot.js'
import type { EchoReply } from '../../src/demo/echo.js'
import { replyDeltas } from '../../src/demo/reply-text.js'

const chatBody = (text: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ model: 'gpt-test', messages: [{ role: 'system', content: 'be nice' }, { role: 'user', content: text }], ...extra })

async function post(bot: DemoChatbot, body: string, headers: Record<string, string> = {}, signal?: AbortSignal) {
  return fetch(`${bot.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body, ...(signal ? { signal } : {}) })
}

type ErrorBody = { error: { type: string; code: string | null } }

// The raw SSE data payloads, in order, so shape assertions see what the wire carried.
function sseData(text: string): string[] {
  return text
    .split('\n\n')
    .filter((e) => e.startsWith('data: '))
    .map((e) => e.slice('data: '.length))
}

async function until(cond: () => boolean, ms = 2000): Promise<boolean> {
  const end = Date.now() + ms
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 10))
  return cond()
}

t.test('demo chatbot', async (t) => {
  const bot = await startDemoChatbot({ port: 0, paceMs: 1 })
  t.teardown(() => bot.close())
  const openai = new OpenAI({ baseURL: bot.url + '/v1', apiKey: 'x', maxRetries: 0 })

  t.test('non-streaming answers are standard and deterministic', async (t) => {
    const a = await post(bot, chatBody('hello there'))
    t.equal(a.status, 200)
    t.match(a.headers.get('content-type'), /application\/json/)
    const textA = await a.text()
    const textB = await (await post(bot, chatBody('hello there'))).text()
    t.equal(textA, textB, 'byte-identical across calls')
    const json = JSON.parse(textA)
    t.equal(json.object, 'chat.completion')
    t.equal(json.model, 'gpt-test')
    t.match(json.id, /^chatcmpl-/)
    t.type(json.created, 'number')
    t.same(json.choices[0].message.role, 'assistant')
    t.equal(json.choices[0].message.content, "You said: hello there. This is Chaperone's demo chatbot, answering deterministically.")
    t.equal(json.choices[0].finish_reason, 'stop')
    t.equal(json.usage.prompt_tokens, 4)
    t.equal(json.usage.completion_tokens, 11)
    t.equal(json.usage.total_tokens, 15)
  })

  t.test('the official SDK parses both forms, and the stream concatenates to the whole answer', async (t) => {
    const params = { model: 'demo', messages: [{ role: 'user' as const, content: 'stream me' }] }
    const whole = await openai.chat.completions.create(params)
    const content = whole.choices[0]?.message.content
    t.ok(content?.startsWith('You said: stream me.'))

    const stream = await openai.chat.completions.create({ ...params, stream: true, stream_options: { include_usage: true } })
    let text = ''
    let role: string | undefined
    let finish: string | null | undefined
    let usage: OpenAI.CompletionUsage | null | undefined
    let contentChunks = 0
    for await (const c of stream) {
      t.equal(c.object, 'chat.completion.chunk')
      const choice = c.choices[0]
      if (choice?.delta.role) role = choice.delta.role
      if (choice?.delta.content) {
        text += choice.delta.content
        contentChunks++
      }
      if (choice?.finish_reason) finish = choice.finish_reason
      if (c.usage) usage = c.usage
    }
    t.equal(role, 'assistant')
    t.equal(text, content)
    t.equal(contentChunks, content!.split(' ').length, 'one delta per word by default')
    t.equal(finish, 'stop')
    t.same(usage, whole.usage)
  })

  t.test('the raw stream has exactly OpenAI’s sequence of events', async (t) => {
    const res = await post(bot, chatBody('raw', { stream: true }), { 'x-demo-deltas': '3', 'x-demo-pace-ms': '0' })
    t.match(res.headers.get('content-type'), /^text\/event-stream/)
    const data = sseData(await res.text())
    t.equal(data.length, 1 + 3 + 1 + 1)
    t.same(JSON.parse(data[0]!).choices[0].delta, { role: 'assistant', content: '', refusal: null })
    for (const d of data.slice(1, 4)) {
      const c = JSON.parse(d)
      t.equal(c.choices[0].finish_reason, null)
      t.same(Object.keys(c.choices[0].delta), ['content'])
      t.notOk('usage' in c, 'no usage key unless asked for')
    }
    const last = JSON.parse(data[4]!)
    t.same(last.choices[0].delta, {})
    t.equal(last.choices[0].finish_reason, 'stop')
    t.equal(data[5], '[DONE]')
  })

  t.test('x-demo-deltas and x-demo-pace-ms shape the stream; more deltas than words adds filler', async (t) => {
    const started = Date.now()
    const res = await post(bot, chatBody('hi', { stream: true }), { 'x-demo-deltas': '64', 'x-demo-pace-ms': '5' })
    const data = sseData(await res.text())
    const elapsed = Date.now() - started
    const contents = data.slice(1, -2).map((d) => JSON.parse(d).choices[0].delta.content as string)
    t.equal(contents.length, 64)
    t.ok(contents.every((c) => c.length > 0))
    t.ok(elapsed >= 63 * 5 * 0.8, `paced: took ${elapsed} ms`)
    const whole = JSON.parse(await (await post(bot, chatBody('hi'), { 'x-demo-deltas': '64' })).text())
    t.equal(contents.join(''), whole.choices[0].message.content, 'same text streamed or not')
    t.match(whole.choices[0].message.content, /deterministically\. Lorem ipsum/)
    t.same(replyDeltas('hi', { deltas: 64 }), contents, 'the same text every time')
  })

  t.test('fewer deltas than words groups the words', async (t) => {
    const res = await post(bot, chatBody('one two three four five six', { stream: true }), { 'x-demo-deltas': '2', 'x-demo-pace-ms': '0' })
    const contents = sseData(await res.text())
      .slice(1, -2)
      .map((d) => JSON.parse(d).choices[0].delta.content as string)
    t.equal(contents.length, 2)
    t.equal(contents.join(''), "You said: one two three four five six. This is Chaperone's demo chatbot, answering deterministically.")
  })

  t.test('a client disconnect stops the stream and clears its timer', async (t) => {
    const before = bot.stats()
    const ac = new AbortController()
    const res = await post(bot, chatBody('long', { stream: true }), { 'x-demo-deltas': '1000', 'x-demo-pace-ms': '20' }, ac.signal)
    const reader = res.body!.getReader()
    let seen = ''
    while ((seen.match(/"content":"[^"]/g) ?? []).length < 3) {
      const { value, done } = await reader.read()
      if (done) break
      seen += Buffer.from(value).toString()
    }
    t.equal(bot.stats().activeStreams, before.activeStreams + 1)
    ac.abort()
    t.ok(await until(() => bot.stats().activeStreams === before.activeStreams), 'stream no longer active')
    const written = bot.stats().deltasWritten
    await new Promise((r) => setTimeout(r, 150))
    t.equal(bot.stats().deltasWritten, written, 'nothing written after the disconnect')
    t.equal(bot.stats().streamsAborted, before.streamsAborted + 1)
    t.ok(written - before.deltasWritten < 50, 'stopped long before the end')
  })

  t.test('x-demo-status replies with an OpenAI-style error', async (t) => {
    const res = await post(bot, chatBody('x'), { 'x-demo-status': '429' })
    t.equal(res.status, 429)
    const body = (await res.json()) as ErrorBody
    t.equal(body.error.type, 'rate_limit_exceeded')
    t.equal(body.error.code, 'demo_forced_status')
    const failed = await openai.chat.completions.create({ model: 'demo', messages: [{ role: 'user', content: 'x' }] }, { headers: { 'x-demo-status': '503' } }).catch((e: unknown) => e)
    t.ok(failed instanceof OpenAI.APIError && failed.status === 503, 'the SDK sees a 503 API error')
  })

  t.test('x-demo-delay-headers-ms holds the headers back', async (t) => {
    const started = Date.now()
    const res = await post(bot, chatBody('slow'), { 'x-demo-delay-headers-ms': '200' })
    t.ok(Date.now() - started >= 180, 'headers came late')
    t.equal(res.status, 200)
    await res.text()
    await t.rejects(post(bot, chatBody('slow'), { 'x-demo-delay-headers-ms': '2000' }, AbortSignal.timeout(100)))
  })

  t.test('bad requests', async (t) => {
    t.equal((await post(bot, 'not json')).status, 400)
    t.equal((await post(bot, '{"model":"x"}')).status, 400)
    const big = await post(bot, JSON.stringify({ messages: [{ role: 'user', content: 'x'.repeat(1024 * 1024) }] }))
    t.equal(big.status, 413)
    t.equal(((await big.json()) as ErrorBody).error.code, 'body_too_large')
    const get = await fetch(`${bot.url}/v1/chat/completions`)
    t.equal(get.status, 405)
    await get.text()
    const missing = await fetch(`${bot.url}/nope`)
    t.equal(missing.status, 404)
    t.equal(((await missing.json()) as ErrorBody).error.code, 'not_found')
  })

  t.test('models and health', async (t) => {
    const models = await openai.models.list()
    t.same(models.data.map((m) => m.id), ['demo'])
    t.equal((await fetch(`${bot.url}/healthz`)).status, 200)
  })

  t.test('echo reports raw headers and the body it received', async (t) => {
    const body = Buffer.alloc(3 * 1024 * 1024 + 7, 'ab')
    const res = await fetch(`${bot.url}/echo/some/path?q=1`, { method: 'PUT', headers: { 'X-Custom-Case': 'Value', 'x-dup': 'a' }, body })
    t.equal(res.status, 200)
    const echo = (await res.json()) as EchoReply
    t.equal(echo.method, 'PUT')
    t.equal(echo.url, '/echo/some/path?q=1')
    t.ok(echo.headers.some(([k, v]) => k === 'X-Custom-Case' && v === 'Value'), 'original header case kept')
    t.same(echo.body, { bytes: body.length, sha256: createHash('sha256').update(body).digest('hex') })
    const get = (await (await fetch(`${bot.url}/echo`)).json()) as EchoReply
    t.same(get.body, { bytes: 0, sha256: createHash('sha256').digest('hex') })
  })
})

t.test('close() ends streams that are still running', async (t) => {
  const bot = await startDemoChatbot({ port: 0, paceMs: 50, deltas: 1000 })
  const res = await post(bot, chatBody('x', { stream: true }))
  const reader = res.body!.getReader()
  await reader.read()
  t.equal(bot.stats().activeStreams, 1)
  await bot.close()
  t.equal(bot.stats().activeStreams, 0)
  await t.rejects(
    (async () => {
      for (;;) if ((await reader.read()).done) throw new Error('ended cleanly')
    })(),
  )
})
