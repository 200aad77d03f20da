import http from 'node:http'
import net, { type AddressInfo } from 'node:net'
import t from 'tap'
import { Agent } from 'undici'
import { MAX_ERRORS, WarmJobs, type WarmJobView, type WarmRequest } from '../../../src/io/cache/warm.js'
import { captureLog } from '../../helpers/capture-log.js'
import { eventually } from '../../helpers/eventually.js'

interface Seen {
  method: string
  url: string
  headers: http.IncomingHttpHeaders
  body: string
}

/**
 * Stands in for Chaperone's proxy listener: the path says how to answer. `/hold/…` requests wait
 * until the test releases them, so concurrency is observed without timing anything.
 */
async function startProxy() {
  const seen: Seen[] = []
  const held: http.ServerResponse[] = []
  let open = 0
  let maxOpen = 0
  const server = http.createServer(async (req, res) => {
    open++
    maxOpen = Math.max(maxOpen, open)
    res.on('close', () => void open--)
    const parts: Buffer[] = []
    for await (const c of req as AsyncIterable<Buffer>) parts.push(c)
    const url = req.url ?? '/'
    seen.push({ method: req.method ?? '', url, headers: req.headers, body: Buffer.concat(parts).toString('utf8') })
    const cache = /^\/(hit|stale|miss|coalesced)\b/.exec(url)?.[1]
    if (cache) return void res.writeHead(200, { 'x-chaperone-cache': cache, 'content-type': 'application/json' }).end('{"answer":42}')
    if (url.startsWith('/plain')) return void res.writeHead(200, { 'content-type': 'application/json' }).end('{"answer":42}')
    if (url.startsWith('/created')) return void res.writeHead(201, { 'x-chaperone-cache': 'miss' }).end()
    if (url.startsWith('/denied')) {
      const body = JSON.stringify({ error: { type: 'chaperone_error', code: 'forbidden', message: 'The request is not allowed.', request_id: 'r1' } })
      return void res.writeHead(403, { 'content-type': 'application/json' }).end(body)
    }
    if (url.startsWith('/boom')) return void res.writeHead(502, { 'content-type': 'text/plain' }).end('bad gateway, not JSON')
    if (url.startsWith('/big-error')) return void res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: 'internal_error' }, pad: 'x'.repeat(100_000) }))
    if (url.startsWith('/cut')) {
      // Says 1000 bytes, sends 10, and hangs up: a miss whose body never completed.
      res.writeHead(200, { 'x-chaperone-cache': 'miss', 'content-length': '1000' })
      res.write('0123456789')
      return void setImmediate(() => req.socket.destroy())
    }
    if (url.startsWith('/hold')) {
      res.setHeader('x-chaperone-cache', 'miss')
      return void held.push(res)
    }
    res.writeHead(404).end()
  })
  server.listen(0, '127.0.0.1')
  await new Promise((r) => server.once('listening', r))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    held,
    maxOpen: () => maxOpen,
    release(n = held.length) {
      for (const res of held.splice(0, n)) res.end('{}')
    },
    async close() {
      for (const res of held.splice(0)) res.end()
      server.closeAllConnections()
      await new Promise((r) => server.close(r))
    },
  }
}

