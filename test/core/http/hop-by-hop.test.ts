import t from 'tap'
import { stripHopByHop, appendForwardedFor, addForwardingHeaders, connectionTokens, rawHeaderValue } from '../../../src/core/http/hop-by-hop.js'
import { acceptRequestId } from '../../../src/core/http/request-id.js'
import { routeLabel } from '../../../src/core/http/route-label.js'

t.test('strips the RFC 9110 hop-by-hop set, whatever the case', async (t) => {
  const raw = [
    'Host', 'a', 'Connection', 'keep-alive', 'Keep-Alive', 'timeout=5', 'TE', 'trailers', 'Transfer-Encoding', 'chunked',
    'Upgrade', 'h2c', 'Trailer', 'X-T', 'Proxy-Authorization', 'Basic x', 'Proxy-Foo', '1', 'HTTP2-Settings', 'AAA',
    'Expect', '100-continue', 'Content-Type', 'application/json',
  ]
  t.same(stripHopByHop(raw), ['Host', 'a', 'Content-Type', 'application/json'])
})

t.test('strips every header named in Connection, across several Connection headers', async (t) => {
  const raw = ['Connection', 'close, X-Forwarded-For', 'X-Forwarded-For', '6.6.6.6', 'x-secret', 's', 'connection', ' X-Secret ,', 'Accept', '*/*']
  t.same([...connectionTokens(raw)!], ['close', 'x-forwarded-for', 'x-secret'])
  t.same(stripHopByHop(raw), ['Accept', '*/*'])
})

t.test('keeps order, case and duplicates of end-to-end headers, and drops the caller-owned ones', async (t) => {
  const raw = ['X-B', '1', 'x-a', '2', 'X-B', '3', 'X-Request-Id', 'evil']
  t.same(stripHopByHop(raw, new Set(['x-request-id'])), ['X-B', '1', 'x-a', '2', 'X-B', '3'])
  t.equal(rawHeaderValue(raw, 'x-b'), '1')
  t.equal(rawHeaderValue(raw, 'x-c'), undefined)
})

t.test('X-Forwarded-For is folded into one header with the peer appended', async (t) => {
  const h = ['X-Forwarded-For', '1.1.1.1', 'A', 'b', 'x-forwarded-for', '2.2.2.2, 3.3.3.3']
  appendForwardedFor(h, '127.0.0.1')
  t.same(h, ['A', 'b', 'x-forwarded-for', '1.1.1.1, 2.2.2.2, 3.3.3.3, 127.0.0.1'])
  const none: string[] = []
  appendForwardedFor(none, '::1')
  t.same(none, ['x-forwarded-for', '::1'])
})

t.test('forwarding headers: XFF appended, an earlier hop XFP kept, a missing one filled in, our request id last', async (t) => {
  t.same(addForwardingHeaders(['X-Forwarded-Proto', 'https', 'X-Forwarded-For', '1.1.1.1'], '127.0.0.1', 'r1'), [
    'X-Forwarded-Proto', 'https', 'x-forwarded-for', '1.1.1.1, 127.0.0.1', 'x-request-id', 'r1',
  ])
  t.same(addForwardingHeaders([], '::1', 'r2'), ['x-forwarded-for', '::1', 'x-forwarded-proto', 'http', 'x-request-id', 'r2'])
})

t.test('client request ids are reused only when short and printable', async (t) => {
  t.equal(acceptRequestId('abc-123_x.y:z'), 'abc-123_x.y:z')
  t.equal(acceptRequestId(undefined), undefined)
  t.equal(acceptRequestId(''), undefined)
  t.equal(acceptRequestId('a b'), undefined)
  t.equal(acceptRequestId('x\r\ninjected: 1'), undefined)
  t.equal(acceptRequestId('x'.repeat(129)), undefined)
})

t.test('route labels are bounded to known LLM routes', async (t) => {
  t.equal(routeLabel('/v1/chat/completions'), '/v1/chat/completions')
  t.equal(routeLabel('/v1/chat/completions?x=1'), '/v1/chat/completions')
  t.equal(routeLabel('/v1/chat/completions/../../etc/passwd'), 'other')
  t.equal(routeLabel('/random/' + Math.random()), 'other')
})
