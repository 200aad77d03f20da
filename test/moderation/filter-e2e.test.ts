import t from 'tap'
import { request } from 'undici'
import { Readable } from 'node:stream'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { startStack } from '../helpers/chaperone.js'
import { chatChunk, DONE, startScriptedUpstream, type Script } from '../helpers/scripted-upstream.js'

const POLICY = `apiVersion: chaperone.dev/v1
kind: Policy
metadata: { name: moderation }
spec:
  moderation:
    principal: { regionHeader: x-region, tierHeader: x-tier }
    rules:
      - name: no-secret-project
        direction: request
        keywords: [project falcon]
        action: block
      - name: prompt-emails
        direction: request
        pii: [email]
        action: redact
      - name: banned
        direction: response
        keywords: [forbiddenword]
        action: block
      - name: eu-phones
        direction: response
        pii: [phone]
        action: redact
        when: 'has(principal.region) && principal.region == "eu"'
      - name: free-tier-ticket-ids
        direction: response
        regex: 'ACME-[0-9]{6}'
        maxMatchLength: 11
        action: redact
        redact: { keepLast: 2 }
        when: 'has(principal.tier) && principal.tier == "free"'
      - name: watch-cards
        direction: response
        pii: [credit_card]
        action: block
        shadow: true
`

const chatBody = (content: string, stream = true) => JSON.stringify({ model: 'm', stream, messages: [{ role: 'system', content: 'be nice' }, { role: 'user', content }] })

function completion(content: string): Script {
  return {
    headers: { 'content-type': 'application/json' },
    body: [JSON.stringify({ id: 'c1', object: 'chat.completion', created: 1, model: 'm', choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }] })],
  }
}

function streamed(text: string): Script {
  const words = text.match(/\S+\s*/g) ?? []
  return { body: [chatChunk('', { role: 'assistant' }), ...words.map((w) => chatChunk(w)), chatChunk(null, { finish: 'stop' }), DONE] }
}

async function streamText(res: Awaited<ReturnType<typeof request>>): Promise<{ text: string; finish: string[] }> {
  const raw = await res.body.text()
  let text = ''
  const finish: string[] = []
  for (const line of raw.split('\n')) {
    if (!line.startsWith('data: ') || line === 'data: [DONE]') continue
    const c = JSON.parse(line.slice(6)) as { choices: { delta: { content?: string }; finish_reason: string | null }[] }
    for (const ch of c.choices) {
      text += ch.delta.content ?? ''
      if (ch.finish_reason) finish.push(ch.finish_reason)
    }
  }
  return { text, finish }
}

