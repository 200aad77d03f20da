import { Pool } from 'undici'
import { circuitBreaker, CircuitState, ConsecutiveBreaker, handleWhen, isBrokenCircuitError, type CircuitBreakerPolicy } from 'cockatiel'
import type { Classifier, ClassifierScores } from '../../core/ports.js'
import { BadModerationResponse, parseModerationsResponse } from './moderations-response.js'
import { classifierTraces, traceClassifierCall } from '../../core/telemetry/channels.js'

/**
 * How one HTTP attempt (or one call refused by the open breaker) ended. `aborted` is the
 * caller giving up (its signal, or a sibling batch of the same call failing): it says nothing
 * about the endpoint and never counts against the breaker.
 */
export type RemoteCallOutcome = 'ok' | 'timeout' | 'http_error' | 'bad_response' | 'network' | 'rejected_open' | 'aborted'
export type BreakerState = 'closed' | 'open' | 'half_open'

export interface RemoteClassifierOptions {
  readonly name: string
  /** Full endpoint URL, http or https, e.g. https://api.openai.com/v1/moderations. */
  readonly url: string
  /** Sent as "model" when set. */
  readonly model?: string
  /** Sent as `Authorization: Bearer …`; never logged. */
  readonly apiKey?: string
  /** Bound on one HTTP attempt, from queueing for a connection to the last body byte. */
  readonly timeoutMs: number
  /** Most inputs per HTTP request; larger calls are split and re-joined in order. */
  readonly maxBatch: number
  /** Default 1 MiB; a bigger body is bad_response. */
  readonly maxResponseBytes?: number
  readonly breaker: { readonly consecutiveFailures: number; readonly halfOpenAfterMs: number }
  /** Connection pool size, default 16. */
  readonly connections?: number
  /** Once per HTTP attempt, and once per call refused by the open breaker. */
  readonly onCall?: (outcome: RemoteCallOutcome, ms: number) => void
  /** On every breaker transition. */
  readonly onState?: (state: BreakerState) => void
  readonly log?: { warn(obj: object, msg?: string): void; info(obj: object, msg?: string): void }
}

export interface RemoteClassifierHealth {
  state: BreakerState
  consecutiveFailures: number
  lastError?: string
  lastErrorAt?: number
}

/** Why a remote call failed; the message never carries input text, response body or API key. */
export class RemoteClassifierError extends Error {
  constructor(
    readonly outcome: Exclude<RemoteCallOutcome, 'ok'>,
    message: string,
  ) {
    super(message)
    this.name = 'RemoteClassifierError'
  }
}

const DEFAULT_MAX_RESPONSE_BYTES = 1024 * 1024
const DEFAULT_CONNECTIONS = 16
// An error reply is read (bounded) rather than dropped so that its connection can be reused.
const ERROR_BODY_DRAIN_BYTES = 64 * 1024

const STATE_NAMES: Record<CircuitState, BreakerState> = {
  [CircuitState.Closed]: 'closed',
  [CircuitState.Open]: 'open',
  [CircuitState.HalfOpen]: 'half_open',
  [CircuitState.Isolated]: 'open',
}

/**
 * An OpenAI-compatible /v1/moderations endpoint (OpenAI's own, or a self-hosted guard model) as
 * a classifier. Every HTTP attempt has its own timeout, and a cockatiel circuit breaker stops
 * calling an endpoint that keeps failing, so that an outage costs callers nothing while it lasts.
 *
 * Two departures from cockatiel's defaults, both so that an open breaker never makes a caller
 * wait: while the one half-open trial is in flight other calls are refused at once instead of
 * queueing behind it; and the trial is not cancelled by its caller's signal (its caller is still
 * answered at once), because cockatiel would count a cancelled trial as a success and close.
 */
export class RemoteClassifier implements Classifier {
  readonly name: string
  readonly #opts: RemoteClassifierOptions
  readonly #pool: Pool
  readonly #path: string
  readonly #headers: Record<string, string>
  readonly #maxResponseBytes: number
  readonly #counter: ConsecutiveBreaker
  readonly #breaker: CircuitBreakerPolicy
  #openedAt = 0
  #lastError: string | undefined
  #lastErrorAt: number | undefined
  #closed = false

