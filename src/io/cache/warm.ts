import { randomUUID } from 'node:crypto'
import { request, type Dispatcher } from 'undici'
import type { LogPort } from '../../core/chain/types.js'
import { CACHE_STATUS_HEADER } from '../../core/cache/exchange.js'

/** One request to prefetch, as POST /admin/cache/warm validated it (admin-cache.ts). */
export interface WarmRequest {
  readonly method: 'GET' | 'POST'
  /** Path and query on the proxy listener; starts with '/'. */
  readonly path: string
  readonly headers?: Readonly<Record<string, string>>
  /** Sent as JSON; absent for no body. */
  readonly body?: unknown
}

export interface WarmError {
  readonly index: number
  /** The HTTP status, or 0 when no response head came (connection refused, reset, timeout). */
  readonly status: number
  /** The error's code (ECONNREFUSED, UND_ERR_SOCKET, …), or Chaperone's error code from the reply body. */
  readonly code?: string
}

/** What GET /admin/cache/warm/<id> shows of a job. */
export interface WarmJobView {
  readonly id: string
  readonly total: number
  readonly done: number
  /** Answered by the upstream and stored on the way (x-chaperone-cache: miss or coalesced). */
  readonly fetched: number
  /** Already in the cache (x-chaperone-cache: hit or stale). */
  readonly alreadyCached: number
  /** Answered without the cache header: no cache route matched, or the request was not cacheable. */
  readonly notCacheable: number
  /** No response, a status other than 2xx, or a body cut short. */
  readonly failed: number
  /** The first MAX_ERRORS failures. */
  readonly errors: readonly WarmError[]
  readonly finished: boolean
  /** RFC 3339. */
  readonly startedAt: string
  readonly finishedAt?: string
}

export interface WarmJobsOptions {
  /** The proxy listener's base URL (`http://host:port`); read when a job starts, as it is known only once listening. */
  proxyUrl: () => string
  log: Pick<LogPort, 'info' | 'warn' | 'error'>
  /** Jobs kept for GET /admin/cache/warm; when full, the oldest finished one is dropped. Default 20. */
  maxJobs?: number
  /** The most one warm request may take, answer included. Default 10 minutes. */
  timeoutMs?: number
  /** Epoch ms, for startedAt and finishedAt. */
  now?: () => number
  /** For tests; undici's global dispatcher by default. */
  dispatcher?: Dispatcher
}

/** Failures listed per job; the counters keep counting past it. */
export const MAX_ERRORS = 100
const DEFAULT_MAX_JOBS = 20
const DEFAULT_TIMEOUT_MS = 10 * 60_000
/** How much of a failed reply is read to find Chaperone's error code in it; the rest is drained. */
const MAX_ERROR_BODY = 8 * 1024
const MAX_CODE_LENGTH = 64

type Outcome = 'fetched' | 'alreadyCached' | 'notCacheable'

function classify(header: string | string[] | undefined): Outcome {
  const value = Array.isArray(header) ? header[0] : header
  if (value === 'miss' || value === 'coalesced') return 'fetched'
  if (value === 'hit' || value === 'stale') return 'alreadyCached'
  return 'notCacheable'
}

function errorCode(err: unknown): string {
  if (typeof err === 'object' && err !== null) {
    const { code, name } = err as { code?: unknown; name?: unknown }
    // AbortSignal.timeout() rejects with a DOMException whose `code` is a number; its name says more.
    if (typeof code === 'string' && code !== '') return code
    if (typeof name === 'string' && name !== '') return name
  }
  return 'error'
}

/** Chaperone's error envelope is `{"error": {"code": …}}`; anything else has no code to give. */
function replyCode(text: string): string | undefined {
  try {
    const code = (JSON.parse(text) as { error?: { code?: unknown } } | null)?.error?.code
    return typeof code === 'string' && code.length <= MAX_CODE_LENGTH ? code : undefined
  } catch {
    return undefined
  }
}

class Job {
  readonly id = randomUUID()
  readonly total: number
  done = 0
  fetched = 0
  alreadyCached = 0
  notCacheable = 0
  failed = 0
  readonly errors: WarmError[] = []
  finished = false
  readonly startedAt: number
  finishedAt: number | undefined

  constructor(total: number, startedAt: number) {
    this.total = total
    this.startedAt = startedAt
  }

  count(outcome: Outcome): void {
    this[outcome]++
    this.done++
  }

  fail(error: WarmError): void {
    this.failed++
    this.done++
    if (this.errors.length < MAX_ERRORS) this.errors.push(error)
  }

  view(): WarmJobView {
    return {
      id: this.id,
      total: this.total,
      done: this.done,
      fetched: this.fetched,
      alreadyCached: this.alreadyCached,
      notCacheable: this.notCacheable,
      failed: this.failed,
      errors: [...this.errors],
      finished: this.finished,
      startedAt: new Date(this.startedAt).toISOString(),
      ...(this.finishedAt !== undefined ? { finishedAt: new Date(this.finishedAt).toISOString() } : {}),
    }
  }
}

