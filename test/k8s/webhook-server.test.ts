import t from 'tap'
import https from 'node:https'
import tls from 'node:tls'
import { Writable } from 'node:stream'
import { execFile, spawn } from 'node:child_process'
import { promisify } from 'node:util'
import { once } from 'node:events'
import { X509Certificate } from 'node:crypto'
import { readFileSync, promises as fs } from 'node:fs'
import { createInterface } from 'node:readline'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { startWebhookServer, loadSidecarSettings, WebhookStartupError, type RunningWebhook } from '../../src/io/webhook/server.js'
import { sidecarSettingsSchema } from '../../src/core/k8s/sidecar-config.js'
import { parseCommand } from '../../src/cli-args.js'
import { createLogger } from '../../src/io/logger.js'
import { tmpDir } from '../helpers/tmp-dir.js'
import { eventually } from '../helpers/eventually.js'

const run = promisify(execFile)
const DEFAULTS = sidecarSettingsSchema.parse(undefined)
const FIXTURE = readFileSync(new URL('../fixtures/admission/bare-pod.json', import.meta.url), 'utf8')

interface Pem {
  cert: string
  key: string
  fingerprint256: string
}

/** A fresh self-signed pair for localhost and 127.0.0.1, from the openssl CLI. */
async function makeCert(dir: string, name: string): Promise<Pem> {
  const certFile = path.join(dir, `${name}.crt`)
  const keyFile = path.join(dir, `${name}.key`)
  await run('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-days', '1', '-keyout', keyFile, '-out', certFile,
  ])
  const cert = await fs.readFile(certFile, 'utf8')
  return { cert, key: await fs.readFile(keyFile, 'utf8'), fingerprint256: new X509Certificate(cert).fingerprint256 }
}

/** JSON log lines, for assertions on what an operator sees. */
function logSink(): { lines: Array<Record<string, unknown>>; stream: Writable } {
  const lines: Array<Record<string, unknown>> = []
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString('utf8').split('\n')) if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>)
      cb()
    },
  })
  return { lines, stream }
}

interface Reply {
  status: number
  headers: Record<string, unknown>
  body: any
}

function request(
  port: number,
  ca: string,
  opts: { method?: string; path?: string; body?: string | Buffer; headers?: Record<string, string>; partial?: Buffer },
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    let answered = false
    const req = https.request(
      { host: '127.0.0.1', port, method: opts.method ?? 'POST', path: opts.path ?? '/mutate', ca, agent: false, headers: opts.headers ?? { 'content-type': 'application/json' } },
      (res) => {
        answered = true
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('error', reject)
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8')
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text ? JSON.parse(text) : undefined })
        })
      },
    )
    // A server that answers before reading the whole body then closes; that is not a failure.
    req.on('error', (err) => {
      if (!answered) reject(err)
    })
    if (opts.partial) req.write(opts.partial)
    else req.end(opts.body)
  })
}

/** The certificate the server presents on a brand-new connection. */
async function servedFingerprint(port: number): Promise<string> {
  const socket = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', rejectUnauthorized: false })
  await once(socket, 'secureConnect')
  const fp = socket.getPeerCertificate().fingerprint256
  socket.destroy()
  return fp
}

async function setup(t: { teardown(fn: () => unknown): void }, extra: { tlsReloadMs?: number; maxBodyBytes?: number } = {}) {
  const dir = await tmpDir(t, 'chaperone-webhook-')
  const first = await makeCert(dir, 'first')
  const certFile = path.join(dir, 'tls.crt')
  const keyFile = path.join(dir, 'tls.key')
  await fs.writeFile(certFile, first.cert)
  await fs.writeFile(keyFile, first.key)
  const sink = logSink()
  const running: RunningWebhook = await startWebhookServer({
    host: '127.0.0.1',
    port: 0,
    certFile,
    keyFile,
    settings: DEFAULTS,
    log: createLogger('debug', sink.stream),
    ...extra,
  })
  t.teardown(() => running.close())
  return { dir, first, certFile, keyFile, running, logs: sink.lines }
}