  constructor(opts: RemoteClassifierOptions) {
    const url = new URL(opts.url)
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TypeError(`remote classifier ${opts.name}: URL must be http(s), got ${url.protocol}`)
    if (url.username || url.password) throw new TypeError(`remote classifier ${opts.name}: put credentials in apiKey, not in the URL`)
    positiveInt(opts.name, 'maxBatch', opts.maxBatch)
    positiveInt(opts.name, 'breaker.consecutiveFailures', opts.breaker.consecutiveFailures)
    positive(opts.name, 'timeoutMs', opts.timeoutMs)
    if (!(opts.breaker.halfOpenAfterMs >= 0)) throw new RangeError(`remote classifier ${opts.name}: breaker.halfOpenAfterMs must be ≥ 0`)
    if (opts.maxResponseBytes !== undefined) positiveInt(opts.name, 'maxResponseBytes', opts.maxResponseBytes)
    if (opts.connections !== undefined) positiveInt(opts.name, 'connections', opts.connections)

    this.name = opts.name
    this.#opts = opts
    this.#path = url.pathname + url.search
    this.#maxResponseBytes = opts.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES
    this.#headers = { 'content-type': 'application/json', accept: 'application/json' }
    if (opts.apiKey !== undefined) this.#headers.authorization = `Bearer ${opts.apiKey}`
    this.#pool = new Pool(url.origin, { connections: opts.connections ?? DEFAULT_CONNECTIONS, pipelining: 1 })

    this.#counter = new ConsecutiveBreaker(opts.breaker.consecutiveFailures)
    const failures = handleWhen((err) => !(err instanceof RemoteClassifierError && err.outcome === 'aborted'))
    this.#breaker = circuitBreaker(failures, { halfOpenAfter: opts.breaker.halfOpenAfterMs, breaker: this.#counter })
    this.#breaker.onStateChange((s) => this.#stateChanged(s))
  }

  async classify(texts: readonly string[], signal: AbortSignal): Promise<readonly ClassifierScores[]> {
    if (this.#closed) throw new Error(`remote classifier ${this.name} is closed`)
    if (signal.aborted) throw this.#abortedError()
    if (texts.length === 0) return []
    if (this.#refusesNow()) throw this.#rejectedOpen()
    const { maxBatch } = this.#opts
    if (texts.length <= maxBatch) return this.#batch(texts, signal)

    // One failed batch dooms the call, so the others are cancelled rather than left to finish.
    const ac = new AbortController()
    const cancel = () => ac.abort()
    signal.addEventListener('abort', cancel, { once: true })
    try {
      const batches: Promise<ClassifierScores[]>[] = []
      for (let i = 0; i < texts.length; i += maxBatch) {
        batches.push(
          this.#batch(texts.slice(i, i + maxBatch), ac.signal).catch((err: unknown) => {
            ac.abort()
            throw err
          }),
        )
      }
      return (await Promise.all(batches)).flat()
    } finally {
      signal.removeEventListener('abort', cancel)
    }
  }

  health(): RemoteClassifierHealth {
    const h: RemoteClassifierHealth = { state: STATE_NAMES[this.#breaker.state], consecutiveFailures: this.#counter.state }
    if (this.#lastError !== undefined) {
      h.lastError = this.#lastError
      h.lastErrorAt = this.#lastErrorAt!
    }
    return h
  }

  /** Waits for requests in flight (each bounded by timeoutMs), then closes the connections. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await this.#pool.close()
  }

  /** Whether the breaker would refuse a call now: open and not yet due a trial, or the trial in flight. */
  #refusesNow(): boolean {
    const s = this.#breaker.state
    if (s === CircuitState.HalfOpen || s === CircuitState.Isolated) return true
    return s === CircuitState.Open && Date.now() - this.#openedAt < this.#opts.breaker.halfOpenAfterMs
  }

  async #batch(texts: readonly string[], signal: AbortSignal): Promise<ClassifierScores[]> {
    if (this.#refusesNow()) throw this.#rejectedOpen()
    let call: Promise<ClassifierScores[]>
    try {
      call = this.#breaker.execute(() => {
        // cockatiel runs this synchronously inside execute(), before it marks the breaker
        // half-open, so any state but closed here means this attempt is the trial.
        const trial = this.#breaker.state !== CircuitState.Closed
        return this.#attempt(texts, trial ? undefined : signal)
      })
    } catch (err) {
      call = Promise.reject(err)
    }
    const mapped = call.catch((err: unknown) => {
      if (isBrokenCircuitError(err)) throw this.#rejectedOpen()
      throw err
    })
    return untilAborted(mapped, signal, () => this.#abortedError())
  }

