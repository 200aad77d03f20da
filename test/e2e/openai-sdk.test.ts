import t from 'tap'
import OpenAI from 'openai'
import { startStack } from '../helpers/chaperone.js'

// The official SDK is the client our users run: it must get exactly what it gets directly.
t.test('the official openai SDK gets the same text through Chaperone as directly', async (t) => {
  const stack = await startStack({ paceMs: 1 })
  t.teardown(() => stack.close())
  const direct = new OpenAI({ baseURL: `${stack.bot.url}/v1`, apiKey: 'sk-test', maxRetries: 0 })
  const proxied = new OpenAI({ baseURL: `${stack.chaperone.proxyUrl}/v1`, apiKey: 'sk-test', maxRetries: 0 })
  const messages = [{ role: 'user' as const, content: 'Grüße aus 東京 😀 — how are you?' }]

  t.test('non-streaming', async (t) => {
    const a = await direct.chat.completions.create({ model: 'demo', messages })
    const b = await proxied.chat.completions.create({ model: 'demo', messages })
    t.ok(a.choices[0]!.message.content!.length > 20)
    t.equal(b.choices[0]!.message.content, a.choices[0]!.message.content)
    t.same(b.usage, a.usage)
  })

  t.test('streaming', async (t) => {
    const collect = async (client: OpenAI) => {
      const stream = await client.chat.completions.create({ model: 'demo', messages, stream: true, stream_options: { include_usage: true } }, { headers: { 'x-demo-deltas': '40' } })
      const deltas: string[] = []
      let finish: string | null | undefined
      for await (const chunk of stream) {
        const c = chunk.choices[0]
        if (c?.delta.content) deltas.push(c.delta.content)
        if (c?.finish_reason) finish = c.finish_reason
      }
      return { deltas, finish }
    }
    const a = await collect(direct)
    const b = await collect(proxied)
    t.equal(a.deltas.length, 40)
    t.same(b.deltas, a.deltas, 'same deltas, same boundaries')
    t.equal(b.finish, 'stop')
  })

  t.test('upstream errors reach the SDK as API errors with their status', async (t) => {
    const err = await proxied.chat.completions.create({ model: 'demo', messages }, { headers: { 'x-demo-status': '503' } }).catch((e: unknown) => e)
    t.ok(err instanceof OpenAI.APIError)
    t.equal((err as InstanceType<typeof OpenAI.APIError>).status, 503)
  })
})
