import { ONNX_FLOAT, ONNX_INT64, type OnnxModelInfo, type OnnxValueInfo } from '../formats/onnx.js'
import { FEATURE_CONTRACT, featureSpecProblem, type FeatureSpec } from './features.js'

/**
 * What a classifier model file must declare so that Chaperone can feed it: the feature contract
 * and its settings, the labels its scores are for, and the languages it was trained on, in the
 * model's metadata_props; and the graph interface
 *
 *   ids      int64   [batch, n]   feature ids from featurize(), rows padded with id 0
 *   weights  float32 [batch, n]   their weights, padded with 0
 *   scores   float32 [batch, labels.length]   probabilities in [0, 1], label order
 *
 * batch and n must be symbolic (a dim_param, or no value); the scores' label dimension may be
 * symbolic or fixed to labels.length. Operators can mount their own model if it satisfies
 * this, whatever its graph does inside.
 */

export const METADATA_CONTRACT = 'chaperone.contract'
export const METADATA_LABELS = 'chaperone.labels'
export const METADATA_LANGUAGES = 'chaperone.languages'
export const METADATA_FEATURES = 'chaperone.features'
export const METADATA_DESCRIPTION = 'chaperone.description'

export const INPUT_IDS = 'ids'
export const INPUT_WEIGHTS = 'weights'
export const OUTPUT_SCORES = 'scores'

export interface ModelContract {
  readonly labels: readonly string[]
  readonly languages: readonly string[]
  readonly features: FeatureSpec
  readonly inputs: { readonly ids: string; readonly weights: string }
  readonly output: string
  readonly description: string
}

export class ModelContractError extends Error {
  override readonly name = 'ModelContractError'
}

const LABEL = /^[A-Za-z0-9_.-]{1,64}$/
const ISO_639_1 = /^[a-z]{2}$/
const FEATURE_KEYS = ['buckets', 'wordNgrams', 'charNgramMin', 'charNgramMax', 'maxFeatures'] as const

/** The contract `info` declares; throws ModelContractError naming the first thing wrong. */
export function readModelContract(info: OnnxModelInfo): ModelContract {
  const meta = info.metadata
  const fail = (msg: string): never => {
    throw new ModelContractError(msg)
  }
  const contract = meta[METADATA_CONTRACT]
  if (contract === undefined) fail(`metadata ${METADATA_CONTRACT} is missing (expected "${FEATURE_CONTRACT}")`)
  if (contract !== FEATURE_CONTRACT) fail(`metadata ${METADATA_CONTRACT} is "${contract}", this Chaperone supports "${FEATURE_CONTRACT}"`)

  const labels = stringArray(meta, METADATA_LABELS, fail)
  if (labels.length === 0) fail(`metadata ${METADATA_LABELS} must name at least one label`)
  for (const l of labels) if (!LABEL.test(l)) fail(`metadata ${METADATA_LABELS}: label ${JSON.stringify(l)} must be 1-64 characters of A-Z a-z 0-9 _ . -`)
  if (new Set(labels).size !== labels.length) fail(`metadata ${METADATA_LABELS} must not repeat a label`)

  const languages = stringArray(meta, METADATA_LANGUAGES, fail)
  if (languages.length === 0) fail(`metadata ${METADATA_LANGUAGES} must name at least one language`)
  for (const l of languages) if (!ISO_639_1.test(l)) fail(`metadata ${METADATA_LANGUAGES}: ${JSON.stringify(l)} is not an ISO 639-1 code (two lowercase letters)`)

  const features = featureSpec(meta, fail)

  const ids = info.inputs.find((v) => v.name === INPUT_IDS)
  const weights = info.inputs.find((v) => v.name === INPUT_WEIGHTS)
  if (ids === undefined) fail(`model has no input named "${INPUT_IDS}" (inputs: ${names(info.inputs)})`)
  if (weights === undefined) fail(`model has no input named "${INPUT_WEIGHTS}" (inputs: ${names(info.inputs)})`)
  if (info.inputs.length !== 2) fail(`model must have exactly the inputs "${INPUT_IDS}" and "${INPUT_WEIGHTS}" (inputs: ${names(info.inputs)})`)
  checkTensor(ids!, ONNX_INT64, 'int64', 2, undefined, 'input', fail)
  checkTensor(weights!, ONNX_FLOAT, 'float32', 2, undefined, 'input', fail)

  if (info.outputs.length !== 1) fail(`model must have exactly one output "${OUTPUT_SCORES}" (outputs: ${names(info.outputs)})`)
  const out = info.outputs[0]!
  if (out.name !== OUTPUT_SCORES) fail(`model output is named "${out.name}", expected "${OUTPUT_SCORES}"`)
  checkTensor(out, ONNX_FLOAT, 'float32', 2, labels.length, 'output', fail)

  return {
    labels,
    languages,
    features,
    inputs: { ids: INPUT_IDS, weights: INPUT_WEIGHTS },
    output: OUTPUT_SCORES,
    description: meta[METADATA_DESCRIPTION] ?? '',
  }
}

