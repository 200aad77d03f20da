import type { FeatureSpec } from '../core/classifier/features.js'
import { foldText } from '../core/moderation/normalize/index.js'
import { bagModelToOnnx } from './export-onnx.js'
import { featureMatrix, type FeatureMatrix } from './feature-matrix.js'
import type { BagModel } from './model.js'
import { trainBagModel, type Targets, type TrainSettings } from './trainer.js'

/** Bumped when a change to the trainer should show in the model files' producer_version. */
export const TRAINER_VERSION = '1'

export interface ModelMeta {
  readonly languages: readonly string[]
  readonly description: string
}

/** Texts as serving sees them: the moderation normalizer's folded view. */
export function foldAll(texts: readonly string[]): string[] {
  return texts.map(foldText)
}

export function featuresOf(texts: readonly string[], spec: FeatureSpec): FeatureMatrix {
  return featureMatrix(foldAll(texts), spec)
}

/** Trains on `x` and encodes the result; the same inputs give the same bytes. */
export function trainModel(x: FeatureMatrix, targets: Targets, labels: readonly string[], spec: FeatureSpec, settings: TrainSettings, meta: ModelMeta): { model: BagModel; bytes: Uint8Array } {
  const model = trainBagModel(x, targets, labels, spec, settings)
  return { model, bytes: bagModelToOnnx(model, { ...meta, version: TRAINER_VERSION }) }
}
