/**
 * The remote /v1/moderations classifier against a real HTTP server on 127.0.0.1:0. The server
 * counts what reaches it and sees aborted requests close, so "no network I/O while open" and
 * "the request was cancelled" are asserted on the wire, not on the adapter's word.
 */
import t from 'tap'
import http from 'node:http'
import { once } from 'node:events'
import { setTimeout as delay } from 'node:timers/promises'
import type { AddressInfo } from 'node:net'
import { RemoteClassifier, RemoteClassifierError, type BreakerState, type RemoteCallOutcome, type RemoteClassifierOptions } from '../../src/io/classifier/remote-classifier.js'
import { classifyWithin } from '../../src/core/moderation/classify.js'
import { captureLog } from '../helpers/capture-log.js'
import { eventually } from '../helpers/eventually.js'

type Teardown = Pick<typeof t, 'teardown'>

interface Received {
  readonly body: { input: string[]; model?: string }
  readonly headers: http.IncomingHttpHeaders
}

/** What the server does with a request: answer it, or return nothing to leave it hanging. */
type Reply = (req: Received, res: http.ServerResponse) => void

interface ModerationServer {
  url: string
  received: Received[]
  /** Requests whose connection closed before an answer was sent (the client aborted). */
  abandoned: number
  reply: Reply
}

/** Scores derived from each input, so that order is visible: hate = length / 100. */
function moderations(inputs: readonly string[]) {
  return {
    id: 'modr-test',
    model: 'omni-moderation-latest',
    results: inputs.map((text) => ({
      flagged: text.startsWith('bad'),
      categories: { hate: text.length >= 50, violence: false },
      category_scores: { hate: Math.min(1, text.length / 100), 'hate/threatening': 0.001, violence: 0.25 },
    })),
  }
}

const answer: Reply = (req, res) => json(res, 200, moderations(req.body.input))

function json(res: http.ServerResponse, status: number, doc: unknown): void {
  const body = JSON.stringify(doc)
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) })
  res.end(body)
}

