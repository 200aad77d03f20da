import t from 'tap'
import http from 'node:http'
import net from 'node:net'
import { createHash } from 'node:crypto'
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import { request } from 'undici'
import { z } from 'zod'
import { startStack } from './helpers/chaperone.js'
import { eventually } from './helpers/eventually.js'
import { CONTINUE, refuse, type FilterFactory } from '../src/core/chain/types.js'

const KEY = 'dGhlIHNhbXBsZSBub25jZQ=='
const ACCEPT = createHash('sha1').update(KEY + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64')

/** An upstream that completes RFC 6455 handshakes and then echoes raw bytes, recording what it got. */
async function wsUpstream() {
  const seen: { rawHeaders: string[]; url: string }[] = []
  const sockets = new Set<net.Socket>()
  const server = http.createServer((_req, res) => res.end('plain'))
  server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    seen.push({ rawHeaders: req.rawHeaders, url: req.url ?? '' })
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${ACCEPT}\r\n\r\n`)
    if (head.length) socket.write(head)
    socket.pipe(socket)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, sockets, close: () => new Promise((r) => server.close(r)) }
}

function connect(url: string): Promise<net.Socket> {
  const { hostname, port } = new URL(url)
  const s = net.connect(Number(port), hostname)
  return once(s, 'connect').then(() => s)
}

/** Reads until pred holds, without ending the socket (a for-await loop would destroy it). */
function readUntil(s: net.Socket, pred: (text: string) => boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = ''
    const onData = (chunk: Buffer) => {
      text += chunk.toString('latin1')
      if (!pred(text)) return
      s.off('data', onData).off('end', onEnd).off('error', reject)
      resolve(text)
    }
    const onEnd = () => resolve(text)
    s.on('data', onData).once('end', onEnd).once('error', reject)
  })
}

/** A WebSocket upstream and a Chaperone in front of it, both torn down with the test. */
async function wsStack(t: { teardown(fn: () => Promise<void>): void }, opts: Omit<NonNullable<Parameters<typeof startStack>[0]>, 'upstream'> = {}) {
  const up = await wsUpstream()
  const stack = await startStack({ ...opts, upstream: up.url })
  t.teardown(async () => {
    await stack.close()
    await up.close()
  })
  return { up, stack }
}

const handshake = (extra = '') =>
  `GET /v1/realtime?model=x HTTP/1.1\r\nHost: chat.local\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade, X-Secret\r\nX-Secret: s\r\n` +
  `Sec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\nX-Forwarded-For: 10.9.9.9\r\n${extra}\r\n`

t.test('a WebSocket upgrade is tunnelled byte for byte', async (t) => {
  const { up, stack } = await wsStack(t)
  const s = await connect(stack.chaperone.proxyUrl)
  // Bytes that follow the head in the same write must reach the upstream too.
  const frame = Buffer.from([0x81, 0x85, 1, 2, 3, 4, 0x69, 0x67, 0x6f, 0x68, 0x6e])
  s.write(Buffer.concat([Buffer.from(handshake(), 'latin1'), frame]))
  const head = await readUntil(s, (x) => x.includes('\r\n\r\n') && x.length >= x.indexOf('\r\n\r\n') + 4 + frame.length)
  t.match(head, /^HTTP\/1\.1 101 Switching Protocols\r\n/)
  t.match(head, new RegExp(`Sec-WebSocket-Accept: ${ACCEPT.replace(/[+/]/g, '\\$&')}`))
  t.same(Buffer.from(head.slice(head.indexOf('\r\n\r\n') + 4), 'latin1'), frame, 'the early frame was echoed')

  const payload = Buffer.from([0x82, 0x83, 9, 9, 9, 9, 0xff, 0x00, 0xfe])
  s.write(payload)
  const echoed = await readUntil(s, (x) => x.length >= payload.length)
  t.same(Buffer.from(echoed, 'latin1'), payload, 'binary frames pass untouched both ways')

  const req = up.seen[0]!
  const h = (n: string) => req.rawHeaders.flatMap((v, i) => (i % 2 === 0 && v.toLowerCase() === n ? [req.rawHeaders[i + 1]!] : []))
  t.equal(req.url, '/v1/realtime?model=x')
  t.same(h('connection'), ['Upgrade'], 'Connection carries only the upgrade')
  t.same(h('upgrade'), ['websocket'])
  t.same(h('x-secret'), [], 'headers named in Connection are stripped')
  t.same(h('x-forwarded-for'), ['10.9.9.9, 127.0.0.1'])
  t.equal(h('x-request-id').length, 1)
  t.same(h('sec-websocket-key'), [KEY])

  const metrics = await (await request(`${stack.chaperone.adminUrl}/metrics`)).body.text()
  t.match(metrics, /chaperone_websocket_tunnels 1/)

  s.destroy()
  await eventually(() => up.sockets.size === 0)
  t.equal(up.sockets.size, 0, 'closing the client closes the upstream side')
})

t.test('other upgrades are refused; a dead upstream gets 502', async (t) => {
  const { up, stack } = await wsStack(t)
  const h2c = await connect(stack.chaperone.proxyUrl)
  h2c.write('GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n')
  t.match(await readUntil(h2c, (x) => x.includes('}')), /^HTTP\/1\.1 501 [\s\S]*"code":"upgrade_refused"/)
  t.equal(up.seen.length, 0, 'nothing reached the upstream')

  const post = await connect(stack.chaperone.proxyUrl)
  post.write('POST / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nContent-Length: 0\r\n\r\n')
  t.match(await readUntil(post, (x) => x.includes('}')), /^HTTP\/1\.1 501 /, 'a WebSocket handshake is a GET')

  const probe = net.createServer().listen(0, '127.0.0.1')
  await once(probe, 'listening')
  const dead = `http://127.0.0.1:${(probe.address() as AddressInfo).port}`
  probe.close()
  const stack2 = await startStack({ upstream: dead })
  t.teardown(() => stack2.close())
  const s = await connect(stack2.chaperone.proxyUrl)
  s.write(handshake())
  t.match(await readUntil(s, (x) => x.includes('}')), /^HTTP\/1\.1 502 [\s\S]*"code":"upstream_unavailable"/)
})

