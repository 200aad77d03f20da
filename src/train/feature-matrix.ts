import { featurize, type FeatureSpec, type Features } from '../core/classifier/features.js'

/** Many examples' features in compressed-row form: row r is [offsets[r], offsets[r + 1]). */
export interface FeatureMatrix {
  readonly rows: number
  readonly offsets: Int32Array
  readonly ids: Int32Array
  readonly weights: Float32Array
}

/** Featurizes already-folded texts with `spec`. */
export function featureMatrix(folded: readonly string[], spec: FeatureSpec): FeatureMatrix {
  const rows: Features[] = folded.map((t) => featurize(t, spec))
  const offsets = new Int32Array(rows.length + 1)
  for (let r = 0; r < rows.length; r++) offsets[r + 1] = offsets[r]! + rows[r]!.ids.length
  const ids = new Int32Array(offsets[rows.length]!)
  const weights = new Float32Array(ids.length)
  for (let r = 0; r < rows.length; r++) {
    ids.set(rows[r]!.ids, offsets[r]!)
    weights.set(rows[r]!.weights, offsets[r]!)
  }
  return { rows: rows.length, offsets, ids, weights }
}

/** The rows at `indices`, in that order. */
export function selectRows(m: FeatureMatrix, indices: readonly number[]): FeatureMatrix {
  const offsets = new Int32Array(indices.length + 1)
  for (let k = 0; k < indices.length; k++) offsets[k + 1] = offsets[k]! + (m.offsets[indices[k]! + 1]! - m.offsets[indices[k]!]!)
  const ids = new Int32Array(offsets[indices.length]!)
  const weights = new Float32Array(ids.length)
  for (let k = 0; k < indices.length; k++) {
    const from = m.offsets[indices[k]!]!
    const to = m.offsets[indices[k]! + 1]!
    ids.set(m.ids.subarray(from, to), offsets[k]!)
    weights.set(m.weights.subarray(from, to), offsets[k]!)
  }
  return { rows: indices.length, offsets, ids, weights }
}