  /** One HTTP request, reported to onCall; `signal` undefined means only the timeout ends it. */
  async #attempt(texts: readonly string[], signal: AbortSignal | undefined): Promise<ClassifierScores[]> {
    const started = performance.now()
    const ac = new AbortController()
    let cause: 'timeout' | 'aborted' | undefined
    const timer = setTimeout(() => {
      cause ??= 'timeout'
      ac.abort()
    }, this.#opts.timeoutMs)
    const onAbort = () => {
      cause ??= 'aborted'
      ac.abort()
    }
    signal?.addEventListener('abort', onAbort, { once: true })
    if (signal?.aborted) onAbort()
    try {
      const scores = await (classifierTraces.hasSubscribers ? traceClassifierCall({ classifier: this.name, mode: 'remote', batchSize: texts.length }, () => this.#post(texts, ac.signal)) : this.#post(texts, ac.signal))
      this.#report('ok', performance.now() - started)
      return scores
    } catch (err) {
      // Our own verdicts first: a timeout that fires while an error body drains is still an http_error.
      const failure =
        err instanceof RemoteClassifierError
          ? err
          : cause === 'timeout'
            ? new RemoteClassifierError('timeout', `remote classifier ${this.name}: no complete answer within ${this.#opts.timeoutMs} ms`)
            : cause === 'aborted'
              ? this.#abortedError()
              : new RemoteClassifierError('network', `remote classifier ${this.name}: ${networkMessage(err)}`)
      this.#report(failure.outcome, performance.now() - started)
      if (failure.outcome !== 'aborted') {
        this.#lastError = failure.message
        this.#lastErrorAt = Date.now()
      }
      throw failure
    } finally {
      clearTimeout(timer)
      signal?.removeEventListener('abort', onAbort)
    }
  }

  async #post(texts: readonly string[], signal: AbortSignal): Promise<ClassifierScores[]> {
    const payload: { input: readonly string[]; model?: string } = { input: texts }
    if (this.#opts.model !== undefined) payload.model = this.#opts.model
    const { statusCode, headers, body } = await this.#pool.request({ path: this.#path, method: 'POST', headers: this.#headers, body: JSON.stringify(payload), signal })
    if (statusCode < 200 || statusCode > 299) {
      await body.dump({ limit: ERROR_BODY_DRAIN_BYTES }).catch(() => {})
      throw new RemoteClassifierError('http_error', `remote classifier ${this.name}: HTTP ${statusCode}`)
    }
    const max = this.#maxResponseBytes
    const tooBig = () => new RemoteClassifierError('bad_response', `remote classifier ${this.name}: bad response: body exceeds ${max} bytes`)
    const declared = Number(headers['content-length'])
    if (declared > max) {
      body.destroy()
      throw tooBig()
    }
    const chunks: Buffer[] = []
    let size = 0
    for await (const chunk of body as AsyncIterable<Buffer>) {
      size += chunk.length
      if (size > max) throw tooBig() // leaving the loop destroys the body
      chunks.push(chunk)
    }
    try {
      return parseModerationsResponse(Buffer.concat(chunks, size), texts.length)
    } catch (err) {
      if (err instanceof BadModerationResponse) throw new RemoteClassifierError('bad_response', `remote classifier ${this.name}: bad response: ${err.message}`)
      throw err
    }
  }

  #stateChanged(s: CircuitState): void {
    const state = STATE_NAMES[s]
    if (s === CircuitState.Open) this.#openedAt = Date.now()
    const fields = { classifier: this.name, state, consecutiveFailures: this.#counter.state, lastError: this.#lastError }
    if (state === 'open') this.#opts.log?.warn(fields, 'remote classifier circuit open: calls are refused until a trial succeeds')
    else this.#opts.log?.info(fields, `remote classifier circuit ${state}`)
    try {
      this.#opts.onState?.(state)
    } catch (err) {
      // A throw here would leave cockatiel half-way through a transition.
      this.#opts.log?.warn({ classifier: this.name, err }, 'remote classifier onState hook threw')
    }
  }

  #report(outcome: RemoteCallOutcome, ms: number): void {
    try {
      this.#opts.onCall?.(outcome, ms)
    } catch (err) {
      this.#opts.log?.warn({ classifier: this.name, err }, 'remote classifier onCall hook threw')
    }
  }

  #rejectedOpen(): RemoteClassifierError {
    this.#report('rejected_open', 0)
    return new RemoteClassifierError('rejected_open', `remote classifier ${this.name}: circuit open, call refused`)
  }

  #abortedError(): RemoteClassifierError {
    return new RemoteClassifierError('aborted', `remote classifier ${this.name}: call aborted by the caller`)
  }
}

/** `p`, or a rejection as soon as `signal` aborts; `p`'s own later rejection is then ignored. */
function untilAborted<T>(p: Promise<T>, signal: AbortSignal, error: () => Error): Promise<T> {
  if (signal.aborted) {
    p.catch(() => {})
    return Promise.reject(error())
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      p.catch(() => {})
      reject(error())
    }
    signal.addEventListener('abort', onAbort, { once: true })
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort)
        resolve(v)
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort)
        reject(err)
      },
    )
  })
}

function networkMessage(err: unknown): string {
  if (!(err instanceof Error)) return 'network error'
  const code = (err as { code?: unknown }).code
  return typeof code === 'string' ? `${code}: ${err.message}` : err.message
}

function positiveInt(name: string, key: string, v: number): void {
  if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`remote classifier ${name}: ${key} must be a positive integer`)
}

function positive(name: string, key: string, v: number): void {
  if (!(v > 0) || !Number.isFinite(v)) throw new RangeError(`remote classifier ${name}: ${key} must be a positive number`)
}