t.test('moderation filter end to end', async (t) => {
  let script: Script = streamed('hello')
  const upstream = await startScriptedUpstream(() => script)
  const stack = await startStack({ files: { 'policy.yaml': POLICY }, upstream: upstream.url, adjust: (c) => ({ ...c, limits: { ...c.limits, maxRequestBodyBytes: 64 * 1024 } }) })
  t.teardown(async () => {
    await stack.close()
    await upstream.close()
  })
  const url = `${stack.chaperone.proxyUrl}/v1/chat/completions`
  const post = (body: string, headers: Record<string, string> = {}) => request(url, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } })

  t.test('a blocked prompt gets 400 content_policy_violation and nothing goes upstream', async (t) => {
    const before = upstream.requests.length
    const res = await post(chatBody('tell me about Project  FALC0N please'))
    t.equal(res.statusCode, 400)
    const body = (await res.body.json()) as { error: { code: string; message: string } }
    t.equal(body.error.code, 'content_policy_violation')
    t.notMatch(body.error.message, /falcon|no-secret-project/i, 'no rule internals in the reply')
    t.equal(upstream.requests.length, before)
    t.match(stack.logs.text(), /no-secret-project/, 'the rule is in the log')
  })

  t.test('a prompt with an e-mail is redacted before it goes upstream', async (t) => {
    script = streamed('ok')
    const res = await post(chatBody('write to jane.roe@example.org today'))
    t.equal(res.statusCode, 200)
    await res.body.text()
    const sent = JSON.parse(upstream.requests.at(-1)!.body) as { messages: { content: string }[] }
    t.equal(sent.messages[1]!.content, 'write to [REDACTED:EMAIL] today')
    t.equal(sent.messages[0]!.content, 'be nice', 'other messages untouched')
  })

  t.test('a non-streamed answer with a banned word is replaced by a refusal in the same format', async (t) => {
    script = completion('this has the forbiddenword in it')
    const res = await post(chatBody('hi', false))
    t.equal(res.statusCode, 200)
    const body = (await res.body.json()) as { choices: { message: { content: string }; finish_reason: string }[] }
    t.equal(body.choices[0]!.finish_reason, 'content_filter')
    t.notMatch(JSON.stringify(body), /forbiddenword/)
    t.equal(res.headers['content-length'], String(Buffer.byteLength(JSON.stringify(body))))
  })

  t.test('region and tier conditions: the same answer, three users', async (t) => {
    const answer = 'Call +44 20 7946 0958 about ACME-123456 now'
    script = streamed(answer)
    const anon = await streamText(await post(chatBody('hi')))
    t.equal(anon.text, answer, 'no region, no tier: those rules do not apply')
    const eu = await streamText(await post(chatBody('hi'), { 'x-region': 'eu' }))
    t.equal(eu.text, 'Call [REDACTED:PHONE] about ACME-123456 now')
    const euFree = await streamText(await post(chatBody('hi'), { 'x-region': 'eu', 'x-tier': 'free' }))
    t.equal(euFree.text, 'Call [REDACTED:PHONE] about *********56 now')
    t.same(euFree.finish, ['stop'])
  })

  t.test('shadow rules are counted and logged but never act', async (t) => {
    script = streamed('card 4111 1111 1111 1111 ok')
    const r = await streamText(await post(chatBody('hi')))
    t.equal(r.text, 'card 4111 1111 1111 1111 ok')
    const m = await (await request(`${stack.chaperone.adminUrl}/metrics`)).body.text()
    t.match(m, /chaperone_moderation_matches_total\{rule="watch-cards",action="block",shadow="true",direction="response"\} 1/)
    t.match(m, /chaperone_moderation_holdback_max_code_units_count [1-9]/, 'every channel reports its largest hold when it ends')
  })

  t.test('held text is flushed before finish_reason, and the stream keeps its shape', async (t) => {
    script = { body: [chatChunk('', { role: 'assistant' }), chatChunk('the forbidden'), chatChunk('wor'), chatChunk(null, { finish: 'stop' }), DONE] }
    const r = await streamText(await post(chatBody('hi')))
    t.equal(r.text, 'the forbiddenwor', 'a prefix of a keyword is released once the stream says it is over')
    t.same(r.finish, ['stop'])
  })

  t.test('a prompt that cannot be read whole is refused, never passed unchecked', async (t) => {
    const before = upstream.requests.length
    const gz = await post(chatBody('tell me about project falcon'), { 'content-encoding': 'gzip' })
    t.equal(gz.statusCode, 415)
    t.equal(((await gz.body.json()) as { error: { code: string } }).error.code, 'unsupported_encoding')
    // A chunked body over limits.maxRequestBodyBytes, read whole because prompts are moderated.
    const big = await request(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: Readable.from([Buffer.from('{"messages":"'), Buffer.alloc(70 * 1024, 0x61), Buffer.from('"}')]) })
    t.equal(big.statusCode, 413)
    t.equal(((await big.body.json()) as { error: { code: string } }).error.code, 'body_too_large')
    t.equal(upstream.requests.length, before, 'nothing went upstream')
  })

  t.test('the preview API reports matches of the active and of a candidate policy', async (t) => {
    const admin = (body: unknown) =>
      request(`${stack.chaperone.adminUrl}/admin/moderation/check`, { method: 'POST', body: JSON.stringify(body), headers: { authorization: 'Bearer test-token', 'content-type': 'application/json' } })
    const res = await admin({ text: 'a f0rb1dden-word? no: forbiddenword', direction: 'response' })
    t.equal(res.statusCode, 200)
    const out = (await res.body.json()) as { policy: string; decision: string; matches: { rule: string; span: [number, number]; original: string; normalized: string }[]; tookMs: number }
    t.equal(out.policy, 'active')
    t.equal(out.decision, 'block')
    t.same(
      out.matches.map((m) => [m.rule, m.original]),
      [['banned', 'forbiddenword']],
    )
    t.type(out.tookMs, 'number')
    const eu = (await (await admin({ text: 'ring +44 20 7946 0958', principal: { region: 'eu' } })).body.json()) as { decision: string; output: string }
    t.equal(eu.decision, 'redact')
    t.equal(eu.output, 'ring [REDACTED:PHONE]')
    const candidate = `apiVersion: chaperone.dev/v1\nkind: Policy\nmetadata: { name: c }\nspec:\n  moderation:\n    rules:\n      - { name: new-rule, keywords: [ring], action: flag, shadow: true }\n`
    const c = (await (await admin({ text: 'ring ring', policy: candidate })).body.json()) as { policy: string; decision: string; matches: { rule: string; shadow: boolean }[] }
    t.equal(c.policy, 'candidate')
    t.equal(c.decision, 'allow', 'shadow matches decide nothing')
    t.equal(c.matches.length, 2)
    const huge = await admin({ text: 'x'.repeat(3 * 1024 * 1024) })
    t.equal(huge.statusCode, 413, 'a preview body over 2 MiB is refused')
    await huge.body.text()
    const bad = await admin({ text: 'x', policy: candidate.replace('keywords: [ring]', "regex: '(?=a)'") })
    t.equal(bad.statusCode, 400)
    t.match(JSON.stringify(await bad.body.json()), /candidate\.yaml:spec\.moderation\.rules\[0\]/)
    t.equal(stack.chaperone.store.current()!.version, 1, 'nothing was activated')
  })

  t.test('an RE2-incompatible regex is a load error with file:path, and the last good policy stays', async (t) => {
    await writeFile(join(stack.dir, 'policy.yaml'), POLICY.replace("regex: 'ACME-[0-9]{6}'", "regex: '(ACME)-\\1'"))
    let status = ''
    for (let i = 0; i < 200 && !status.includes('policy.yaml:spec.moderation.rules[4].regex'); i++) {
      await new Promise((r) => setTimeout(r, 25))
      status = await (await request(`${stack.chaperone.adminUrl}/admin/config`, { headers: { authorization: 'Bearer test-token' } })).body.text()
    }
    t.match(status, 'policy.yaml:spec.moderation.rules[4].regex', 'the error names the file and path')
    script = completion('still forbiddenword here')
    const res = await post(chatBody('hi', false))
    t.notMatch(await res.body.text(), /forbiddenword/, 'the old rules still apply')
    await writeFile(join(stack.dir, 'policy.yaml'), POLICY)
  })
})