t.test('POST /mutate over HTTPS answers the AdmissionReview with the patch', async (t) => {
  const { first, running, logs } = await setup(t)
  t.match(running.url, /^https:\/\/127\.0\.0\.1:\d+$/)
  const r = await request(running.port, first.cert, { body: FIXTURE })
  t.equal(r.status, 200)
  t.match(r.headers['content-type'], /^application\/json/)
  const review = JSON.parse(FIXTURE)
  t.equal(r.body.apiVersion, 'admission.k8s.io/v1')
  t.equal(r.body.kind, 'AdmissionReview')
  t.equal(r.body.response.uid, review.request.uid)
  t.equal(r.body.response.allowed, true)
  t.equal(r.body.response.patchType, 'JSONPatch')
  const ops = JSON.parse(Buffer.from(r.body.response.patch, 'base64').toString('utf8'))
  t.match(ops, [{ op: 'add', path: '/metadata/annotations' }, { op: 'add', path: '/spec/containers/0', value: { name: 'chaperone' } }, { op: 'add', path: '/spec/volumes' }])
  t.match(
    logs.find((l) => l.msg === 'admission review'),
    { level: 'info', decision: 'injected', uid: review.request.uid, namespace: 'default', name: 'bare-bot', operation: 'CREATE' },
    'one log line per review',
  )

  const query = await request(running.port, first.cert, { path: '/mutate?timeout=10s', body: FIXTURE })
  t.equal(query.status, 200, 'the API server appends ?timeout=; the path still matches')
  t.equal(query.body.response.uid, review.request.uid)
})

t.test('garbage, wrong methods, paths and content types get JSON errors', async (t) => {
  const { first, running, logs } = await setup(t)
  const garbage = await request(running.port, first.cert, { body: '{"kind": "AdmissionRev' })
  t.equal(garbage.status, 400)
  t.same(garbage.body, { error: 'bad_request', message: 'the body is not JSON' })
  t.ok(logs.some((l) => l.msg === 'admission review' && l.level === 'warn' && l.decision === 'bad-request'))

  const noUid = await request(running.port, first.cert, { body: '{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{}}' })
  t.equal(noUid.status, 400)

  const badObject = JSON.parse(FIXTURE)
  badObject.request.object = 'a pod'
  const denied = await request(running.port, first.cert, { body: JSON.stringify(badObject) })
  t.equal(denied.status, 200, 'with a uid the answer is a review')
  t.match(denied.body.response, { uid: badObject.request.uid, allowed: false, status: { message: 'request.object is not an object' } })

  const text = await request(running.port, first.cert, { body: FIXTURE, headers: { 'content-type': 'text/plain' } })
  t.equal(text.status, 415)
  t.equal(text.body.error, 'unsupported_media_type')
  const charset = await request(running.port, first.cert, { body: FIXTURE, headers: { 'content-type': 'Application/JSON; charset=utf-8' } })
  t.equal(charset.status, 200, 'media type parameters and case are fine')

  const get = await request(running.port, first.cert, { method: 'GET' })
  t.equal(get.status, 405)
  t.equal(get.headers.allow, 'POST')
  const other = await request(running.port, first.cert, { method: 'GET', path: '/validate' })
  t.equal(other.status, 404)

  const health = await request(running.port, first.cert, { method: 'GET', path: '/healthz' })
  t.equal(health.status, 200)
  t.same(health.body, { status: 'ok' })
})

t.test('bodies over the bound are refused without being read whole', async (t) => {
  const { first, running } = await setup(t)
  // Declared too large: refused on the headers alone, before any of the body arrives.
  const declared = await request(running.port, first.cert, {
    headers: { 'content-type': 'application/json', 'content-length': String(2 * 1024 * 1024) },
    partial: Buffer.from('{"kind":'),
  })
  t.equal(declared.status, 413)
  t.equal(declared.body.error, 'payload_too_large')

  const small = await setup(t, { maxBodyBytes: 1024 })
  // Chunked, with no length announced: refused once the bound is passed.
  const chunked = await request(small.running.port, small.first.cert, {
    headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
    partial: Buffer.alloc(4096, 0x20),
  })
  t.equal(chunked.status, 413)
  const fits = await request(small.running.port, small.first.cert, { body: ' '.repeat(1000) + '[]' })
  t.equal(fits.status, 400, 'at the bound the body is read and judged')
})

