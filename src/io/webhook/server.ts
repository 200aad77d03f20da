/**
 * `chaperone inject-webhook`: the HTTPS endpoint the API server calls for every Pod CREATE the
 * MutatingWebhookConfiguration selects.
 *
 *   POST /mutate    AdmissionReview v1 (application/json, at most 1 MiB) → AdmissionReview v1
 *   GET  /healthz   200 while the process serves
 *
 * The certificate and key are re-read every `tlsReloadMs` (30 s): cert-manager rotates the
 * Secret and kubelet swaps the mounted files in place, so the new pair is served without a
 * restart. A pair that does not load (half-written, key and certificate from different
 * rotations) is logged and the current one kept until a later check sees a good pair.
 */
import https from 'node:https'
import type http from 'node:http'
import tls from 'node:tls'
import { createHash, X509Certificate } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { admitText, MAX_REVIEW_BYTES, type AdmissionResult } from '../../core/k8s/admission.js'
import { parseSidecarSettings, type SidecarSettings } from '../../core/k8s/sidecar-config.js'
import { formatConfigError } from '../../core/config/errors.js'
import { splitHostPort } from '../../core/config/listen.js'
import { createLogger, type Logger } from '../logger.js'

export interface WebhookServerOptions {
  readonly host: string
  readonly port: number
  readonly certFile: string
  readonly keyFile: string
  readonly settings: SidecarSettings
  readonly log: Logger
  /** How often the certificate files are checked for a new pair. */
  readonly tlsReloadMs?: number
  /** Longest time to receive one whole request; the API server's own webhook timeout is 10 s. */
  readonly requestTimeoutMs?: number
  readonly maxBodyBytes?: number
}

export interface RunningWebhook {
  readonly port: number
  readonly url: string
  /** Checks the certificate files now; true when a new pair is being served. */
  reloadTls(): Promise<boolean>
  close(): Promise<void>
}

/** What makes startup impossible, worded for the operator (no stack). */
export class WebhookStartupError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'WebhookStartupError'
  }
}

interface TlsPair {
  readonly cert: Buffer
  readonly key: Buffer
  readonly digest: string
}

async function readPair(certFile: string, keyFile: string): Promise<TlsPair> {
  const [cert, key] = await Promise.all([readFile(certFile), readFile(keyFile)])
  const digest = createHash('sha256').update(cert).update('\0').update(key).digest('hex')
  return { cert, key, digest }
}

/** Throws when the pair is unusable (bad PEM, key of another certificate). */
function checkPair(pair: TlsPair): { subject: string; validTo: string; fingerprint256: string } {
  tls.createSecureContext({ cert: pair.cert, key: pair.key })
  const x = new X509Certificate(pair.cert)
  return { subject: x.subject, validTo: x.validTo, fingerprint256: x.fingerprint256 }
}

export async function startWebhookServer(opts: WebhookServerOptions): Promise<RunningWebhook> {
  const log = opts.log
  const maxBody = opts.maxBodyBytes ?? MAX_REVIEW_BYTES
  const requestTimeout = opts.requestTimeoutMs ?? 10_000

  let current: TlsPair
  try {
    current = await readPair(opts.certFile, opts.keyFile)
    log.info({ cert: checkPair(current) }, 'TLS certificate loaded')
  } catch (err) {
    throw new WebhookStartupError(`cannot use TLS certificate ${opts.certFile} with key ${opts.keyFile}: ${(err as Error).message}`)
  }

  const server = https.createServer(
    { cert: current.cert, key: current.key, requestTimeout, headersTimeout: Math.min(requestTimeout, 10_000) },
    (req, res) => {
      handle(req, res).catch((err: unknown) => {
        log.error({ err }, 'webhook request failed')
        if (!res.headersSent) send(res, 500, { error: 'internal_error', message: 'internal error' })
        else res.destroy()
      })
    },
  )
  // Handshakes that fail (scanners, a client with the old CA) are not the webhook's errors.
  server.on('tlsClientError', (err) => log.debug({ err: err.message }, 'TLS handshake failed'))

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0]
    if (path === '/healthz') {
      if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, { error: 'method_not_allowed', message: 'use GET' }, { allow: 'GET, HEAD' })
      return send(res, 200, { status: 'ok' })
    }
    if (path !== '/mutate') return send(res, 404, { error: 'not_found', message: 'POST /mutate or GET /healthz' })
    if (req.method !== 'POST') return send(res, 405, { error: 'method_not_allowed', message: 'use POST' }, { allow: 'POST' })
    const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase()
    if (type !== 'application/json') return reject(res, 415, 'unsupported_media_type', 'expected content-type application/json')
    const declared = Number(req.headers['content-length'] ?? 0)
    if (declared > maxBody) return reject(res, 413, 'payload_too_large', `the body is larger than ${maxBody} bytes`)
    const read = await readBounded(req, maxBody)
    if (!read.ok && read.reason === 'aborted') {
      log.debug('webhook client went away mid-body')
      res.destroy()
      return
    }
    if (!read.ok) return reject(res, 413, 'payload_too_large', `the body is larger than ${maxBody} bytes`)
    const result = admitText(read.body.toString('utf8'), opts.settings)
    logResult(result)
    send(res, result.status, result.body)
  }

  /** Refuses before reading the rest of the body, so the connection cannot be reused. */
  function reject(res: http.ServerResponse, status: number, error: string, message: string): void {
    log.warn({ status, reason: message }, 'webhook request refused')
    send(res, status, { error, message }, { connection: 'close' })
  }

  function logResult(r: AdmissionResult): void {
    const { decision, ...fields } = r.summary
    if (decision === 'bad-request' || decision === 'denied') log.warn({ decision, ...fields }, 'admission review')
    else log.info({ decision, ...fields }, 'admission review')
  }

  let lastRejected: string | undefined
  let reloading: Promise<boolean> | undefined
  async function reloadOnce(): Promise<boolean> {
    let next: TlsPair
    try {
      next = await readPair(opts.certFile, opts.keyFile)
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'cannot read TLS files; still serving the current certificate')
      return false
    }
    if (next.digest === current.digest || next.digest === lastRejected) return false
    try {
      const cert = checkPair(next)
      server.setSecureContext({ cert: next.cert, key: next.key })
      current = next
      lastRejected = undefined
      log.info({ cert }, 'TLS certificate reloaded')
      return true
    } catch (err) {
      // Warned once per bad pair, not every tick; a later good pair clears it.
      lastRejected = next.digest
      log.warn({ err: (err as Error).message }, 'new TLS files do not load; still serving the current certificate')
      return false
    }
  }
  const reloadTls = (): Promise<boolean> => {
    reloading ??= reloadOnce().finally(() => (reloading = undefined))
    return reloading
  }
  const timer = setInterval(() => void reloadTls(), opts.tlsReloadMs ?? 30_000)
  timer.unref()

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const port = (server.address() as { port: number }).port
  const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host
  log.info({ listen: `${host}:${port}` }, 'inject-webhook listening')

  return {
    port,
    url: `https://${host}:${port}`,
    reloadTls,
    close: async () => {
      clearInterval(timer)
      await new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeIdleConnections()
      })
    },
  }
}