function names(values: readonly OnnxValueInfo[]): string {
  return values.length === 0 ? 'none' : values.map((v) => JSON.stringify(v.name)).join(', ')
}

function parseJson(meta: Readonly<Record<string, string>>, key: string, fail: (m: string) => never): unknown {
  const raw = meta[key]
  if (raw === undefined) fail(`metadata ${key} is missing`)
  try {
    return JSON.parse(raw!) as unknown
  } catch {
    return fail(`metadata ${key} is not valid JSON`)
  }
}

function stringArray(meta: Readonly<Record<string, string>>, key: string, fail: (m: string) => never): string[] {
  const v = parseJson(meta, key, fail)
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) fail(`metadata ${key} must be a JSON array of strings`)
  return v as string[]
}

function featureSpec(meta: Readonly<Record<string, string>>, fail: (m: string) => never): FeatureSpec {
  const v = parseJson(meta, METADATA_FEATURES, fail)
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return fail(`metadata ${METADATA_FEATURES} must be a JSON object with ${FEATURE_KEYS.join(', ')}`)
  const o = v as Record<string, unknown>
  for (const k of FEATURE_KEYS) if (typeof o[k] !== 'number') fail(`metadata ${METADATA_FEATURES}.${k} must be a number`)
  for (const k of Object.keys(o)) if (!(FEATURE_KEYS as readonly string[]).includes(k)) fail(`metadata ${METADATA_FEATURES} has unknown setting "${k}"`)
  const spec: FeatureSpec = {
    buckets: o.buckets as number,
    wordNgrams: o.wordNgrams as number,
    charNgramMin: o.charNgramMin as number,
    charNgramMax: o.charNgramMax as number,
    maxFeatures: o.maxFeatures as number,
  }
  const problem = featureSpecProblem(spec)
  if (problem !== undefined) fail(`metadata ${METADATA_FEATURES}: ${problem}`)
  return spec
}

function checkTensor(v: OnnxValueInfo, elemType: number, typeName: string, rank: number, lastDim: number | undefined, role: string, fail: (m: string) => never): void {
  const what = `${role} "${v.name}"`
  if (v.elemType !== elemType) fail(`${what} must be a ${typeName} tensor (element type ${v.elemType}, expected ${elemType})`)
  if (v.dims.length !== rank) fail(`${what} must have rank ${rank} [batch, ${role === 'input' ? 'n' : 'labels'}], has [${v.dims.join(', ')}]`)
  const batch = v.dims[0]!
  if (typeof batch === 'number') fail(`${what} must have a symbolic batch dimension, has ${batch}`)
  if (role === 'input') {
    const n = v.dims[1]!
    if (typeof n === 'number') fail(`${what} must have a symbolic feature-count dimension, has ${n}`)
  }
  if (lastDim !== undefined) {
    const d = v.dims[rank - 1]!
    if (typeof d === 'number' && d !== lastDim) fail(`${what} has ${d} columns, metadata ${METADATA_LABELS} names ${lastDim} labels`)
  }
}
