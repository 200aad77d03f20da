import type { FeatureSpec } from '../core/classifier/features.js'
import { softmax } from './exp.js'

/**
 * A fastText-style bag model over the contract's sparse features, with the embedding width
 * equal to the number of labels so that no hidden layer is needed:
 *
 *   logits = Σ_j weights_j · embedding[ids_j] + bias,   scores = softmax(logits)
 *
 * i.e. multinomial logistic regression on hashed n-grams. Parameters are float32, as in the
 * ONNX file, so that this forward pass is what onnxruntime computes.
 */
export interface BagModel {
  readonly spec: FeatureSpec
  readonly labels: readonly string[]
  /** [buckets, labels.length], row-major. */
  readonly embedding: Float32Array
  readonly bias: Float32Array
}

/** Scores of one feature vector, in label order. */
export function forward(model: BagModel, ids: ArrayLike<number>, weights: ArrayLike<number>): Float64Array {
  const classes = model.labels.length
  const logits = new Float64Array(classes)
  for (let j = 0; j < ids.length; j++) {
    const w = weights[j]!
    const row = ids[j]! * classes
    for (let c = 0; c < classes; c++) logits[c] = logits[c]! + w * model.embedding[row + c]!
  }
  for (let c = 0; c < classes; c++) logits[c] = logits[c]! + model.bias[c]!
  const p = new Float64Array(classes)
  softmax(logits, p)
  return p
}