t.test('a client that goes away mid-body does not hurt the server', async (t) => {
  const { first, running, logs } = await setup(t)
  const socket = tls.connect({ host: '127.0.0.1', port: running.port, ca: first.cert, servername: 'localhost' })
  await once(socket, 'secureConnect')
  socket.write('POST /mutate HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: 5000\r\n\r\n{"kind":')
  socket.destroy()
  t.ok(await eventually(() => logs.some((l) => l.msg === 'webhook client went away mid-body')), 'the abandoned read ends')
  t.notOk(logs.some((l) => l.level === 'error'), 'and is no error')
  const after = await request(running.port, first.cert, { body: FIXTURE })
  t.equal(after.status, 200)
  t.equal(after.body.response.allowed, true)
})

t.test('a rotated certificate is served after the next check, without a restart', async (t) => {
  const { dir, first, certFile, keyFile, running, logs } = await setup(t, { tlsReloadMs: 50 })
  t.equal(await servedFingerprint(running.port), first.fingerprint256)
  const second = await makeCert(dir, 'second')
  t.not(second.fingerprint256, first.fingerprint256)
  // Like kubelet's atomic swap: each file replaced by a rename, key first.
  await fs.writeFile(`${keyFile}.tmp`, second.key)
  await fs.rename(`${keyFile}.tmp`, keyFile)
  await fs.writeFile(`${certFile}.tmp`, second.cert)
  await fs.rename(`${certFile}.tmp`, certFile)

  // Polled, not slept: a slow machine makes this slower, never wrong.
  let swapped = false
  const deadline = Date.now() + 15_000
  while (!swapped && Date.now() < deadline) {
    swapped = (await servedFingerprint(running.port)) === second.fingerprint256
    if (!swapped) await new Promise((r) => setTimeout(r, 25))
  }
  t.ok(swapped, 'the new certificate is presented on new connections')
  t.ok(logs.some((l) => l.msg === 'TLS certificate reloaded'))
  const r = await request(running.port, second.cert, { body: FIXTURE })
  t.equal(r.status, 200, 'clients trusting the new CA are served')
  await t.rejects(request(running.port, first.cert, { method: 'GET', path: '/healthz' }), 'clients trusting only the old CA are not')
})

t.test('a half-rotated pair (key and certificate that do not match) keeps the current one', async (t) => {
  const { dir, first, certFile, keyFile, running, logs } = await setup(t, { tlsReloadMs: 3_600_000 })
  const second = await makeCert(dir, 'second')
  await fs.writeFile(certFile, second.cert)
  t.equal(await running.reloadTls(), false, 'not swapped')
  t.equal(await servedFingerprint(running.port), first.fingerprint256)
  t.equal(logs.filter((l) => l.msg === 'new TLS files do not load; still serving the current certificate').length, 1)
  t.equal(await running.reloadTls(), false)
  t.equal(logs.filter((l) => l.msg === 'new TLS files do not load; still serving the current certificate').length, 1, 'warned once per bad pair')

  await fs.rm(keyFile)
  t.equal(await running.reloadTls(), false, 'a missing file is not a swap')
  t.equal(await servedFingerprint(running.port), first.fingerprint256)

  await fs.writeFile(keyFile, second.key)
  t.equal(await running.reloadTls(), true, 'the completed pair is taken')
  t.equal(await servedFingerprint(running.port), second.fingerprint256)
  t.equal(await running.reloadTls(), false, 'unchanged files are not reloaded again')
})