async function startServer(t: Teardown, reply: Reply = answer): Promise<ModerationServer> {
  const state: ModerationServer = { url: '', received: [], abandoned: 0, reply }
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const received: Received = { body: JSON.parse(Buffer.concat(chunks).toString('utf8')), headers: req.headers }
      state.received.push(received)
      res.on('close', () => {
        if (!res.writableFinished) state.abandoned++
      })
      state.reply(received, res)
    })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(async () => {
    server.closeAllConnections()
    server.close()
    await once(server, 'close')
  })
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/moderations`
  return state
}

interface Recorded {
  calls: RemoteCallOutcome[]
  states: BreakerState[]
}

function classifier(t: Teardown, url: string, extra: Partial<RemoteClassifierOptions> = {}): RemoteClassifier & Recorded {
  const calls: RemoteCallOutcome[] = []
  const states: BreakerState[] = []
  const rc = new RemoteClassifier({
    name: 'remote',
    url,
    timeoutMs: 2000,
    maxBatch: 32,
    breaker: { consecutiveFailures: 3, halfOpenAfterMs: 60_000 },
    onCall: (outcome) => calls.push(outcome),
    onState: (s) => states.push(s),
    ...extra,
  })
  t.teardown(() => rc.close())
  return Object.assign(rc, { calls, states })
}

const signal = () => new AbortController().signal

async function failure(p: Promise<unknown>): Promise<RemoteClassifierError> {
  try {
    await p
  } catch (err) {
    if (err instanceof RemoteClassifierError) return err
    throw err
  }
  throw new Error('expected a rejection')
}

t.test('happy path: every category score and flagged, in input order; model and bearer sent', async (t) => {
  const srv = await startServer(t)
  const rc = classifier(t, srv.url, { model: 'omni-moderation-latest', apiKey: 'sk-test-key' })
  const scores = await rc.classify(['bad thing', 'hello', 'x'.repeat(60)], signal())
  t.same(scores, [
    { hate: 0.09, 'hate/threatening': 0.001, violence: 0.25, flagged: 1 },
    { hate: 0.05, 'hate/threatening': 0.001, violence: 0.25, flagged: 0 },
    { hate: 0.6, 'hate/threatening': 0.001, violence: 0.25, flagged: 0 },
  ])
  t.equal(srv.received.length, 1)
  const req = srv.received[0]!
  t.same(req.body, { input: ['bad thing', 'hello', 'x'.repeat(60)], model: 'omni-moderation-latest' })
  t.equal(req.headers.authorization, 'Bearer sk-test-key')
  t.match(req.headers['content-type'], /^application\/json/)
  t.same(rc.calls, ['ok'])
  t.same(rc.health(), { state: 'closed', consecutiveFailures: 0 })
})

t.test('no model and no key: neither is sent; an empty call makes no request', async (t) => {
  const srv = await startServer(t)
  const rc = classifier(t, srv.url)
  t.same(await rc.classify([], signal()), [])
  t.equal(srv.received.length, 0)
  await rc.classify(['hi'], signal())
  t.same(srv.received[0]!.body, { input: ['hi'] })
  t.notOk(srv.received[0]!.headers.authorization)
})

t.test('a call larger than maxBatch is split and re-joined in order', async (t) => {
  // The first batch is answered last, so order cannot come from arrival.
  const srv = await startServer(t, (req, res) => {
    if (req.body.input.includes('a')) setTimeout(() => answer(req, res), 80)
    else answer(req, res)
  })
  const rc = classifier(t, srv.url, { maxBatch: 2 })
  const texts = ['a', 'bb', 'ccc', 'dddd', 'eeeee']
  const scores = await rc.classify(texts, signal())
  t.same(
    scores.map((s) => s.hate),
    [0.01, 0.02, 0.03, 0.04, 0.05],
  )
  t.same(srv.received.map((r) => r.body.input).sort(), [['a', 'bb'], ['ccc', 'dddd'], ['eeeee']])
  t.same(rc.calls, ['ok', 'ok', 'ok'])
})

t.test('a server that never answers: timeout, and the request is aborted on the wire', async (t) => {
  const srv = await startServer(t, () => {})
  const rc = classifier(t, srv.url, { timeoutMs: 200 })
  const started = performance.now()
  const err = await failure(rc.classify(['hello'], signal()))
  t.equal(err.outcome, 'timeout')
  t.ok(performance.now() - started < 2000, 'rejected long before the server would have answered')
  t.ok(await eventually(() => srv.abandoned === 1), 'the server saw the request closed')
  t.same(rc.calls, ['timeout'])
  t.equal(rc.health().consecutiveFailures, 1)
  t.match(rc.health().lastError, /200 ms/)
})

t.test('a 500 (and a 429) is an http_error', async (t) => {
  let status = 500
  const srv = await startServer(t, (_req, res) => json(res, status, { error: { message: 'boom' } }))
  const rc = classifier(t, srv.url)
  t.equal((await failure(rc.classify(['hello'], signal()))).outcome, 'http_error')
  status = 429
  const err = await failure(rc.classify(['hello'], signal()))
  t.equal(err.outcome, 'http_error')
  t.match(err.message, /HTTP 429/)
  t.same(rc.calls, ['http_error', 'http_error'])
})

t.test('an endpoint that refuses connections is a network error', async (t) => {
  const probe = http.createServer()
  probe.listen(0, '127.0.0.1')
  await once(probe, 'listening')
  const port = (probe.address() as AddressInfo).port
  probe.close()
  await once(probe, 'close')
  const rc = classifier(t, `http://127.0.0.1:${port}/v1/moderations`)
  t.equal((await failure(rc.classify(['hello'], signal()))).outcome, 'network')
  t.same(rc.calls, ['network'])
})

t.test('malformed 200 answers are bad_response, and no message quotes the body', async (t) => {
  const SECRET = 'my-secret-input'
  const cases: [string, Reply, RegExp][] = [
    ['wrong results length', (req, res) => json(res, 200, moderations([...req.body.input, 'extra'])), /2 entries for 1 inputs/],
    [
      'a score above 1',
      (req, res) => {
        const doc = moderations(req.body.input)
        doc.results[0]!.category_scores.violence = 1.5
        json(res, 200, doc)
      },
      /"violence".*\[0, 1\]/,
    ],
    [
      'a score that is not a number',
      (req, res) => {
        const doc = moderations(req.body.input) as { results: { category_scores: Record<string, unknown> }[] }
        doc.results[0]!.category_scores.hate = '0.5'
        json(res, 200, doc)
      },
      /"hate"/,
    ],
    [
      'flagged missing',
      (req, res) => json(res, 200, { results: req.body.input.map(() => ({ category_scores: { hate: 0 } })) }),
      /flagged is not a boolean/,
    ],
    ['no results', (_req, res) => json(res, 200, { data: [] }), /"results" is not an array/],
    [
      'invalid JSON that echoes the input',
      (req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' })
        res.end(`{"results": [${req.body.input[0]}`)
      },
      /not valid JSON/,
    ],
  ]
  for (const [name, reply, message] of cases) {
    const srv = await startServer(t, reply)
    const rc = classifier(t, srv.url)
    const err = await failure(rc.classify([SECRET], signal()))
    t.equal(err.outcome, 'bad_response', name)
    t.match(err.message, message, name)
    t.notMatch(err.message, SECRET, `${name}: no input text in the message`)
  }
})

