/**
 * The classifier port over a model run by onnxruntime-node. Windows are featurized on the event
 * loop (tens of microseconds) and scored on onnxruntime's own threads: `session.run` returns a
 * promise and the graph runs in native code off the loop. Windows of concurrent streams are
 * micro-batched (up to maxBatch, or maxWaitMs after the first), and one batch runs at a time.
 */
import ort from 'onnxruntime-node'
import type { ClassifierScores, LoadedClassifier } from '../../core/ports.js'
import { featurize, type Features } from '../../core/classifier/features.js'
import type { ModelContract } from '../../core/classifier/model-contract.js'
import { MicroBatcher } from '../../core/classifier/micro-batcher.js'
import { classifierTraces, traceClassifierCall } from '../../core/telemetry/channels.js'

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1

export interface OnnxClassifierOptions {
  readonly name: string
  readonly bytes: Uint8Array
  readonly contract: ModelContract
  readonly maxBatch: number
  readonly maxWaitMs: number
  readonly maxQueue: number
  readonly threads: number
  /** After each run: windows in it, run time (ms), windows still waiting. */
  readonly onBatch?: (size: number, ms: number, waiting: number) => void
}

export class OnnxClassifier implements LoadedClassifier {
  readonly name: string
  readonly languages: readonly string[]
  readonly #contract: ModelContract
  readonly #session: Promise<ort.InferenceSession>
  readonly #batcher: MicroBatcher<Features, ClassifierScores>
  #released = false

  constructor(o: OnnxClassifierOptions) {
    this.name = o.name
    this.#contract = o.contract
    this.languages = o.contract.languages
    this.#session = ort.InferenceSession.create(o.bytes, {
      intraOpNumThreads: o.threads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
    })
    // ready() reports a refused model; an unobserved rejection must not crash the process first.
    this.#session.catch(() => {})
    this.#batcher = new MicroBatcher<Features, ClassifierScores>({
      maxBatch: o.maxBatch,
      maxWaitMs: o.maxWaitMs,
      maxQueue: o.maxQueue,
      run: (batch) => this.#run(batch),
      ...(o.onBatch ? { onBatch: o.onBatch } : {}),
    })
  }

  /** Windows waiting for a run. */
  get queueDepth(): number {
    return this.#batcher.waiting
  }

  async ready(): Promise<void> {
    let session: ort.InferenceSession
    try {
      session = await this.#session
    } catch (e) {
      throw new Error(`onnxruntime cannot load the model: ${(e as Error).message}`)
    }
    const { inputs, output } = this.#contract
    for (const name of [inputs.ids, inputs.weights]) if (!session.inputNames.includes(name)) throw new Error(`the model has no input ${JSON.stringify(name)}`)
    if (!session.outputNames.includes(output)) throw new Error(`the model has no output ${JSON.stringify(output)}`)
    // One run proves the graph executes with this contract's shapes before the policy goes live.
    await this.#runOn(session, [featurize('ready', this.#contract.features)])
  }

  classify(texts: readonly string[], signal: AbortSignal): Promise<readonly ClassifierScores[]> {
    if (this.#released) return Promise.reject(new Error(`classifier ${this.name} was unloaded`))
    const spec = this.#contract.features
    return Promise.all(texts.map((t) => this.#batcher.submit(featurize(t, spec), signal)))
  }

  /** Frees the native session; later calls fail (the rule's onError applies). */
  async release(): Promise<void> {
    this.#released = true
    try {
      await (await this.#session).release()
    } catch {
      // A session that never loaded has nothing to free.
    }
  }

  async #run(batch: readonly Features[]): Promise<readonly ClassifierScores[]> {
    const session = await this.#session
    return classifierTraces.hasSubscribers ? traceClassifierCall({ classifier: this.name, mode: 'local', batchSize: batch.length }, () => this.#runOn(session, batch)) : this.#runOn(session, batch)
  }

  async #runOn(session: ort.InferenceSession, batch: readonly Features[]): Promise<readonly ClassifierScores[]> {
    const n = batch.length
    // At least one column: a window with no features still gets the model's prior.
    let width = 1
    for (const f of batch) if (f.ids.length > width) width = f.ids.length
    const ids = new BigInt64Array(n * width)
    const weights = new Float32Array(n * width)
    // Ids are below 2^31: on a little-endian host each int64 is its low 32-bit word and a zero,
    // written through an Int32Array view (a BigInt per id cost more than the model run).
    const words = LITTLE_ENDIAN ? new Int32Array(ids.buffer) : undefined
    batch.forEach((f, row) => {
      const at = row * width
      if (words) for (let i = 0; i < f.ids.length; i++) words[2 * (at + i)] = f.ids[i]!
      else for (let i = 0; i < f.ids.length; i++) ids[at + i] = BigInt(f.ids[i]!)
      weights.set(f.weights, at)
    })
    const { inputs, output, labels } = this.#contract
    const result = await session.run({
      [inputs.ids]: new ort.Tensor('int64', ids, [n, width]),
      [inputs.weights]: new ort.Tensor('float32', weights, [n, width]),
    })
    const scores = result[output]
    if (!scores || scores.type !== 'float32' || scores.dims.length !== 2 || scores.dims[0] !== n || scores.dims[1] !== labels.length) {
      throw new Error(`model output ${output} has shape [${scores?.dims.join(', ') ?? ''}], expected [${n}, ${labels.length}]`)
    }
    const data = scores.data as Float32Array
    const out: ClassifierScores[] = new Array(n)
    for (let row = 0; row < n; row++) {
      const rec: Record<string, number> = {}
      for (let j = 0; j < labels.length; j++) rec[labels[j]!] = data[row * labels.length + j]!
      out[row] = rec
    }
    return out
  }
}
