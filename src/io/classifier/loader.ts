/**
 * Builds the classifiers policies declare. Loaded models and remote endpoints are kept across
 * reloads, keyed by what makes them differ (the model's bytes and settings; the endpoint, key
 * and settings), so a reload that does not touch a classifier keeps its session and its breaker
 * state. Superseded ones are released once many others have been loaded since (see #sweep).
 */
import { createHash } from 'node:crypto'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import type { ClassifierLoader, LanguageDetectorHandle, LoadedClassifier, PolicyFilePort } from '../../core/ports.js'
import type { ClassifierDecl } from '../../core/filters/moderation/classifier-schema.js'
import { decodeOnnxModel } from '../../core/formats/onnx.js'
import { readModelContract } from '../../core/classifier/model-contract.js'
import { OnnxClassifier } from './onnx-classifier.js'
import { RemoteClassifier, type BreakerState, type RemoteCallOutcome } from './remote-classifier.js'
import { EldLanguageDetector } from './language-detector.js'

/** Shipped models, by the name `builtin:<name>` gives. */
export const BUILTIN_MODELS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../models')
const BUILTIN = /^builtin:([a-z0-9-]+)$/
/** An operator's model may be bigger than the shipped ones, within reason for a sidecar. */
const MAX_MODEL_BYTES = 256 * 1024 * 1024
/** Kept after they were last declared, so that requests of the previous snapshot finish. */
const RELEASE_AFTER_MS = 60_000

export interface ClassifierMetricsHooks {
  batch(classifier: string, size: number, ms: number, waiting: number): void
  remoteCall(classifier: string, outcome: RemoteCallOutcome, ms: number): void
  remoteState(classifier: string, state: BreakerState): void
}

export interface ClassifierLoaderOptions {
  readonly files: PolicyFilePort
  readonly env?: Readonly<Record<string, string | undefined>>
  readonly metrics?: ClassifierMetricsHooks
  readonly log?: { warn(obj: object, msg?: string): void; info(obj: object, msg?: string): void }
}

/** A remote endpoint needs nothing loaded: it is ready at once, and its breaker decides later. */
type LoadedRemote = RemoteClassifier & { ready(): Promise<void> }
type Built = OnnxClassifier | LoadedRemote
/** Classifiers kept at once; past it the least recently declared one is released. */
const MAX_KEPT = 32

export class PolicyClassifierLoader implements ClassifierLoader {
  readonly #o: ClassifierLoaderOptions
  readonly #built = new Map<string, { classifier: Built; lastUsed: number }>()
  #detector: EldLanguageDetector | undefined

  constructor(options: ClassifierLoaderOptions) {
    this.#o = options
  }

  load(name: string, decl: ClassifierDecl): LoadedClassifier {
    const { key, build } = decl.onnx ? this.#onnx(name, decl.onnx) : this.#remote(name, decl.remote!)
    let entry = this.#built.get(key)
    if (!entry) this.#built.set(key, (entry = { classifier: build(), lastUsed: Date.now() }))
    entry.lastUsed = Date.now()
    this.#sweep()
    return entry.classifier
  }