t.test('draining waits for open tunnels up to the drain timeout, then cuts them', async (t) => {
  const up = await wsUpstream()
  const stack = await startStack({ upstream: up.url, adjust: (c) => ({ ...c, limits: { ...c.limits, drainTimeoutMs: 200 } }) })
  t.teardown(async () => {
    await stack.bot.close()
    await up.close()
  })
  const s = await connect(stack.chaperone.proxyUrl)
  s.write(handshake())
  await readUntil(s, (x) => x.includes('\r\n\r\n'))
  const closed = once(s, 'close')
  const result = await stack.chaperone.stop()
  t.equal(result.cut, 1, 'the open tunnel was cut at the timeout')
  await closed
  await eventually(() => up.sockets.size === 0)
  t.equal(up.sockets.size, 0, 'and its upstream side is closed too')
})

t.test('the handshake runs the request filters: a refusal never reaches the upstream', async (t) => {
  const completed: string[] = []
  const gate: FilterFactory<{ header: string }> = {
    name: 'gate',
    schema: z.strictObject({ header: z.string() }),
    compile: ({ header }) => ({
      name: 'gate',
      onRequest: (ctx) => (ctx.request.headers[header] ? refuse('forbidden') : CONTINUE),
      onComplete: (_ctx, outcome) => void completed.push(outcome.kind),
    }),
  }
  const { up, stack } = await wsStack(t, {
    factories: [gate],
    files: { 'p.yaml': 'apiVersion: chaperone.dev/v1\nkind: Policy\nmetadata: { name: p }\nspec:\n  gate: { header: x-deny }\n' },
  })
  const denied = await connect(stack.chaperone.proxyUrl)
  denied.write(handshake('X-Deny: 1\r\n'))
  t.match(await readUntil(denied, (x) => x.includes('}')), /^HTTP\/1\.1 403 [\s\S]*"code":"forbidden"/)
  t.equal(up.seen.length, 0)

  const allowed = await connect(stack.chaperone.proxyUrl)
  allowed.write(handshake())
  t.match(await readUntil(allowed, (x) => x.includes('\r\n\r\n')), /^HTTP\/1\.1 101 /)
  allowed.destroy()
  await eventually(() => completed.length === 2)
  t.same(completed, ['refused', 'completed'], 'onComplete runs for both')
})