t.test('a body over maxResponseBytes is bad_response, with or without content-length', async (t) => {
  const big = JSON.stringify({ results: [{ flagged: false, category_scores: { hate: 0 }, padding: 'x'.repeat(4096) }] })
  for (const declared of [true, false]) {
    const srv = await startServer(t, (_req, res) => {
      res.writeHead(200, declared ? { 'content-length': Buffer.byteLength(big) } : {})
      // Chunked: the adapter must stop reading, not buffer everything and measure afterwards.
      res.write(big.slice(0, 2048))
      setTimeout(() => res.end(big.slice(2048)), 20)
    })
    const rc = classifier(t, srv.url, { maxResponseBytes: 1024 })
    const err = await failure(rc.classify(['hello'], signal()))
    t.equal(err.outcome, 'bad_response', declared ? 'declared length' : 'chunked')
    t.match(err.message, /exceeds 1024 bytes/)
  }
})

t.test('breaker: opens after N failures, refuses without I/O, one trial after halfOpenAfter closes it', async (t) => {
  let status = 500
  let delayMs = 0
  const srv = await startServer(t, (req, res) => {
    const send = () => (status === 200 ? answer(req, res) : json(res, status, {}))
    if (delayMs > 0) setTimeout(send, delayMs)
    else send()
  })
  const log = captureLog()
  const rc = classifier(t, srv.url, { breaker: { consecutiveFailures: 3, halfOpenAfterMs: 150 }, apiKey: 'sk-never-logged', log })

  for (let i = 0; i < 3; i++) t.equal((await failure(rc.classify(['secret text'], signal()))).outcome, 'http_error')
  t.equal(rc.health().state, 'open')
  t.equal(rc.health().consecutiveFailures, 3)
  t.same(rc.states, ['open'])
  t.equal(srv.received.length, 3)

  const refused = await failure(rc.classify(['secret text'], signal()))
  t.equal(refused.outcome, 'rejected_open')
  t.equal(srv.received.length, 3, 'the open breaker sent nothing')
  // The rule's onError decides from this rejection.
  t.match(await classifyWithin(rc, ['secret text'], 1000), { kind: 'error', detail: /circuit open/ })
  t.equal(srv.received.length, 3)

  // Recovered, but slow: while the trial is in flight, other calls are still refused at once.
  status = 200
  delayMs = 100
  await delay(200) // past halfOpenAfter
  const trial = rc.classify(['hello'], signal())
  t.equal(rc.health().state, 'half_open')
  t.equal((await failure(rc.classify(['other'], signal()))).outcome, 'rejected_open')
  t.same(await trial, [{ hate: 0.05, 'hate/threatening': 0.001, violence: 0.25, flagged: 0 }])
  t.equal(srv.received.length, 4, 'exactly one trial reached the server')
  t.same(rc.health().state, 'closed')
  t.equal(rc.health().consecutiveFailures, 0)
  t.same(rc.states, ['open', 'half_open', 'closed'])
  t.same(rc.calls, ['http_error', 'http_error', 'http_error', 'rejected_open', 'rejected_open', 'rejected_open', 'ok'])

  const logged = JSON.stringify(log.entries)
  t.match(log.messages('warn'), [/circuit open/])
  t.notMatch(logged, 'sk-never-logged')
  t.notMatch(logged, 'secret text')
  t.notMatch(JSON.stringify(rc.health()), 'secret text')
})

t.test('a failed trial opens the breaker again', async (t) => {
  const srv = await startServer(t, (_req, res) => json(res, 503, {}))
  const rc = classifier(t, srv.url, { breaker: { consecutiveFailures: 1, halfOpenAfterMs: 100 } })
  t.equal((await failure(rc.classify(['a'], signal()))).outcome, 'http_error')
  t.equal(rc.health().state, 'open')
  await delay(150) // past halfOpenAfter
  t.equal((await failure(rc.classify(['a'], signal()))).outcome, 'http_error')
  t.equal(rc.health().state, 'open')
  t.equal((await failure(rc.classify(['a'], signal()))).outcome, 'rejected_open')
  t.equal(srv.received.length, 2)
  t.same(rc.states, ['open', 'half_open', 'open'])
})