/** A port nothing listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const s = net.createServer().listen(0, '127.0.0.1')
  await new Promise((r) => s.once('listening', r))
  const { port } = s.address() as AddressInfo
  await new Promise((r) => s.close(r))
  return port
}

async function setup(t: { teardown(fn: () => unknown): void }, opts: { maxJobs?: number; timeoutMs?: number; url?: string } = {}) {
  const proxy = await startProxy()
  const dispatcher = new Agent()
  const log = captureLog()
  const jobs = new WarmJobs({ proxyUrl: () => opts.url ?? proxy.url, log, dispatcher, ...(opts.maxJobs ? { maxJobs: opts.maxJobs } : {}), ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}) })
  t.teardown(async () => {
    await proxy.close()
    await dispatcher.close()
  })
  return { proxy, jobs, log }
}

async function finished(jobs: WarmJobs, id: string): Promise<WarmJobView> {
  const ok = await eventually(() => jobs.get(id)?.finished === true)
  if (!ok) throw new Error(`job ${id} did not finish`)
  return jobs.get(id)!
}

const post = (path: string, extra: Partial<WarmRequest> = {}): WarmRequest => ({ method: 'POST', path, ...extra })

t.test('each answer is counted by its x-chaperone-cache header and status', async (t) => {
  const { proxy, jobs, log } = await setup(t)
  const requests = [
    post('/miss'),
    post('/coalesced'),
    post('/hit'),
    post('/stale'),
    post('/plain'),
    post('/plain?again=1'),
    post('/denied'),
    post('/boom'),
    post('/cut'),
    post('/created'),
  ]
  const first = jobs.start(requests, 2)!
  t.equal(first.total, 10)
  t.equal(first.finished, false, 'a job is running when start returns')
  t.notOk('finishedAt' in first, 'no finishedAt before it finishes')
  t.match(first.id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/, 'a random UUID')
  const job = await finished(jobs, first.id)
  t.match(job, { total: 10, done: 10, fetched: 3, alreadyCached: 2, notCacheable: 2, failed: 3, finished: true })
  t.ok(!Number.isNaN(Date.parse(job.startedAt)) && !Number.isNaN(Date.parse(job.finishedAt!)), 'RFC 3339 times')
  const byIndex = new Map(job.errors.map((e) => [e.index, e]))
  t.same(byIndex.get(6), { index: 6, status: 403, code: 'forbidden' }, "Chaperone's error code read from the reply")
  t.same(byIndex.get(7), { index: 7, status: 502 }, 'no code in a reply that is not an error envelope')
  t.equal(byIndex.get(8)?.status, 200, 'a body cut short fails with the status it had')
  t.type(byIndex.get(8)?.code, 'string')
  t.equal(job.errors.length, 3)
  t.equal(proxy.seen.length, 10, 'every request reached the proxy once')
  t.ok(log.messages('info').includes('cache warm job finished'))
})

t.test('a 201 is a success, counted by its header', async (t) => {
  // Guards the "2xx, then the header decides" rule: /created says miss with a 201.
  const { jobs } = await setup(t)
  const job = await finished(jobs, jobs.start([post('/created')], 1)!.id)
  t.match(job, { fetched: 1, failed: 0 })
})

t.test('requests are sent as given: method, path, headers and a JSON body, nothing added', async (t) => {
  const { proxy, jobs } = await setup(t)
  const id = jobs.start(
    [
      post('/miss/v1/chat/completions?x=1', { headers: { authorization: 'Bearer alice', 'x-tenant': 't1' }, body: { model: 'm', messages: [{ role: 'user', content: 'héllo' }] } }),
      { method: 'GET', path: '//elsewhere.example/hit', headers: { authorization: 'Bearer bob' } },
      post('/plain', { headers: { 'Content-Type': 'application/vnd.custom+json' }, body: [1, 2] }),
    ],
    1,
  )!.id
  await finished(jobs, id)
  const [a, b, c] = proxy.seen
  t.equal(a?.method, 'POST')
  t.equal(a?.url, '/miss/v1/chat/completions?x=1')
  t.equal(a?.headers.authorization, 'Bearer alice')
  t.equal(a?.headers['x-tenant'], 't1')
  t.equal(a?.headers['content-type'], 'application/json', 'a JSON body says so')
  t.same(JSON.parse(a!.body), { model: 'm', messages: [{ role: 'user', content: 'héllo' }] })
  t.notOk(Object.keys(a!.headers).some((h) => h.startsWith('x-chaperone')), 'no marker header')
  t.equal(b?.method, 'GET')
  t.equal(b?.url, '//elsewhere.example/hit', 'a path that looks like a host stays a path on the proxy')
  t.equal(b?.body, '')
  t.equal(c?.headers['content-type'], 'application/vnd.custom+json', "the caller's content type is kept")
  t.equal(c?.body, '[1,2]')
})

t.test('concurrency bounds the requests in flight at the proxy', async (t) => {
  const { proxy, jobs } = await setup(t)
  const total = 10
  const concurrency = 3
  const id = jobs.start(
    Array.from({ length: total }, (_, i) => post(`/hold/${i}`)),
    concurrency,
  )!.id
  let released = 0
  while (released < total) {
    // Held requests only leave when released, so a client that overshot would show up here.
    const expected = Math.min(concurrency, total - released)
    t.ok(await eventually(() => proxy.held.length >= expected && jobs.get(id)!.done === released), `${released} done, ${expected} in flight`)
    proxy.release(1)
    released++
  }
  const job = await finished(jobs, id)
  t.equal(proxy.maxOpen(), concurrency, 'never more than the bound, and the bound is used')
  t.match(job, { done: total, fetched: total, failed: 0 })
})

t.test('concurrency above the number of requests opens no idle workers', async (t) => {
  const { proxy, jobs } = await setup(t)
  const id = jobs.start([post('/hold/a'), post('/hold/b')], 16)!.id
  t.ok(await eventually(() => proxy.held.length === 2))
  t.equal(jobs.get(id)!.finished, false, 'not finished while requests are in flight')
  proxy.release()
  t.match(await finished(jobs, id), { done: 2, fetched: 2 })
})

t.test('a refused connection fails each request with its error code; errors are listed up to the cap', async (t) => {
  const port = await closedPort()
  const { jobs } = await setup(t, { url: `http://127.0.0.1:${port}` })
  const total = MAX_ERRORS + 20
  const job = await finished(jobs, jobs.start(Array.from({ length: total }, () => post('/miss')), 8)!.id)
  t.match(job, { total, done: total, failed: total, fetched: 0 })
  t.equal(job.errors.length, MAX_ERRORS, 'the error list is bounded; the counter is not')
  t.same(job.errors[0], { index: job.errors[0]!.index, status: 0, code: 'ECONNREFUSED' })
  t.equal(new Set(job.errors.map((e) => e.index)).size, MAX_ERRORS, 'one entry per failed request')
})

t.test('a request past the timeout fails and the job still finishes', async (t) => {
  const { proxy, jobs } = await setup(t, { timeoutMs: 50 })
  const job = await finished(jobs, jobs.start([post('/hold/forever'), post('/hit')], 2)!.id)
  t.match(job, { done: 2, failed: 1, alreadyCached: 1 })
  t.equal(job.errors[0]?.index, 0)
  t.equal(job.errors[0]?.status, 0)
  t.type(job.errors[0]?.code, 'string')
  proxy.release()
})

t.test('a failed reply is read only so far for its code, and drained', async (t) => {
  const { jobs } = await setup(t)
  const job = await finished(jobs, jobs.start([post('/big-error'), post('/hit')], 1)!.id)
  // The code sits in the first bytes; the 100 kB after it are not kept, but the connection is reused.
  t.same(job.errors, [{ index: 0, status: 500 }], 'JSON cut at the bound has no code to give')
  t.match(job, { done: 2, alreadyCached: 1 })
})

t.test('jobs are kept up to maxJobs: the oldest finished goes first, and running jobs are never dropped', async (t) => {
  const { proxy, jobs } = await setup(t, { maxJobs: 2 })
  const a = jobs.start([post('/hit')], 1)!
  await finished(jobs, a.id)
  const b = jobs.start([post('/hold/b')], 1)!
  const c = jobs.start([post('/hit')], 1)!
  t.equal(jobs.get(a.id), undefined, 'the oldest finished job made room')
  t.same(
    jobs.list().map((j) => j.id),
    [c.id, b.id],
    'newest first',
  )
  await finished(jobs, c.id)
  const d = jobs.start([post('/hold/d')], 1)!
  t.equal(jobs.get(c.id), undefined, 'the finished job went, the running one stayed')
  t.ok(jobs.get(b.id))
  t.ok(await eventually(() => proxy.held.length === 2))
  t.equal(jobs.start([post('/hit')], 1), undefined, 'every slot running: refused')
  t.equal(jobs.list().length, 2)
  proxy.release()
  await finished(jobs, b.id)
  await finished(jobs, d.id)
  const e = jobs.start([post('/hit')], 1)
  t.ok(e, 'accepted again once a job finished')
  t.same(
    jobs.list().map((j) => j.id),
    [e!.id, d.id],
  )
})

t.test('views are snapshots: later progress does not change a view already handed out', async (t) => {
  const { proxy, jobs } = await setup(t)
  const id = jobs.start([post('/hold/x')], 1)!.id
  t.ok(await eventually(() => proxy.held.length === 1))
  const before = jobs.get(id)!
  proxy.release()
  await finished(jobs, id)
  t.equal(before.done, 0)
  t.equal(before.finished, false)
})