/**
 * Cache warming: prefetches a list of requests by sending each one to Chaperone's own proxy
 * listener, as a client would. Going through the front door is the point: authz, scope, rate
 * limits, moderation and the cache key are exactly those of a client request, so a warmed entry
 * is the entry that client will hit, stored under the scope of the credentials the request
 * carries (a `user`-scoped route warms the cache of the user whose token is in `headers`, and no
 * one else's). Warming grants nothing a client could not do with the same headers.
 *
 * Requests are sent as given: no marker header is added, so the proxy cannot tell them apart and
 * the key cannot differ. Jobs run in the background, each with its own concurrency bound; nothing
 * here throws, and every failure is counted on the job.
 */
export class WarmJobs {
  private readonly jobs = new Map<string, Job>()
  private readonly proxyUrl: () => string
  private readonly log: Pick<LogPort, 'info' | 'warn' | 'error'>
  private readonly maxJobs: number
  private readonly timeoutMs: number
  private readonly now: () => number
  private readonly dispatcher: Dispatcher | undefined

  constructor(opts: WarmJobsOptions) {
    this.proxyUrl = opts.proxyUrl
    this.log = opts.log
    this.maxJobs = Math.max(1, opts.maxJobs ?? DEFAULT_MAX_JOBS)
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS
    this.now = opts.now ?? Date.now
    this.dispatcher = opts.dispatcher
  }

  /**
   * Starts a job and returns its first view at once. Undefined when `maxJobs` jobs are all still
   * running: dropping a running job would lose its progress, and keeping more would let warm
   * requests pile up without a bound.
   */
  start(requests: readonly WarmRequest[], concurrency: number): WarmJobView | undefined {
    if (this.jobs.size >= this.maxJobs && !this.dropOldestFinished()) return undefined
    const job = new Job(requests.length, this.now())
    this.jobs.set(job.id, job)
    // Bodies serialized now: the caller's objects are not held, and a body is encoded once.
    const prepared = requests.map((r) => ({ ...r, body: r.body === undefined ? undefined : JSON.stringify(r.body) }))
    const workers = Math.max(1, Math.floor(concurrency))
    this.log.info({ job: job.id, total: job.total, concurrency: workers }, 'cache warm job started')
    void this.run(job, prepared, workers)
    return job.view()
  }

  get(id: string): WarmJobView | undefined {
    return this.jobs.get(id)?.view()
  }

  /** Newest first. */
  list(): WarmJobView[] {
    return [...this.jobs.values()].reverse().map((j) => j.view())
  }

  private dropOldestFinished(): boolean {
    // Map order is start order, so the first finished job found is the oldest.
    for (const [id, job] of this.jobs) {
      if (job.finished) {
        this.jobs.delete(id)
        return true
      }
    }
    return false
  }

  private async run(job: Job, requests: readonly (Omit<WarmRequest, 'body'> & { body: string | undefined })[], concurrency: number): Promise<void> {
    let next = 0
    const worker = async () => {
      while (next < requests.length) {
        const index = next++
        await this.one(job, index, requests[index]!)
      }
    }
    try {
      await Promise.all(Array.from({ length: Math.min(concurrency, requests.length) }, worker))
    } catch (err) {
      // one() catches everything; this is only so that no rejection can escape a background job.
      this.log.error({ err, job: job.id }, 'cache warm job stopped unexpectedly')
    }
    job.finished = true
    job.finishedAt = this.now()
    const v = job.view()
    this.log.info(
      { job: v.id, total: v.total, fetched: v.fetched, alreadyCached: v.alreadyCached, notCacheable: v.notCacheable, failed: v.failed },
      'cache warm job finished',
    )
  }

  private async one(job: Job, index: number, r: Omit<WarmRequest, 'body'> & { body: string | undefined }): Promise<void> {
    // Known once the head has come: a body cut short after it is a failure with that status.
    let status = 0
    try {
      const headers: Record<string, string> = { ...r.headers }
      if (r.body !== undefined && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) headers['content-type'] = 'application/json'
      // Concatenated, not resolved against the base: a path such as `//elsewhere/x` stays a path on the proxy.
      const res = await request(this.proxyUrl() + r.path, {
        method: r.method,
        headers,
        ...(r.body !== undefined ? { body: r.body } : {}),
        signal: AbortSignal.timeout(this.timeoutMs),
        ...(this.dispatcher ? { dispatcher: this.dispatcher } : {}),
      })
      status = res.statusCode
      const ok = status >= 200 && status < 300
      // Read to the end even on success: a miss is stored only once its body is complete, and a
      // body cut short is a failure. Only the head of a failed reply is kept, for its error code.
      let head = ''
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        if (!ok && head.length < MAX_ERROR_BODY) head += chunk.toString('utf8', 0, Math.min(chunk.length, MAX_ERROR_BODY - head.length))
      }
      if (ok) return job.count(classify(res.headers[CACHE_STATUS_HEADER]))
      const code = replyCode(head)
      job.fail({ index, status, ...(code !== undefined ? { code } : {}) })
    } catch (err) {
      job.fail({ index, status, code: errorCode(err) })
    }
  }
}