t.test('startup fails with a clear message when the TLS files or settings are unusable', async (t) => {
  const dir = await tmpDir(t, 'chaperone-webhook-')
  const log = createLogger('silent')
  const missing = await startWebhookServer({ host: '127.0.0.1', port: 0, certFile: path.join(dir, 'nope.crt'), keyFile: path.join(dir, 'nope.key'), settings: DEFAULTS, log }).then(
    () => undefined,
    (err: unknown) => err,
  )
  t.type(missing, WebhookStartupError)
  t.match((missing as Error).message, /^cannot use TLS certificate .*nope\.crt with key .*nope\.key: ENOENT/)
  const pem = await makeCert(dir, 'a')
  const other = await makeCert(dir, 'b')
  await fs.writeFile(path.join(dir, 'tls.crt'), pem.cert)
  await fs.writeFile(path.join(dir, 'tls.key'), other.key)
  await t.rejects(
    startWebhookServer({ host: '127.0.0.1', port: 0, certFile: path.join(dir, 'tls.crt'), keyFile: path.join(dir, 'tls.key'), settings: DEFAULTS, log }),
    WebhookStartupError,
    'a key of another certificate',
  )

  const settingsFile = path.join(dir, 'sidecar.yaml')
  await fs.writeFile(settingsFile, 'listenPort: 8000\nimage: ""\n')
  const loaded = await loadSidecarSettings(settingsFile)
  t.same(loaded, { ok: false, message: `${settingsFile}:image: expected an image reference\n${settingsFile}:listenPort: must differ from upstreamPort (both 8000)` })
  t.match(await loadSidecarSettings(path.join(dir, 'absent.yaml')), { ok: false, message: /absent\.yaml: cannot read/ })
  t.same(await loadSidecarSettings(undefined), { ok: true, settings: DEFAULTS })
})

t.test('inject-webhook command line', async (t) => {
  t.same(parseCommand(['inject-webhook'], {}), {
    name: 'inject-webhook',
    listen: '0.0.0.0:8443',
    tlsCert: '/etc/chaperone-webhook/tls.crt',
    tlsKey: '/etc/chaperone-webhook/tls.key',
  })
  t.same(parseCommand(['inject-webhook', '--listen', '[::]:9443', '--tls-cert', 'c.pem', '--tls-key', 'k.pem', '--sidecar-config', 's.yaml'], {}), {
    name: 'inject-webhook',
    listen: '[::]:9443',
    tlsCert: 'c.pem',
    tlsKey: 'k.pem',
    sidecarConfig: 's.yaml',
  })
  t.match(parseCommand(['inject-webhook', '--listen', '8443'], {}), { name: 'error', text: /--listen takes host:port/ })
  t.match(parseCommand(['inject-webhook', '--bogus'], {}), { name: 'error', text: /bogus/ })
  t.match(parseCommand(['inject-webhook', '--help'], {}), { name: 'help', text: /^Usage: chaperone inject-webhook/ })
  t.match(parseCommand(['--help'], {}), { name: 'help', text: /inject-webhook/ })
})

t.test('the CLI serves, and exits 0 on SIGTERM; 1 with file:path lines on bad settings', async (t) => {
  const dir = await tmpDir(t, 'chaperone-webhook-')
  const pem = await makeCert(dir, 'tls')
  // The built CLI, as in test/cli.test.ts (npm test builds first), so signals and exit codes are real.
  const cli = fileURLToPath(new URL('../../dist/cli.js', import.meta.url))
  const node = (args: string[]) =>
    spawn(process.execPath, [cli, 'inject-webhook', '--tls-cert', path.join(dir, 'tls.crt'), '--tls-key', path.join(dir, 'tls.key'), ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })

  const bad = path.join(dir, 'bad.yaml')
  await fs.writeFile(bad, 'adminPort: 8080\n')
  const failing = node(['--listen', '127.0.0.1:0', '--sidecar-config', bad])
  let stderr = ''
  failing.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
  const [code] = (await once(failing, 'exit')) as [number | null]
  t.equal(code, 1)
  t.equal(stderr, `${bad}:adminPort: must differ from listenPort (both 8080)\n`)

  const child = node(['--listen', '127.0.0.1:0'])
  t.teardown(() => void child.kill('SIGKILL'))
  const exited = once(child, 'exit')
  let listen: string | undefined
  for await (const line of createInterface({ input: child.stdout! })) {
    const l = JSON.parse(line) as { msg?: string; listen?: string }
    if (l.msg === 'inject-webhook listening') {
      listen = l.listen
      break
    }
  }
  t.ok(listen, 'it logs where it listens')
  const port = Number(listen!.split(':').pop())
  const r = await request(port, pem.cert, { body: FIXTURE })
  t.equal(r.status, 200)
  t.equal(r.body.response.patchType, 'JSONPatch')
  child.kill('SIGTERM')
  const [exitCode] = (await exited) as [number | null]
  t.equal(exitCode, 0)
})
