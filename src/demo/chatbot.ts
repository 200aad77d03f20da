/**
 * Chaperone's demo chatbot: an OpenAI-compatible mock upstream for `npm start`, the benchmarks and
 * end-to-end tests. It is deliberately outside Chaperone's data path (nothing in src/server.ts
 * imports it) and uses only node:http, so it measures the same with or without Chaperone.
 *
 * Routes:
 *   POST /v1/chat/completions  deterministic answer to the last user message; `stream: true` gives
 *                              OpenAI's SSE chunks (role chunk, content deltas, finish chunk,
 *                              optional usage chunk, `data: [DONE]`). Bodies over 1 MiB get 413.
 *   GET  /v1/models            one model, `demo`.
 *   GET  /healthz              200.
 *   ANY  /echo, /echo/*        JSON of what arrived: method, url, raw headers, body SHA-256 + bytes.
 *   anything else              404, OpenAI-style error body.
 *
 * Per-request override headers, so tests and benchmarks can shape replies without a restart
 * (malformed or out-of-range values are ignored):
 *   x-demo-pace-ms: N            milliseconds between streamed content deltas (0..60000).
 *   x-demo-deltas: N             number of content deltas (1..100000); more than the answer has
 *                                words extends it with fixed filler text, streamed or not.
 *   x-demo-chunk-words: N        words per delta when x-demo-deltas is not given.
 *   x-demo-delay-headers-ms: N   wait N ms after reading the body before sending any header
 *                                (chat and echo routes), to provoke upstream timeouts.
 *   x-demo-status: N             reply with status N (400..599) and an OpenAI-style error body
 *                                (chat route only).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { handleChat, type ChatSettings } from './chat.js'
import { handleEcho } from './echo.js'
import { sendError, sendJson } from './http-util.js'
import { DEMO_CREATED } from './openai-shapes.js'
import { StreamTracker, type StreamStats } from './stream-writer.js'

export interface DemoChatbotOptions {
  host?: string
  /** 0 picks a free port. */
  port?: number
  /** Delay between streamed deltas; default 30 ms. */
  paceMs?: number
  /** How many content deltas to stream; default one per `chunkWords` words of the answer. */
  deltas?: number
  /** Words per delta; default 1. */
  chunkWords?: number
}

export interface DemoChatbot {
  url: string
  port: number
  /** Live counters; `activeStreams` drops as soon as a client disconnects mid-stream. */
  stats(): StreamStats
  close(): Promise<void>
}

export async function startDemoChatbot(opts: DemoChatbotOptions = {}): Promise<DemoChatbot> {
  const host = opts.host ?? '127.0.0.1'
  const settings: ChatSettings = { paceMs: opts.paceMs ?? 30, deltas: opts.deltas, chunkWords: opts.chunkWords }
  const tracker = new StreamTracker()
  const server = createServer((req, res) => {
    route(req, res, settings, tracker).catch(() => {
      if (!res.headersSent) sendError(res, 500, 'The demo chatbot failed.')
      else res.destroy()
    })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const port = (server.address() as AddressInfo).port
  const urlHost = host.includes(':') ? `[${host}]` : host
  return {
    url: `http://${urlHost}:${port}`,
    port,
    stats: () => tracker.stats(),
    close: () =>
      new Promise<void>((resolve) => {
        tracker.cancelAll()
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}

async function route(req: IncomingMessage, res: ServerResponse, settings: ChatSettings, tracker: StreamTracker): Promise<void> {
  const path = (req.url ?? '/').split('?', 1)[0]!
  if (path === '/echo' || path.startsWith('/echo/')) return handleEcho(req, res)
  if (path === '/v1/chat/completions') {
    if (req.method !== 'POST') return methodNotAllowed(req, res, 'POST')
    return handleChat(req, res, settings, tracker)
  }
  if (path === '/v1/models') {
    if (req.method !== 'GET') return methodNotAllowed(req, res, 'GET')
    req.resume()
    return sendJson(res, 200, { object: 'list', data: [{ id: 'demo', object: 'model', created: DEMO_CREATED, owned_by: 'chaperone' }] })
  }
  if (path === '/healthz') {
    req.resume()
    return sendJson(res, 200, { status: 'ok' })
  }
  req.resume()
  sendError(res, 404, `No route for ${req.method} ${path}.`, 'not_found')
}

function methodNotAllowed(req: IncomingMessage, res: ServerResponse, allow: string): void {
  req.resume()
  sendJson(res, 405, { error: { message: `Use ${allow}.`, type: 'invalid_request_error', param: null, code: 'method_not_allowed' } }, { allow })
}
