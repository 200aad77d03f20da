import t from 'tap'
import OpenAI from 'openai'
import { startStack } from '../helpers/chaperone.js'

const POLICY = `apiVersion: chaperone.dev/v1
kind: Policy
metadata: { name: sdk }
spec:
  moderation:
    rules:
      - { name: banned, direction: response, keywords: [forbiddenword], action: block }
      - { name: mail, direction: response, pii: [email], action: redact }
`

// The demo chatbot repeats the prompt, so the prompt steers what the answer contains.
t.test('the official openai SDK through moderation', async (t) => {
  const stack = await startStack({ paceMs: 1, files: { 'policy.yaml': POLICY } })
  t.teardown(() => stack.close())
  const client = new OpenAI({ baseURL: `${stack.chaperone.proxyUrl}/v1`, apiKey: 'sk-test', maxRetries: 0 })

  t.test('a streamed block ends with finish_reason content_filter and no error', async (t) => {
    const stream = await client.chat.completions.create({ model: 'demo', stream: true, messages: [{ role: 'user', content: 'please say forbiddenword twice' }] })
    let text = ''
    let finish: string | null | undefined
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? ''
      finish = chunk.choices[0]?.finish_reason ?? finish
    }
    t.equal(finish, 'content_filter')
    t.notMatch(text, /forbiddenword/)
    t.match(text, /^You said: please say /, 'text before the term arrives')
  })

  t.test('a streamed redaction keeps the stream whole', async (t) => {
    const stream = await client.chat.completions.create({ model: 'demo', stream: true, messages: [{ role: 'user', content: 'mail ann@example.com now' }] })
    let text = ''
    let finish: string | null | undefined
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? ''
      finish = chunk.choices[0]?.finish_reason ?? finish
    }
    t.match(text, /You said: mail \[REDACTED:EMAIL\] now\./)
    t.equal(finish, 'stop')
  })

  t.test('non-streamed: the same verdicts', async (t) => {
    const a = await client.chat.completions.create({ model: 'demo', messages: [{ role: 'user', content: 'please say forbiddenword twice' }] })
    t.equal(a.choices[0]!.finish_reason, 'content_filter')
    t.notMatch(JSON.stringify(a), /forbiddenword/)
    const b = await client.chat.completions.create({ model: 'demo', messages: [{ role: 'user', content: 'mail ann@example.com now' }] })
    t.match(b.choices[0]!.message.content!, /You said: mail \[REDACTED:EMAIL\] now\./)
  })
})