  languageDetector(): LanguageDetectorHandle {
    return (this.#detector ??= new EldLanguageDetector())
  }

  /** Windows waiting for a run, per local model. */
  queueDepths(): ReadonlyMap<string, number> {
    const out = new Map<string, number>()
    for (const { classifier: c } of this.#built.values()) if (c instanceof OnnxClassifier) out.set(c.name, (out.get(c.name) ?? 0) + c.queueDepth)
    return out
  }

  async close(): Promise<void> {
    const all = [...this.#built.values()]
    this.#built.clear()
    await Promise.all(all.map((e) => (e.classifier instanceof OnnxClassifier ? e.classifier.release() : e.classifier.close())))
  }

  #onnx(name: string, o: NonNullable<ClassifierDecl['onnx']>): { key: string; build: () => Built } {
    const builtin = BUILTIN.exec(o.model)
    const file = builtin ? path.join(BUILTIN_MODELS_DIR, `${builtin[1]}.onnx`) : o.model
    let bytes: Uint8Array
    try {
      bytes = this.#o.files.read(file, MAX_MODEL_BYTES)
    } catch (e) {
      throw new Error(builtin ? `no shipped model named ${JSON.stringify(builtin[1])} (${(e as Error).message})` : (e as Error).message)
    }
    let contract
    try {
      contract = readModelContract(decodeOnnxModel(bytes))
    } catch (e) {
      throw new Error(`model ${o.model} is not a usable ONNX model: ${(e as Error).message}`)
    }
    const digest = createHash('sha256').update(bytes).digest('hex')
    const key = `onnx\0${name}\0${digest}\0${o.maxBatch}\0${o.maxWaitMs}\0${o.maxQueue}\0${o.threads}`
    const metrics = this.#o.metrics
    return {
      key,
      build: () =>
        new OnnxClassifier({
          name,
          bytes,
          contract,
          maxBatch: o.maxBatch,
          maxWaitMs: o.maxWaitMs,
          maxQueue: o.maxQueue,
          threads: o.threads,
          ...(metrics ? { onBatch: (size: number, ms: number, waiting: number) => metrics.batch(name, size, ms, waiting) } : {}),
        }),
    }
  }

  #remote(name: string, r: NonNullable<ClassifierDecl['remote']>): { key: string; build: () => Built } {
    let apiKey: string | undefined
    if (r.apiKeyFile) apiKey = Buffer.from(this.#o.files.read(r.apiKeyFile)).toString('utf8').trim() || undefined
    else if (r.apiKeyEnv) apiKey = this.#o.env?.[r.apiKeyEnv]?.trim() || undefined
    if ((r.apiKeyFile || r.apiKeyEnv) && !apiKey) throw new Error(`the API key ${r.apiKeyFile ? `file ${r.apiKeyFile}` : `variable ${r.apiKeyEnv}`} is empty`)
    // The key is part of the identity (a rotated Secret builds a new client) but only as a digest.
    const keyDigest = apiKey ? createHash('sha256').update(apiKey).digest('hex') : ''
    const key = `remote\0${name}\0${JSON.stringify(r)}\0${keyDigest}`
    const metrics = this.#o.metrics
    return {
      key,
      build: () => {
        metrics?.remoteState(name, 'closed')
        return withReady(new RemoteClassifier({
          name,
          url: r.url,
          ...(r.model ? { model: r.model } : {}),
          ...(apiKey ? { apiKey } : {}),
          timeoutMs: r.timeoutMs,
          maxBatch: r.maxBatch,
          breaker: r.breaker,
          ...(metrics ? { onCall: (outcome: RemoteCallOutcome, ms: number) => metrics.remoteCall(name, outcome, ms), onState: (s: BreakerState) => metrics.remoteState(name, s) } : {}),
          ...(this.#o.log ? { log: this.#o.log } : {}),
        }))
      },
    }
  }

  /**
   * Past MAX_KEPT, the least recently declared classifiers go (models replaced over and over),
   * released only after RELEASE_AFTER_MS so that requests still using them finish.
   */
  #sweep(): void {
    if (this.#built.size <= MAX_KEPT) return
    const oldest = [...this.#built].sort((a, b) => a[1].lastUsed - b[1].lastUsed).slice(0, this.#built.size - MAX_KEPT)
    for (const [key, e] of oldest) {
      this.#built.delete(key)
      setTimeout(() => void (e.classifier instanceof OnnxClassifier ? e.classifier.release() : e.classifier.close()), RELEASE_AFTER_MS).unref()
    }
  }
}

function withReady(c: RemoteClassifier): LoadedRemote {
  return Object.assign(c, { ready: () => Promise.resolve() })
}
