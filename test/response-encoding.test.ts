/**
 * Filters read response bodies as text, so Chaperone asks the chatbot for identity encoding
 * whenever a filter transforms responses, and refuses a compressed answer rather than let its
 * bytes pass moderation unread. Without response filters, encodings pass through untouched.
 */
import t from 'tap'
import { gzipSync } from 'node:zlib'
import { startStack } from './helpers/chaperone.js'
import { startScriptedUpstream, chatChunk, DONE } from './helpers/scripted-upstream.js'

const MODERATED = `apiVersion: chaperone.dev/v1
kind: Policy
metadata: { name: encoding }
spec:
  moderation:
    rules:
      - name: no-swordfish
        direction: response
        action: redact
        keywords: [swordfish]
`

t.test('with response filters: accept-encoding identity upstream, a compressed answer is refused', async (t) => {
  const up = await startScriptedUpstream((req) =>
    req.url.includes('gzip')
      ? { headers: { 'content-type': 'text/event-stream', 'content-encoding': 'gzip' }, body: [gzipSync(chatChunk('the swordfish') + DONE)] }
      : { body: [chatChunk('the swordfish'), DONE] },
  )
  t.teardown(() => up.close())
  const s = await startStack({ files: { 'policy.yaml': MODERATED }, upstream: up.url })
  t.teardown(() => s.close())
  const plain = await fetch(s.chaperone.proxyUrl + '/v1/chat/completions', { method: 'POST', headers: { 'content-type': 'application/json', 'accept-encoding': 'gzip, br' }, body: '{}' })
  t.equal(plain.status, 200)
  t.notMatch(await plain.text(), /swordfish/, 'moderated')
  const seen = up.requests[0]!
  t.ok(seen, 'the upstream saw the request')
  const gz = await fetch(s.chaperone.proxyUrl + '/gzip/v1/chat/completions', { method: 'POST', headers: { 'content-type': 'application/json', 'accept-encoding': 'gzip' }, body: '{}' })
  t.equal(gz.status, 502)
  t.match(await gz.json(), { error: { code: 'upstream_error' } })
  t.ok(s.logs.lines.some((l) => typeof l.detail === 'string' && /content-encoding gzip despite accept-encoding: identity/.test(l.detail)))
})

t.test('accept-encoding reaches the upstream as identity only when response filters run', async (t) => {
  const headersSeen: string[] = []
  const http = await import('node:http')
  const server = http.createServer((req, res) => {
    headersSeen.push(String(req.headers['accept-encoding']))
    res.writeHead(200, { 'content-type': 'text/event-stream' })
    res.end(chatChunk('hi') + DONE)
  })
  server.listen(0, '127.0.0.1')
  await new Promise((r) => server.once('listening', r))
  t.teardown(() => new Promise<void>((r) => server.close(() => r())))
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`
  for (const [files, expected] of [[{ 'policy.yaml': MODERATED }, 'identity'], [undefined, 'gzip, br']] as const) {
    const s = await startStack({ ...(files ? { files } : {}), upstream: url })
    await (await fetch(s.chaperone.proxyUrl + '/v1/chat/completions', { method: 'POST', headers: { 'content-type': 'application/json', 'accept-encoding': 'gzip, br' }, body: '{}' })).text()
    await s.close()
    t.equal(headersSeen.at(-1), expected)
  }
})
