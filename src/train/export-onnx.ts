import { FEATURE_CONTRACT } from '../core/classifier/features.js'
import { INPUT_IDS, INPUT_WEIGHTS, METADATA_CONTRACT, METADATA_DESCRIPTION, METADATA_FEATURES, METADATA_LABELS, METADATA_LANGUAGES, OUTPUT_SCORES } from '../core/classifier/model-contract.js'
import { encodeOnnxModel, ONNX_FLOAT, ONNX_INT64 } from '../core/formats/onnx.js'
import type { BagModel } from './model.js'

export const PRODUCER = 'chaperone-train'
/** Opset 13 is the first where ReduceSum and Unsqueeze take their axes as inputs; IR 7 goes with it. */
export const OPSET = 13
export const IR_VERSION = 7

/**
 * The bag model as an ONNX graph of default-domain operators:
 *
 *   rows   = Gather(embedding, ids)               [batch, n, labels]
 *   w      = Unsqueeze(weights, axes=[2])         [batch, n, 1]
 *   logits = ReduceSum(rows · w, axes=[1]) + bias [batch, labels]
 *   scores = Softmax(logits, axis=-1)
 *
 * Padding (id 0, weight 0) contributes nothing, so rows of any length batch together.
 */
export function bagModelToOnnx(model: BagModel, meta: { readonly languages: readonly string[]; readonly description: string; readonly version: string }): Uint8Array {
  const classes = model.labels.length
  const batchN = ['batch', 'n']
  return encodeOnnxModel({
    irVersion: IR_VERSION,
    producer: { name: PRODUCER, version: meta.version },
    opsets: [{ domain: '', version: OPSET }],
    graph: {
      name: 'hashed_ngram_bag',
      nodes: [
        { opType: 'Gather', name: 'lookup', inputs: ['embedding', INPUT_IDS], outputs: ['rows'], attributes: [{ name: 'axis', type: 'int', value: 0 }] },
        { opType: 'Unsqueeze', name: 'weights_3d', inputs: [INPUT_WEIGHTS, 'axis2'], outputs: ['w'] },
        { opType: 'Mul', name: 'weigh', inputs: ['rows', 'w'], outputs: ['weighted'] },
        { opType: 'ReduceSum', name: 'bag', inputs: ['weighted', 'axis1'], outputs: ['summed'], attributes: [{ name: 'keepdims', type: 'int', value: 0 }] },
        { opType: 'Add', name: 'add_bias', inputs: ['summed', 'bias'], outputs: ['logits'] },
        { opType: 'Softmax', name: 'softmax', inputs: ['logits'], outputs: [OUTPUT_SCORES], attributes: [{ name: 'axis', type: 'int', value: -1 }] },
      ],
      initializers: [
        { name: 'embedding', dataType: ONNX_FLOAT, dims: [model.spec.buckets, classes], data: model.embedding },
        { name: 'bias', dataType: ONNX_FLOAT, dims: [classes], data: model.bias },
        { name: 'axis1', dataType: ONNX_INT64, dims: [1], data: BigInt64Array.of(1n) },
        { name: 'axis2', dataType: ONNX_INT64, dims: [1], data: BigInt64Array.of(2n) },
      ],
      inputs: [
        { name: INPUT_IDS, elemType: ONNX_INT64, dims: batchN },
        { name: INPUT_WEIGHTS, elemType: ONNX_FLOAT, dims: batchN },
      ],
      outputs: [{ name: OUTPUT_SCORES, elemType: ONNX_FLOAT, dims: ['batch', classes] }],
    },
    metadata: {
      [METADATA_CONTRACT]: FEATURE_CONTRACT,
      [METADATA_LABELS]: JSON.stringify(model.labels),
      [METADATA_LANGUAGES]: JSON.stringify(meta.languages),
      [METADATA_FEATURES]: JSON.stringify({
        buckets: model.spec.buckets,
        wordNgrams: model.spec.wordNgrams,
        charNgramMin: model.spec.charNgramMin,
        charNgramMax: model.spec.charNgramMax,
        maxFeatures: model.spec.maxFeatures,
      }),
      [METADATA_DESCRIPTION]: meta.description,
    },
  })
}
