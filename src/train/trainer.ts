import type { FeatureSpec } from '../core/classifier/features.js'
import { softmax } from './exp.js'
import type { FeatureMatrix } from './feature-matrix.js'
import { forward, type BagModel } from './model.js'
import { mulberry32, shuffle } from './prng.js'

export interface TrainSettings {
  readonly epochs: number
  /** Initial SGD step, decayed linearly to 0 over all steps (as fastText does). */
  readonly learningRate: number
  /** L2 penalty λ on the feature weights: the objective is mean loss + λ/2 · ‖W‖². */
  readonly l2: number
  /** Per-class loss weight: 'balanced' is n / (classes · count), 'sqrt' its square root. */
  readonly classWeight: 'none' | 'balanced' | 'sqrt'
  /**
   * Mix of the annotators' vote shares into the one-hot target (0 = majority label only,
   * 1 = votes only), for datasets that record votes.
   */
  readonly softTargets: number
  readonly seed: number
}

/** One training example's target: its label and, when known, the annotators' vote shares. */
export interface Targets {
  readonly labels: ArrayLike<number>
  readonly votes?: readonly (readonly number[] | undefined)[]
}

/**
 * Multinomial logistic regression on the hashed features by stochastic gradient descent, one
 * example at a time in an order shuffled per epoch by the seeded generator. The L2 shrinkage
 * every step applies to all weights is kept as one scale factor (W = scale · V), so a step
 * costs only the example's own features (Bottou's trick). Everything is sequential float64
 * arithmetic with the deterministic exp, so a seed and data give the same float32 weights on
 * any machine.
 */
export function trainBagModel(x: FeatureMatrix, t: Targets, labels: readonly string[], spec: FeatureSpec, s: TrainSettings): BagModel {
  const classes = labels.length
  const random = mulberry32(s.seed)
  const v = new Float64Array(spec.buckets * classes)
  const bias = new Float64Array(classes)
  let scale = 1

  const counts = new Float64Array(classes)
  for (let i = 0; i < x.rows; i++) counts[t.labels[i]!]!++
  const cw = new Float64Array(classes)
  for (let c = 0; c < classes; c++) {
    const balanced = counts[c]! > 0 ? x.rows / (classes * counts[c]!) : 0
    cw[c] = s.classWeight === 'none' ? 1 : s.classWeight === 'balanced' ? balanced : Math.sqrt(balanced)
  }

  const order = new Int32Array(x.rows)
  for (let i = 0; i < x.rows; i++) order[i] = i
  const logits = new Float64Array(classes)
  const p = new Float64Array(classes)
  const g = new Float64Array(classes)
  const total = s.epochs * x.rows
  let step = 0
  for (let epoch = 0; epoch < s.epochs; epoch++) {
    shuffle(order, random)
    for (let k = 0; k < x.rows; k++) {
      const i = order[k]!
      const lr = s.learningRate * (1 - step / total)
      step++
      const from = x.offsets[i]!
      const to = x.offsets[i + 1]!
      for (let c = 0; c < classes; c++) logits[c] = 0
      for (let j = from; j < to; j++) {
        const w = x.weights[j]!
        const row = x.ids[j]! * classes
        for (let c = 0; c < classes; c++) logits[c] = logits[c]! + w * v[row + c]!
      }
      for (let c = 0; c < classes; c++) logits[c] = logits[c]! * scale + bias[c]!
      softmax(logits, p)
      const label = t.labels[i]!
      const votes = t.votes?.[i]
      const weight = cw[label]!
      for (let c = 0; c < classes; c++) {
        const onehot = c === label ? 1 : 0
        const target = votes !== undefined ? (1 - s.softTargets) * onehot + s.softTargets * votes[c]! : onehot
        g[c] = weight * (p[c]! - target)
      }
      for (let c = 0; c < classes; c++) bias[c] = bias[c]! - lr * g[c]!
      scale *= 1 - lr * s.l2
      const by = lr / scale
      for (let j = from; j < to; j++) {
        const w = x.weights[j]! * by
        const row = x.ids[j]! * classes
        for (let c = 0; c < classes; c++) v[row + c] = v[row + c]! - w * g[c]!
      }
      // Fold the scale back in before it underflows the precision of V.
      if (scale < 1e-9) {
        for (let q = 0; q < v.length; q++) v[q] = v[q]! * scale
        scale = 1
      }
    }
  }
  const embedding = new Float32Array(v.length)
  for (let q = 0; q < v.length; q++) embedding[q] = v[q]! * scale
  return { spec, labels, embedding, bias: Float32Array.from(bias) }
}

/** Scores of every row, row-major [rows, classes]. */
export function predictMatrix(model: BagModel, x: FeatureMatrix): Float64Array {
  const classes = model.labels.length
  const scores = new Float64Array(x.rows * classes)
  for (let i = 0; i < x.rows; i++) {
    const from = x.offsets[i]!
    const to = x.offsets[i + 1]!
    scores.set(forward(model, x.ids.subarray(from, to), x.weights.subarray(from, to)), i * classes)
  }
  return scores
}