t.test('a caller abort cancels the request on the wire and never opens the breaker', async (t) => {
  let hang = true
  const srv = await startServer(t, (req, res) => {
    if (!hang) answer(req, res)
  })
  const rc = classifier(t, srv.url, { breaker: { consecutiveFailures: 1, halfOpenAfterMs: 60_000 } })
  for (let i = 1; i <= 2; i++) {
    const ac = new AbortController()
    const call = rc.classify(['hello'], ac.signal)
    t.ok(await eventually(() => srv.received.length === i))
    ac.abort()
    t.equal((await failure(call)).outcome, 'aborted')
    t.ok(await eventually(() => srv.abandoned === i), 'the server saw the request closed')
  }
  t.same(rc.health(), { state: 'closed', consecutiveFailures: 0 })
  t.same(rc.states, [])
  t.same(rc.calls, ['aborted', 'aborted'])
  hang = false
  t.equal((await rc.classify(['hello'], signal())).length, 1)

  const aborted = new AbortController()
  aborted.abort()
  t.equal((await failure(rc.classify(['hello'], aborted.signal))).outcome, 'aborted')
  t.equal(srv.received.length, 3, 'an already aborted call sends nothing')
})

t.test('a caller abort of a multi-batch call cancels every batch', async (t) => {
  const srv = await startServer(t, () => {})
  const rc = classifier(t, srv.url, { maxBatch: 1, breaker: { consecutiveFailures: 1, halfOpenAfterMs: 60_000 } })
  const ac = new AbortController()
  const call = rc.classify(['a', 'b', 'c'], ac.signal)
  t.ok(await eventually(() => srv.received.length === 3))
  ac.abort()
  t.equal((await failure(call)).outcome, 'aborted')
  t.ok(await eventually(() => srv.abandoned === 3))
  t.equal(rc.health().state, 'closed')
})

t.test('one failed batch fails the call and cancels its siblings', async (t) => {
  const srv = await startServer(t, (req, res) => {
    if (req.body.input[0] === 'b') json(res, 500, {})
  })
  const rc = classifier(t, srv.url, { maxBatch: 1, breaker: { consecutiveFailures: 5, halfOpenAfterMs: 60_000 } })
  const err = await failure(rc.classify(['a', 'b', 'c'], signal()))
  t.equal(err.outcome, 'http_error')
  t.ok(await eventually(() => srv.abandoned === 2), 'the hanging siblings were cancelled')
  t.equal(rc.health().consecutiveFailures, 1, 'only the real failure counts')
  t.same([...rc.calls].sort(), ['aborted', 'aborted', 'http_error'])
})

t.test('the trial call is not cancelled by its caller, so it still decides the breaker', async (t) => {
  let status = 500
  const srv = await startServer(t, (req, res) => {
    if (status === 500) json(res, 500, {})
    else setTimeout(() => answer(req, res), 100)
  })
  const rc = classifier(t, srv.url, { breaker: { consecutiveFailures: 1, halfOpenAfterMs: 100 } })
  await failure(rc.classify(['a'], signal()))
  t.equal(rc.health().state, 'open')
  status = 200
  await delay(150) // past halfOpenAfter
  const ac = new AbortController()
  const call = rc.classify(['a'], ac.signal)
  t.ok(await eventually(() => srv.received.length === 2))
  ac.abort()
  t.equal((await failure(call)).outcome, 'aborted', 'the caller is answered at once')
  t.ok(await eventually(() => rc.health().state === 'closed'), 'the trial finished and closed the breaker')
  t.equal(srv.abandoned, 0)
  t.same(rc.states, ['open', 'half_open', 'closed'])
})

t.test('classifyWithin: a remote timeout is an error for the rule, and the call is cancelled', async (t) => {
  const srv = await startServer(t, () => {})
  const rc = classifier(t, srv.url, { timeoutMs: 5000 })
  t.same(await classifyWithin(rc, ['hello'], 100), { kind: 'timeout' })
  t.ok(await eventually(() => srv.abandoned === 1), 'the rule timeout aborted the HTTP request')
  t.equal(rc.health().consecutiveFailures, 0, 'a caller giving up is not an endpoint failure')
})

t.test('options are checked', async (t) => {
  const base: RemoteClassifierOptions = { name: 'r', url: 'http://127.0.0.1:1/v1/moderations', timeoutMs: 100, maxBatch: 4, breaker: { consecutiveFailures: 3, halfOpenAfterMs: 1000 } }
  t.throws(() => new RemoteClassifier({ ...base, url: 'ftp://example.com/x' }), /http\(s\)/)
  t.throws(() => new RemoteClassifier({ ...base, url: 'http://user:pw@example.com/x' }), /apiKey/)
  t.throws(() => new RemoteClassifier({ ...base, maxBatch: 0 }), /maxBatch/)
  t.throws(() => new RemoteClassifier({ ...base, timeoutMs: 0 }), /timeoutMs/)
  t.throws(() => new RemoteClassifier({ ...base, breaker: { consecutiveFailures: 0, halfOpenAfterMs: 1 } }), /consecutiveFailures/)
  const rc = new RemoteClassifier(base)
  await rc.close()
  await t.rejects(rc.classify(['a'], signal()), /closed/)
})