type BodyRead = { ok: true; body: Buffer } | { ok: false; reason: 'too-large' | 'aborted' }

/** The body, up to `max` bytes; past that the rest is not read. Never rejects, never hangs. */
function readBounded(req: http.IncomingMessage, max: number): Promise<BodyRead> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = []
    let size = 0
    const finish = (r: BodyRead) => {
      req.off('data', onData)
      req.off('end', onEnd)
      req.off('error', onAbort)
      req.off('close', onAbort)
      resolve(r)
    }
    const onData = (chunk: Buffer) => {
      size += chunk.length
      if (size > max) {
        req.pause()
        finish({ ok: false, reason: 'too-large' })
      } else {
        chunks.push(chunk)
      }
    }
    const onEnd = () => finish({ ok: true, body: Buffer.concat(chunks, size) })
    // A client gone mid-body: 'error' or a 'close' before 'end', depending on the Node version.
    const onAbort = () => finish({ ok: false, reason: 'aborted' })
    req.on('data', onData)
    req.on('end', onEnd)
    req.on('error', onAbort)
    req.on('close', onAbort)
  })
}

function send(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)), ...headers })
  res.end(text)
}

export type SettingsLoad = { ok: true; settings: SidecarSettings } | { ok: false; message: string }

/** No file means every default; a file that cannot be read is an error, not the defaults. */
export async function loadSidecarSettings(file: string | undefined): Promise<SettingsLoad> {
  let text: string | undefined
  if (file !== undefined) {
    try {
      text = await readFile(file, 'utf8')
    } catch (err) {
      return { ok: false, message: `${file}: cannot read: ${(err as Error).message}` }
    }
  }
  const parsed = parseSidecarSettings(file ?? '(defaults)', text)
  return parsed.ok ? parsed : { ok: false, message: parsed.errors.map(formatConfigError).join('\n') }
}

export interface InjectWebhookCommand {
  readonly listen: string
  readonly tlsCert: string
  readonly tlsKey: string
  readonly sidecarConfig?: string
}

/** The CLI entry: loads settings, serves, and drains on SIGTERM/SIGINT. */
export async function runInjectWebhook(cmd: InjectWebhookCommand): Promise<RunningWebhook> {
  const log = createLogger('info').child({ component: 'inject-webhook' })
  const loaded = await loadSidecarSettings(cmd.sidecarConfig)
  if (!loaded.ok) throw new WebhookStartupError(loaded.message)
  const addr = splitHostPort(cmd.listen)
  if (!addr) throw new WebhookStartupError(`--listen ${cmd.listen}: expected host:port`)
  const s = loaded.settings
  log.info({ image: s.image, ports: { listen: s.listenPort, upstream: s.upstreamPort, admin: s.adminPort }, configMap: s.configMap, nativeSidecar: s.nativeSidecar }, 'sidecar settings')
  const running = await startWebhookServer({ host: addr.host, port: addr.port, certFile: cmd.tlsCert, keyFile: cmd.tlsKey, settings: s, log })
  let stopping = false
  const stop = (signal: string) => {
    if (stopping) return
    stopping = true
    log.info({ signal }, 'stopping')
    running.close().then(
      () => process.exit(0),
      () => process.exit(1),
    )
  }
  process.on('SIGTERM', () => stop('SIGTERM'))
  process.on('SIGINT', () => stop('SIGINT'))
  return running
}
