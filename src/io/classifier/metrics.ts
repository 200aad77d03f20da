import client from 'prom-client'
import type { ClassifierMetricsHooks } from './loader.js'
import type { BreakerState, RemoteCallOutcome } from './remote-classifier.js'

const STATES: readonly BreakerState[] = ['closed', 'open', 'half_open']

/** Classifier runtime metrics: batches and queues of local models, calls and breaker of remote ones. */
export class ClassifierMetrics implements ClassifierMetricsHooks {
  readonly #batchSize: client.Histogram
  readonly #inference: client.Histogram
  readonly #calls: client.Counter
  readonly #callSeconds: client.Histogram
  readonly #breaker: client.Gauge
  readonly #queue: client.Gauge

  constructor(registry: client.Registry, queueDepths: () => ReadonlyMap<string, number>) {
    const registers = [registry]
    this.#batchSize = new client.Histogram({ name: 'chaperone_classifier_batch_size', help: 'Windows per model run (micro-batches gather windows of concurrent streams).', labelNames: ['classifier'], buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256], registers })
    this.#inference = new client.Histogram({
      name: 'chaperone_classifier_inference_seconds',
      help: 'Time of one model run (a batch), on onnxruntime threads.',
      labelNames: ['classifier'],
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1],
      registers,
    })
    this.#queue = new client.Gauge({
      name: 'chaperone_classifier_queue_depth',
      help: 'Windows waiting for a model run, by classifier.',
      labelNames: ['classifier'],
      registers,
      collect() {
        this.reset()
        for (const [name, n] of queueDepths()) this.labels(name).set(n)
      },
    })
    this.#calls = new client.Counter({ name: 'chaperone_classifier_remote_calls_total', help: 'Remote moderation calls by classifier and outcome (ok, timeout, http_error, bad_response, network, aborted: the caller gave up, not counted against the endpoint; rejected_open: refused at once by the open circuit breaker).', labelNames: ['classifier', 'outcome'], registers })
    this.#callSeconds = new client.Histogram({ name: 'chaperone_classifier_remote_call_seconds', help: 'Remote moderation call time by classifier.', labelNames: ['classifier'], buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5], registers })
    this.#breaker = new client.Gauge({ name: 'chaperone_classifier_breaker_state', help: 'Circuit breaker of a remote classifier: 1 for its current state (closed, open, half_open), 0 for the others. open means windows follow their rule’s onError without a call.', labelNames: ['classifier', 'state'], registers })
  }

  batch(classifier: string, size: number, ms: number): void {
    this.#batchSize.labels(classifier).observe(size)
    this.#inference.labels(classifier).observe(ms / 1000)
  }

  remoteCall(classifier: string, outcome: RemoteCallOutcome, ms: number): void {
    this.#calls.labels(classifier, outcome).inc()
    if (outcome !== 'rejected_open') this.#callSeconds.labels(classifier).observe(ms / 1000)
  }

  remoteState(classifier: string, state: BreakerState): void {
    for (const s of STATES) this.#breaker.labels(classifier, s).set(s === state ? 1 : 0)
  }
}
