import http from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { startStack } from '../helpers/chaperone.js'
import { rawRequest } from '../helpers/raw-http.js'
import { chatChunk, DONE, startScriptedUpstream } from '../helpers/scripted-upstream.js'

/** A /v1/moderations endpoint whose behaviour the test switches: answer, fail, or hang. */
async function startModerationEndpoint() {
  let mode: 'ok' | 'error' | 'hang' = 'ok'
  let requests = 0
  const auth: string[] = []
  const server = http.createServer(async (req, res) => {
    requests++
    auth.push(String(req.headers.authorization))
    const chunks: Buffer[] = []
    for await (const c of req as AsyncIterable<Buffer>) chunks.push(c)
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { input: string[] }
    if (mode === 'hang') return // never answers; the adapter's timeout ends it
    if (mode === 'error') {
      res.writeHead(500).end('{"error":"boom"}')
      return
    }
    const results = body.input.map((text) => {
      const hate = /awful/.test(text) ? 0.97 : 0.01
      return { flagged: hate > 0.5, categories: { hate: hate > 0.5 }, category_scores: { hate, harassment: 0.01 } }
    })
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ id: 'modr-1', model: 'guard', results }))
  })
  server.listen(0, '127.0.0.1')
  await new Promise((r) => server.once('listening', r))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/moderations`,
    set: (m: typeof mode) => (mode = m),
    requests: () => requests,
    auth,
    close: () => {
      server.closeAllConnections()
      return new Promise<void>((r) => server.close(() => r()))
    },
  }
}

const policy = (url: string, onError: string, extra = '') => `apiVersion: chaperone.dev/v1
kind: Policy
metadata: { name: remote }
spec:
  moderation:
    classifiers:
      guard:
        remote: { url: "${url}", model: guard-1, apiKeyEnv: GUARD_KEY, timeoutMs: 150, breaker: { consecutiveFailures: 2, halfOpenAfterMs: 60000 } }
    rules:
      - name: guard
        direction: response
        classifier: { name: guard, thresholds: { hate: 0.8 }, mode: inline, timeoutMs: 1000, onError: ${onError} }
        action: block
${extra}`

const STOPPED = 'This response was stopped by the content policy.'
const request = 'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}'

function content(raw: Buffer): { text: string; finish: string | undefined } {
  let text = ''
  let finish: string | undefined
  for (const line of raw.toString('utf8').split('\n')) {
    if (!line.startsWith('data: {')) continue
    const c = JSON.parse(line.slice(6)) as { choices: { delta: { content?: string }; finish_reason?: string | null }[] }
    text += c.choices[0]?.delta.content ?? ''
    finish = c.choices[0]?.finish_reason ?? finish
  }
  return { text, finish }
}

async function scrape(adminUrl: string): Promise<string> {
  const res = await fetch(`${adminUrl}/metrics`, { headers: { authorization: 'Bearer test-token' } })
  return res.text()
}

t.test('remote classifier through the proxy: verdicts, timeout, 500 and an open breaker each follow onError', async (t) => {
  const endpoint = await startModerationEndpoint()
  t.teardown(() => endpoint.close())
  const upstream = await startScriptedUpstream(() => ({ body: [chatChunk('Nice day. '), chatChunk('You are awful. '), chatChunk('Bye.'), chatChunk(null, { finish: 'stop' }), DONE] }))
  t.teardown(() => upstream.close())
  const env = { CHAPERONE_ADMIN_TOKEN: 'test-token', GUARD_KEY: 'sk-test-123' }

  t.test('onError: block', async (t) => {
    endpoint.set('ok')
    const stack = await startStack({ files: { 'p.yaml': policy(endpoint.url, 'block') }, upstream: upstream.url, env })
    t.teardown(() => stack.close())

    const ok = content((await rawRequest(stack.chaperone.proxyUrl, request)).body)
    t.equal(ok.text, `Nice day.${STOPPED}`, 'the remote verdict blocked the offending sentence')
    t.equal(ok.finish, 'content_filter')
    t.equal(endpoint.auth.at(-1), 'Bearer sk-test-123', 'the key from the environment is sent')

    endpoint.set('hang')
    const timedOut = content((await rawRequest(stack.chaperone.proxyUrl, request)).body)
    t.equal(timedOut.text, STOPPED, 'a timeout with onError: block lets nothing unchecked through')
    t.equal(timedOut.finish, 'content_filter')

    endpoint.set('error')
    const failed = content((await rawRequest(stack.chaperone.proxyUrl, request)).body)
    t.equal(failed.text, STOPPED, 'a 500 with onError: block lets nothing unchecked through')

    // Two failures in a row opened the breaker: the next request never reaches the endpoint.
    const before = endpoint.requests()
    endpoint.set('ok')
    const open = content((await rawRequest(stack.chaperone.proxyUrl, request)).body)
    t.equal(open.text, STOPPED, 'an open breaker follows onError: block')
    t.equal(endpoint.requests(), before, 'no call while the breaker is open')

    const metrics = await scrape(stack.chaperone.adminUrl)
    t.match(metrics, /chaperone_classifier_breaker_state\{classifier="guard",state="open"\} 1/)
    t.match(metrics, /chaperone_classifier_remote_calls_total\{classifier="guard",outcome="timeout"\} 1/)
    t.match(metrics, /chaperone_classifier_remote_calls_total\{classifier="guard",outcome="http_error"\} 1/)
    t.match(metrics, /chaperone_classifier_remote_calls_total\{classifier="guard",outcome="rejected_open"\} [1-9]/)
    t.match(metrics, /chaperone_moderation_dependency_errors_total\{rule="guard",policy="block",reason="error"\} [1-9]/)
    t.notMatch(stack.logs.text(), /sk-test-123/, 'the key is never logged')
  })

  t.test('onError: allow', async (t) => {
    endpoint.set('error')
    const stack = await startStack({ files: { 'p.yaml': policy(endpoint.url, 'allow') }, upstream: upstream.url, env })
    t.teardown(() => stack.close())
    const failed = content((await rawRequest(stack.chaperone.proxyUrl, request)).body)
    t.equal(failed.text, 'Nice day. You are awful. Bye.', 'onError: allow passes the text on a failure')
    t.equal(failed.finish, 'stop')
    const metrics = await scrape(stack.chaperone.adminUrl)
    t.match(metrics, /chaperone_moderation_dependency_errors_total\{rule="guard",policy="allow",reason="error"\} [1-9]/)
  })

  t.test('an empty API key variable is a load error naming the key', async (t) => {
    const stack = await startStack({ files: { 'p.yaml': policy(endpoint.url, 'allow') }, upstream: upstream.url, env: { CHAPERONE_ADMIN_TOKEN: 'test-token' } })
    t.teardown(() => stack.close())
    t.equal(stack.chaperone.store.current(), undefined, 'no policy loaded')
    t.match(stack.logs.text(), /p\.yaml:spec\.moderation\.classifiers\.guard\.remote\.url.*GUARD_KEY/)
  })
})
