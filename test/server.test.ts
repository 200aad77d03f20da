import t from 'tap'
import http from 'node:http'
import net from 'node:net'
import { createHash, randomBytes } from 'node:crypto'
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import { request } from 'undici'
import { Readable } from 'node:stream'
import { startStack } from './helpers/chaperone.js'
import { rawRequest } from './helpers/raw-http.js'
import type { EchoReply } from '../src/demo/echo.js'
import { eventually } from './helpers/eventually.js'
import type { ProcessConfig } from '../src/core/config/process-schema.js'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

type Echo = EchoReply

function withTimeout(key: keyof ProcessConfig['upstream']['timeouts'], ms: number) {
  return (c: ProcessConfig): ProcessConfig => ({ ...c, upstream: { ...c.upstream, timeouts: { ...c.upstream.timeouts, [key]: ms } } })
}

function headerValues(pairs: [string, string][], name: string): string[] {
  return pairs.filter(([k]) => k.toLowerCase() === name).map(([, v]) => v)
}

t.test('pass-through proxy', async (t) => {
  const stack = await startStack({ adjust: (c) => ({ ...c, limits: { ...c.limits, maxRequestBodyBytes: 64 * 1024 } }) })
  t.teardown(() => stack.close())
  const base = stack.chaperone.proxyUrl

  t.test('hop-by-hop headers are stripped, including those named by Connection; own headers are added after', async (t) => {
    const res = await rawRequest(
      base,
      `GET /echo/x?q=1 HTTP/1.1\r\nHost: chatbot.local\r\nConnection: close, X-Forwarded-For, X-Secret\r\n` +
        `X-Forwarded-For: 6.6.6.6\r\nX-Secret: s3cret\r\nKeep-Alive: timeout=99\r\nTE: trailers\r\nProxy-Authorization: Basic eA==\r\n` +
        `Proxy-Connection: keep-alive\r\nUpgrade-Insecure-Requests: 1\r\nX-Keep: kept\r\nx-keep: again\r\nX-Request-Id: bad id with spaces\r\n\r\n`,
    )
    t.equal(res.status, 200)
    const echo = JSON.parse(res.body.toString()) as Echo
    const names = new Set(echo.headers.map(([n]) => n.toLowerCase()))
    t.notMatch(headerValues(echo.headers, 'connection').join(), /x-secret|x-forwarded-for|close/i, "the client's Connection is not forwarded (undici sets its own for our hop)")
    for (const gone of ['x-secret', 'keep-alive', 'te', 'proxy-authorization', 'proxy-connection']) t.notOk(names.has(gone), `${gone} stripped`)
    t.same(headerValues(echo.headers, 'x-forwarded-for'), ['127.0.0.1'], 'the client XFF named in Connection is gone; ours is added after')
    t.same(headerValues(echo.headers, 'x-forwarded-proto'), ['http'])
    t.same(headerValues(echo.headers, 'x-keep'), ['kept', 'again'], 'end-to-end duplicates keep their order')
    t.same(headerValues(echo.headers, 'upgrade-insecure-requests'), ['1'], 'only the exact hop-by-hop names go')
    t.same(headerValues(echo.headers, 'host'), ['chatbot.local'], 'Host is passed through')
    const ids = headerValues(echo.headers, 'x-request-id')
    t.equal(ids.length, 1)
    t.match(ids[0], UUID, 'an unsafe client request id is replaced by a generated one')
    t.equal(res.headers['x-request-id'], ids[0], 'the client gets the same id back')
    t.equal(echo.url, '/echo/x?q=1', 'path and query are forwarded as received')
  })

  t.test('X-Forwarded-For is appended to and a safe request id is kept', async (t) => {
    const res = await request(`${base}/echo`, { headers: { 'x-forwarded-for': '10.0.0.1', 'x-request-id': 'trace-123' } })
    const echo = (await res.body.json()) as Echo
    t.same(headerValues(echo.headers, 'x-forwarded-for'), ['10.0.0.1, 127.0.0.1'])
    t.same(headerValues(echo.headers, 'x-request-id'), ['trace-123'])
    t.equal(res.headers['x-request-id'], 'trace-123')
  })

  t.test('request bodies stream through intact, chunked or not', async (t) => {
    const body = randomBytes(60 * 1024)
    const sha = createHash('sha256').update(body).digest('hex')
    const fixed = (await (await request(`${base}/echo`, { method: 'POST', body })).body.json()) as Echo
    t.same(fixed.body, { sha256: sha, bytes: body.length })
    async function* chunks() {
      for (let i = 0; i < body.length; i += 7000) yield body.subarray(i, i + 7000)
    }
    const chunked = (await (await request(`${base}/echo`, { method: 'POST', body: Readable.from(chunks()) })).body.json()) as Echo
    t.same(chunked.body, { sha256: sha, bytes: body.length })
  })

  t.test('413 for a declared or a streamed body over the limit', async (t) => {
    const declared = await request(`${base}/echo`, { method: 'POST', body: Buffer.alloc(64 * 1024 + 1) })
    t.equal(declared.statusCode, 413)
    t.match(await declared.body.json(), { error: { code: 'body_too_large' } })
    async function* big() {
      for (let i = 0; i < 20; i++) yield Buffer.alloc(8 * 1024, 1)
    }
    const streamed = await request(`${base}/echo`, { method: 'POST', body: Readable.from(big()) })
    t.equal(streamed.statusCode, 413, 'a chunked body is counted as it streams')
    t.match(await streamed.body.json(), { error: { code: 'body_too_large' } })
  })

  t.test('protocol upgrades (h2c, websocket) are refused with a catalogue error', async (t) => {
    const res = await rawRequest(base, `GET /v1/models HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n`)
    t.equal(res.status, 501)
    t.match(JSON.parse(res.body.toString()), { error: { code: 'upgrade_refused' } })
  })

  t.test('request smuggling shapes are refused by the parser with 400', async (t) => {
    const both = await rawRequest(base, `POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\n\r\n`)
    t.equal(both.status, 400)
    t.match(JSON.parse(both.body.toString()), { error: { code: 'bad_request' } })
    const dup = await rawRequest(base, `POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 40\r\n\r\nabcd`)
    t.equal(dup.status, 400)
    const obsFold = await rawRequest(base, `GET /echo HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n  folded\r\n\r\n`)
    t.equal(obsFold.status, 400)
  })

  t.test('only origin-form request targets are forwarded', async (t) => {
    for (const target of ['http://evil.example/echo/x', '*', 'echo']) {
      const res = await rawRequest(base, `${target === '*' ? 'OPTIONS' : 'GET'} ${target} HTTP/1.1\r\nHost: x\r\n\r\n`)
      t.equal(res.status, 400, target)
      t.match(JSON.parse(res.body.toString()), { error: { code: 'bad_request' } })
    }
    // The chatbot receives the canonical path, the one every rule was matched against, so it can
    // never read a path differently from how it was authorized.
    const res = await rawRequest(base, 'GET /echo/x/%2e%2e/a/..//b/%7e?q=%2F.. HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
    t.equal((JSON.parse(res.body.toString()) as Echo).url, '/echo/b/~?q=%2F..')
    for (const target of ['/echo/a%2Fb', '/echo/a%252fb', '/echo;x=y', '/echo/%00', '/echo\\x']) {
      const refused = await rawRequest(base, `GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`)
      t.equal(refused.status, 400, target)
      t.match(JSON.parse(refused.body.toString()), { error: { code: 'invalid_path' } })
    }
    const twoHosts = await rawRequest(base, 'GET /echo HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n')
    t.equal(twoHosts.status, 400, 'a duplicate Host is refused')
  })

  t.test('oversized header blocks get 431', async (t) => {
    const res = await rawRequest(base, `GET /echo HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`)
    t.equal(res.status, 431)
    t.match(JSON.parse(res.body.toString()), { error: { code: 'headers_too_large' } })
  })

  t.test('responses carry the upstream status and headers', async (t) => {
    const res = await request(`${base}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-demo-status': '429' },
      body: JSON.stringify({ model: 'demo', messages: [{ role: 'user', content: 'hi' }] }),
    })
    t.equal(res.statusCode, 429)
    t.match(await res.body.json(), { error: {} })
  })
})

t.test('byte-faithful pass-through: response bytes are piped as they are', async (t) => {
  // Odd SSE framing, invalid UTF-8, a BOM, CR-only endings: anything a parser would normalize.
  const pieces = [
    Buffer.from('\ufeffdata:no-space\r'),
    Buffer.from([0x64, 0x61, 0x74, 0x61, 0x3a, 0x20, 0xe2, 0x82]),
    Buffer.from([0xac, 0xff, 0x0a, 0x0a]),
    Buffer.from(': ping\n\nevent: x\r\ndata: {"a":1}\r\n\r\ndata: tail-without-terminator'),
  ]
  const upstream = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'X-Weird-Case': 'Yes' })
    let i = 0
    const next = () => (i < pieces.length ? res.write(pieces[i++], () => setTimeout(next, 5)) : res.end())
    next()
  })
  upstream.listen(0, '127.0.0.1')
  await once(upstream, 'listening')
  const url = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`
  const stack = await startStack({ upstream: url })
  t.teardown(async () => {
    await stack.close()
    upstream.close()
  })
  const direct = await rawRequest(url, 'GET /stream HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
  const proxied = await rawRequest(stack.chaperone.proxyUrl, 'GET /stream HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
  t.same(proxied.body, Buffer.concat(pieces), 'exact bytes')
  t.same(proxied.body, direct.body)
  t.match(proxied.raw.toString('latin1'), /\r\nX-Weird-Case: Yes\r\n/, 'header case preserved')
})

t.test('upstream failures map to catalogue errors', async (t) => {
  // A port that was just free and is now closed: connection refused.
  const probe = net.createServer().listen(0, '127.0.0.1')
  await once(probe, 'listening')
  const deadPort = (probe.address() as AddressInfo).port
  probe.close()
  await once(probe, 'close')

  t.test('502 when the upstream refuses the connection', async (t) => {
    const stack = await startStack({ upstream: `http://127.0.0.1:${deadPort}` })
    t.teardown(() => stack.close())
    const res = await request(`${stack.chaperone.proxyUrl}/v1/models`)
    t.equal(res.statusCode, 502)
    const body = (await res.body.json()) as { error: { code: string; message: string; request_id: string } }
    t.equal(body.error.code, 'upstream_unavailable')
    t.notMatch(body.error.message, /ECONNREFUSED|127\.0\.0\.1/, 'detail stays in the log')
    t.equal(body.error.request_id, res.headers['x-request-id'])
    const line = stack.logs.lines.find((l) => l.msg === 'upstream failed')
    t.match(line, { code: 'upstream_unavailable', detail: /ECONNREFUSED/, requestId: body.error.request_id, policyVersion: 1 }, 'the detail is logged, bound to the request id and policy version')
    const metrics = await (await request(`${stack.chaperone.adminUrl}/metrics`)).body.text()
    t.match(metrics, /chaperone_upstream_errors_total\{code="upstream_unavailable"\} 1/)
  })

  for (const [key, when] of [
    ['headersMs', 'the upstream does not send headers in time'],
    ['totalMs', 'the whole exchange exceeds the total timeout'],
  ] as const) {
    t.test(`504 when ${when}`, async (t) => {
      const stack = await startStack({ adjust: withTimeout(key, 150) })
      t.teardown(() => stack.close())
      const res = await request(`${stack.chaperone.proxyUrl}/echo`, { headers: { 'x-demo-delay-headers-ms': '3000' } })
      t.equal(res.statusCode, 504)
      t.match(await res.body.json(), { error: { code: 'upstream_timeout' } })
    })
  }

  t.test('a stream that goes idle is cut, not ended cleanly', async (t) => {
    const stack = await startStack({
      paceMs: 1000,
      adjust: withTimeout('idleMs', 150),
    })
    t.teardown(() => stack.close())
    const res = await request(`${stack.chaperone.proxyUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'demo', stream: true, messages: [{ role: 'user', content: 'hello there' }] }),
    })
    t.equal(res.statusCode, 200)
    await t.rejects(res.body.text(), 'the client sees a truncated body')
  })
})

t.test('a client that disconnects aborts the upstream stream', async (t) => {
  const stack = await startStack({ paceMs: 50 })
  t.teardown(() => stack.close())
  const { port } = new URL(stack.chaperone.proxyUrl)
  const sock = net.connect(Number(port), '127.0.0.1')
  const body = JSON.stringify({ model: 'demo', stream: true, messages: [{ role: 'user', content: 'tell me a long story' }] })
  sock.write(`POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nx-demo-deltas: 1000\r\n\r\n${body}`)
  await once(sock, 'data')
  t.equal(stack.bot.stats().activeStreams, 1, 'the upstream is streaming')
  const cutAt = performance.now()
  sock.destroy()
  await eventually(() => stack.bot.stats().activeStreams === 0, 5000, 2)
  const tookMs = performance.now() - cutAt
  t.equal(stack.bot.stats().activeStreams, 0, 'the upstream stream was aborted')
  t.equal(stack.bot.stats().streamsAborted, 1)
  t.comment(`upstream saw the abort ${tookMs.toFixed(1)} ms after the client left`)
})
